"""GET /api/v1/eligibility/ at every boundary of every default rule (PRODUCT.md §1).

Each test gives a creator who meets everything but the rule under test, sits them exactly on each
side of the boundary, and reads the requirement the API reports: ``{key, met, current, required}``.
"""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from tests.eligibility.helpers import (
    eligibility,
    enroll,
    make_creator,
    requirement,
    years_ago,
)
from tests.support.world import api_client, make_user

pytestmark = pytest.mark.django_db


def _req(met, current, required, comparison="at_least"):
    return {"met": met, "current": current, "required": required, "comparison": comparison}


def _strip(r: dict) -> dict:
    return {k: v for k, v in r.items() if k != "key"}


def test_the_response_lists_every_program_with_its_requirements():
    creator = make_creator("maya")
    items = api_client(creator.user).get("/api/v1/eligibility/").json()
    assert [i["program"] for i in items] == ["creator-next", "tips", "video-gifts", "live-gifts",
                                             "marketplace"]
    by_program = {i["program"]: [r["key"] for r in i["requirements"]] for i in items}
    assert by_program == {
        "creator-next": ["age", "followers", "views_30d", "posts_30d", "account_age_days", "standing",
                         "account_type"],
        "tips": ["membership", "followers"],
        "video-gifts": ["membership", "followers", "recent_public_post"],
        "live-gifts": ["age", "standing", "account_type"],
        "marketplace": ["age", "followers", "views_30d", "posts_30d", "fraud_flag"],
    }
    first = items[0]
    assert first["eligible"] is True
    assert first["status"] == "eligible"
    assert first["terms_version"] == "v1"
    assert first["accepted_terms_version"] is None
    assert first["staff_granted"] is False
    assert first["opt_in_available_at"] is None
    # Membership programs wait for the creator-next opt-in
    assert items[1]["eligible"] is False
    assert items[1]["status"] == "not_eligible"


@pytest.mark.parametrize(("program", "value", "required", "met"), [
    ("creator-next", 999, 1_000, False), ("creator-next", 1_000, 1_000, True),
    ("video-gifts", 9_999, 10_000, False), ("video-gifts", 10_000, 10_000, True),
    ("marketplace", 9_999, 10_000, False), ("marketplace", 10_000, 10_000, True),
    ("tips", 99_999, 100_000, False), ("tips", 100_000, 100_000, True),
])
def test_followers_boundary(program, value, required, met):
    creator = make_creator("maya", followers=value)
    assert _strip(requirement(creator, program, "followers")) == _req(met, value, required)


def test_marketplace_followers_boundary_is_50000_in_korea():
    creator = make_creator("minji", country="KR", dob=years_ago(25), followers=49_999)
    assert _strip(requirement(creator, "marketplace", "followers")) == _req(False, 49_999, 50_000)
    assert eligibility(creator)["marketplace"]["eligible"] is False
    creator.followers = 50_000
    creator.save()
    assert _strip(requirement(creator, "marketplace", "followers")) == _req(True, 50_000, 50_000)
    assert eligibility(creator)["marketplace"]["eligible"] is True
    # Video gifts keep the default 10,000 in Korea
    assert requirement(creator, "video-gifts", "followers")["required"] == 10_000


@pytest.mark.parametrize("program", ["creator-next", "live-gifts", "marketplace"])
def test_age_17_the_day_before_the_18th_birthday_and_18_on_it(program):
    seventeen = make_creator("teen", dob=years_ago(18, plus_days=1))
    assert _strip(requirement(seventeen, program, "age")) == _req(False, 17, 18)
    assert eligibility(seventeen)[program]["eligible"] is False
    eighteen = make_creator("adult", dob=years_ago(18))
    assert _strip(requirement(eighteen, program, "age")) == _req(True, 18, 18)
    assert eligibility(eighteen)[program]["eligible"] is True


@pytest.mark.parametrize(("country", "program", "required"), [
    ("KR", "creator-next", 19), ("KR", "live-gifts", 19), ("KR", "marketplace", 19),
    ("JP", "creator-next", 20),
])
def test_country_age_overrides(country, program, required):
    below = make_creator("below", country=country, dob=years_ago(required, plus_days=1))
    assert _strip(requirement(below, program, "age")) == _req(False, required - 1, required)
    on_birthday = make_creator("onday", country=country, dob=years_ago(required))
    assert _strip(requirement(on_birthday, program, "age")) == _req(True, required, required)


@pytest.mark.parametrize(("program", "required"), [("live-gifts", 18), ("marketplace", 18)])
def test_japan_keeps_the_default_age_outside_creator_next(program, required):
    creator = make_creator("haru", country="JP", dob=years_ago(18))
    assert _strip(requirement(creator, program, "age")) == _req(True, 18, required)
    assert _strip(requirement(creator, "creator-next", "age")) == _req(False, 18, 20)


