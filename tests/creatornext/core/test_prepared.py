"""core.prepared: an ORM query compiled once, run with new values — same rows as the ORM."""

import pytest
from django.db.models import Exists, OuterRef

from creatornext.accounts.models import Block, CreatorProfile
from creatornext.accounts.selectors import creators_with_handle_key, handle_key
from creatornext.core.prepared import PreparedQuery
from tests.eligibility.helpers import make_creator
from tests.support.world import make_user


def _creator_facts(a):
    return creators_with_handle_key(a["handle"]).annotate(
        blocked=Exists(Block.objects.filter(creator=OuterRef("pk"), fan_id=a["fan"]))
    ).values("id", "handle", "blocked")


FACTS = PreparedQuery(_creator_facts, handle=str, fan=int)


@pytest.mark.django_db
def test_it_returns_what_the_orm_returns_for_every_set_of_values():
    maya, rosa = make_creator("Maya.Makes"), make_creator("rosa")
    fan, other = make_user("fan"), make_user("other")
    Block.objects.create(creator=maya, fan=fan)
    for handle in ("maya.makes", "MAYA.MAKES", "rosa", "nobody"):
        for user in (fan, other):
            orm = _creator_facts({"handle": handle_key(handle), "fan": user.pk}).first()
            assert FACTS.first(handle=handle_key(handle), fan=user.pk) == orm
    assert FACTS.first(handle="maya.makes", fan=fan.pk) == {"id": maya.pk, "handle": "Maya.Makes",
                                                            "blocked": True}
    assert FACTS.first(handle="rosa", fan=fan.pk)["blocked"] is False
    assert FACTS.first(handle="nobody", fan=fan.pk) is None
    assert rosa.pk != maya.pk


@pytest.mark.django_db
def test_a_builder_that_transforms_an_argument_fails_loudly_instead_of_running_a_wrong_query():
    lowered = PreparedQuery(lambda a: CreatorProfile.objects.filter(handle=a["handle"].lower())
                            .values("id"), handle=str)
    with pytest.raises(ValueError, match="handle"):
        lowered.first(handle="maya")
    contains = PreparedQuery(lambda a: CreatorProfile.objects.filter(handle__contains=a["handle"])
                             .values("id"), handle=str)
    with pytest.raises(ValueError, match="handle"):
        contains.first(handle="maya")


@pytest.mark.django_db
def test_arguments_are_checked():
    with pytest.raises(TypeError):
        FACTS.first(handle="maya")  # fan missing
    with pytest.raises(TypeError):
        FACTS.first(handle="maya", fan="1")
    with pytest.raises(TypeError):
        PreparedQuery(lambda a: CreatorProfile.objects.values("id"), when=float)
    with pytest.raises(TypeError, match="values"):
        PreparedQuery(lambda a: CreatorProfile.objects.filter(pk=a["pk"]), pk=int).first(pk=1)


@pytest.mark.django_db
def test_a_value_with_a_nul_character_matches_nothing_instead_of_failing():
    make_creator("maya")
    assert FACTS.first(handle="ma\x00ya", fan=1) is None
