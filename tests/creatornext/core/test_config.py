"""Staff-editable settings: defaults, validation, audit, and effect on new records only."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError

from creatornext.audit.models import AuditEvent
from creatornext.core import config
from creatornext.ledger.config import HOLD_DAYS
from creatornext.ledger.models import AccountKind, Hold
from creatornext.ledger.services import Leg, creator_income, platform_account
from creatornext.money import Money
from tests.support.world import make_user

pytestmark = pytest.mark.django_db


def income(user, key):
    return creator_income(key=key, kind="tip", owner=user, amount=Money(100, "USD"),
                          source_legs=[Leg(platform_account(AccountKind.PROVIDER_INFLOW, "USD"), -100)])


def test_default_then_staff_change_is_audited_and_applies_to_new_records_only():
    staff, creator = make_user("boss", staff=True), make_user("maya")
    assert config.get(HOLD_DAYS) == 7
    t1 = income(creator, "t1")

    config.set_value(definition=HOLD_DAYS, value=3, actor=staff, reason="fewer chargebacks lately")
    assert config.get(HOLD_DAYS) == 3
    t2 = income(creator, "t2")

    h1, h2 = Hold.objects.get(transaction_id=t1.pk), Hold.objects.get(transaction_id=t2.pk)
    assert h1.release_at - t1.created_at == timedelta(days=7)  # unchanged by the new setting
    assert h2.release_at - t2.created_at == timedelta(days=3)
    event = AuditEvent.objects.get(action="setting.changed")
    assert (event.before, event.after, event.reason) == ({"value": 7}, {"value": 3},
                                                         "fewer chargebacks lately")
    assert event.actor == staff


@pytest.mark.parametrize("bad", [-1, 91, 2.5, "7", True, None])
def test_invalid_values_are_refused_and_nothing_changes(bad, nothing_changed):
    staff = make_user("boss", staff=True)
    with nothing_changed(), pytest.raises(ValidationError):
        config.set_value(definition=HOLD_DAYS, value=bad, actor=staff)
    assert config.get(HOLD_DAYS) == 7


def test_staff_edit_settings_in_the_admin(client):
    staff = make_user("boss", staff=True)
    staff.is_superuser = True
    staff.save()
    client.force_login(staff)
    page = client.get("/admin/core/setting/")
    assert page.status_code == 200
    assert b"ledger.hold_days" in page.content
    response = client.post("/admin/core/setting/ledger.hold_days/change/",
                           {"value": "10", "reason": "more disputes"})
    assert response.status_code == 302, response.content[:500]
    assert config.get(HOLD_DAYS) == 10
    assert AuditEvent.objects.filter(action="setting.changed", reason="more disputes").exists()
    refused = client.post("/admin/core/setting/ledger.hold_days/change/", {"value": "-5", "reason": "x"})
    assert refused.status_code == 200 and b"must be at least 0" in refused.content
    assert config.get(HOLD_DAYS) == 10


def test_a_request_reads_each_setting_from_the_shared_cache_once_and_sees_one_value(monkeypatch):
    from django.core.cache import cache
    from django.core.signals import request_finished, request_started

    staff = make_user("boss", staff=True)
    config.set_value(definition=HOLD_DAYS, value=5, actor=staff)
    reads = []
    real_get_many = cache.get_many
    monkeypatch.setattr(cache, "get_many", lambda keys: reads.append(keys) or real_get_many(keys))

    # Connected to Django's request signals (sending them here would also close the test's
    # database connection, as at the end of a real request).
    assert any(key[0] == "config.request_started" for key, *_ in request_started.receivers)
    assert any(key[0] == "config.request_finished" for key, *_ in request_finished.receivers)
    config.request_started()
    try:
        assert config.get(HOLD_DAYS) == 5
        cache.set("config:" + HOLD_DAYS.key, 9)  # another process changed it mid-request
        assert config.get_many(HOLD_DAYS, HOLD_DAYS) == [5, 5]
        assert len(reads) == 1
        config.set_value(definition=HOLD_DAYS, value=4, actor=staff)  # this request's own change
        assert config.get(HOLD_DAYS) == 4
    finally:
        config.request_finished()
    # Outside a request (tasks, shells) every read asks the shared cache.
    cache.set("config:" + HOLD_DAYS.key, 6)
    assert config.get(HOLD_DAYS) == 6
    assert config.get(HOLD_DAYS) == 6
    assert len(reads) == 4


def _version() -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(config.VERSION_SQL)
        return cursor.fetchone()[0]


def test_values_read_at_a_version_of_the_settings_are_kept_until_it_changes(monkeypatch,
                                                                             django_assert_num_queries):
    from django.core.cache import cache

    staff = make_user("boss", staff=True)
    config.set_value(definition=HOLD_DAYS, value=5, actor=staff)
    reads = []
    real_get_many = cache.get_many
    monkeypatch.setattr(cache, "get_many", lambda keys: reads.append(keys) or real_get_many(keys))
    # A stale shared cache (cleared only after a change commits) is not what a version keeps.
    cache.set("config:" + HOLD_DAYS.key, 9)
    first = _version()
    assert config.get_many(HOLD_DAYS, version=first) == [5]
    with django_assert_num_queries(0):
        assert config.get_many(HOLD_DAYS, version=first) == [5]
    config.set_value(definition=HOLD_DAYS, value=3, actor=staff)
    second = _version()
    assert second != first
    assert config.get_many(HOLD_DAYS, version=second) == [3]
    # Deleting a row brings back the default, and changes the version too.
    from creatornext.core.models import Setting

    Setting.objects.filter(key=HOLD_DAYS.key).delete()
    assert _version() != second
    assert config.get_many(HOLD_DAYS, version=_version()) == [7]
    assert reads == []  # never the shared cache