@pytest.mark.parametrize(("days", "met"), [(29, False), (30, True)])
def test_account_age_29_vs_30_days(days, met):
    created = timezone.now() - datetime.timedelta(days=days)
    creator = make_creator("maya", account_created_at=created)
    assert _strip(requirement(creator, "creator-next", "account_age_days")) == _req(met, days, 30)
    assert eligibility(creator)["creator-next"]["eligible"] is met


def test_unknown_account_creation_date_is_not_met():
    creator = make_creator("maya", account_created_at=None)
    assert _strip(requirement(creator, "creator-next", "account_age_days")) == _req(False, None, 30)


@pytest.mark.parametrize(("program", "posts", "met"), [
    ("creator-next", 2, False), ("creator-next", 3, True),
    ("marketplace", 2, False), ("marketplace", 3, True),
])
def test_posts_2_vs_3(program, posts, met):
    creator = make_creator("maya", posts_30d=posts)
    assert _strip(requirement(creator, program, "posts_30d")) == _req(met, posts, 3)


@pytest.mark.parametrize(("program", "views", "met"), [
    ("creator-next", 999, False), ("creator-next", 1_000, True),
    ("marketplace", 999, False), ("marketplace", 1_000, True),
])
def test_views_999_vs_1000(program, views, met):
    creator = make_creator("maya", views_30d=views)
    assert _strip(requirement(creator, program, "views_30d")) == _req(met, views, 1_000)


@pytest.mark.parametrize(("account_type", "creator_next", "live_gifts"), [
    ("personal", True, True),
    ("business", False, True),
    ("government", False, False),
])
def test_business_and_government_accounts(account_type, creator_next, live_gifts):
    creator = make_creator("maya", account_type=account_type)
    assert _strip(requirement(creator, "creator-next", "account_type")) == _req(
        creator_next, account_type, ["personal"], "one_of")
    assert _strip(requirement(creator, "live-gifts", "account_type")) == _req(
        live_gifts, account_type, ["personal", "business"], "one_of")
    items = eligibility(creator)
    assert items["creator-next"]["eligible"] is creator_next
    assert items["live-gifts"]["eligible"] is live_gifts


@pytest.mark.parametrize("standing", ["warned", "suspended", "banned"])
def test_anything_but_good_standing_fails_creator_next_and_live_gifts(standing):
    creator = make_creator("maya", standing=standing)
    for program in ("creator-next", "live-gifts"):
        assert _strip(requirement(creator, program, "standing")) == _req(False, standing, ["good"], "one_of")
    good = make_creator("good", standing="good")
    assert requirement(good, "live-gifts", "standing")["met"] is True


def test_fraud_flag_fails_the_marketplace_only():
    flagged = make_creator("maya", fraud_flag=True)
    assert _strip(requirement(flagged, "marketplace", "fraud_flag")) == _req(False, True, False, "equals")
    items = eligibility(flagged)
    assert items["marketplace"]["eligible"] is False
    assert items["creator-next"]["eligible"] is True  # not a creator-next rule by default
    clean = make_creator("clean", fraud_flag=False)
    assert _strip(requirement(clean, "marketplace", "fraud_flag")) == _req(True, False, False, "equals")


@pytest.mark.parametrize(("days_ago", "met"), [(30, True), (31, False), (None, False)])
def test_recent_public_post_within_30_days(days_ago, met):
    last = None if days_ago is None else timezone.now() - datetime.timedelta(days=days_ago)
    creator = make_creator("maya", last_public_post_at=last)
    enroll(creator, "creator-next")
    assert _strip(requirement(creator, "video-gifts", "recent_public_post")) == _req(
        met, days_ago, 30, "at_most")


def test_membership_means_enrolled_in_creator_next():
    creator = make_creator("maya")
    assert _strip(requirement(creator, "tips", "membership")) == _req(False, False, True, "equals")
    enroll(creator, "creator-next")
    assert _strip(requirement(creator, "tips", "membership")) == _req(True, True, True, "equals")
    items = eligibility(creator)
    assert items["creator-next"]["status"] == "enrolled"
    assert items["tips"]["eligible"] is True
    assert items["tips"]["status"] == "eligible"


def test_a_creator_meeting_every_default_rule_is_eligible_everywhere():
    creator = make_creator("maya")
    enroll(creator, "creator-next")
    items = eligibility(creator)
    assert all(i["eligible"] for i in items.values())
    assert all(r["met"] for i in items.values() for r in i["requirements"])


def test_non_creators_are_refused_and_anonymous_is_401():
    fan = make_user("fan")
    response = api_client(fan).get("/api/v1/eligibility/")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    assert api_client(None).get("/api/v1/eligibility/").status_code == 401


def test_eligibility_costs_a_fixed_number_of_queries(django_assert_max_num_queries):
    creator = make_creator("maya")
    enroll(creator, "creator-next", "tips", "video-gifts", "live-gifts", "marketplace")
    client = api_client(creator.user)
    # token + creator + programs + rules + terms + enrolments
    with django_assert_max_num_queries(6):
        assert client.get("/api/v1/eligibility/").status_code == 200
