"""The metrics feed: PUT /api/v1/creators/{handle}/metrics/, the admin, history, rule changes."""

from __future__ import annotations

import datetime

import pytest
from django.db import DatabaseError, transaction
from django.utils import timezone

from creatornext.accounts.models import CreatorProfile
from creatornext.audit.models import AuditEvent
from eligibility import services
from eligibility.models import MetricsSnapshot, Program, ReevaluationRun, Rule
from tests.eligibility.helpers import enroll, make_creator, requirement, status_of
from tests.support.world import api_client, make_user

pytestmark = pytest.mark.django_db

BODY = {"followers": 10_000, "views_30d": 2_500, "posts_30d": 4,
        "account_created_at": "2025-03-01T12:00:00Z", "account_type": "business", "standing": "warned",
        "fraud_flag": True, "last_public_post_at": "2026-01-02T08:00:00+09:00"}


def put(user, handle, body):
    return api_client(user).put(f"/api/v1/creators/{handle}/metrics/", body, format="json")


def test_staff_records_metrics_kept_in_history_and_audited(staff):
    creator = make_creator("maya", followers=3)
    response = put(staff, "MAYA", BODY)  # handles are case-insensitive
    assert response.status_code == 200
    body = response.json()
    assert body["handle"] == "maya"
    assert body["followers"] == 10_000
    assert body["account_type"] == "business"
    assert body["last_public_post_at"] == "2026-01-01T23:00:00Z"
    assert body["changed"] is True
    creator.refresh_from_db()
    assert (creator.followers, creator.views_30d, creator.posts_30d) == (10_000, 2_500, 4)
    assert (creator.account_type, creator.standing, creator.fraud_flag) == ("business", "warned", True)
    assert creator.account_created_at == datetime.datetime(2025, 3, 1, 12, tzinfo=datetime.UTC)
    assert creator.metrics_updated_at is not None

    [snapshot] = MetricsSnapshot.objects.filter(creator=creator)
    assert (snapshot.source, snapshot.recorded_by, snapshot.followers, snapshot.standing) == (
        "api", staff, 10_000, "warned")
    [event] = AuditEvent.objects.filter(action="metrics.updated")
    assert event.actor == staff
    assert event.object_id == str(creator.pk)
    assert event.before["followers"] == 3
    assert event.after["followers"] == 10_000
    assert event.after["standing"] == "warned"

    # The same values again: nothing new is written
    again = put(staff, "maya", BODY).json()
    assert again["changed"] is False
    assert MetricsSnapshot.objects.filter(creator=creator).count() == 1
    assert AuditEvent.objects.filter(action="metrics.updated").count() == 1


def test_last_public_post_left_out_is_unchanged_and_null_clears_it(staff):
    creator = make_creator("maya")
    before = creator.last_public_post_at
    body = {k: v for k, v in BODY.items() if k != "last_public_post_at"}
    assert put(staff, "maya", body).status_code == 200
    creator.refresh_from_db()
    assert creator.last_public_post_at == before
    assert put(staff, "maya", {**body, "last_public_post_at": None}).status_code == 200
    creator.refresh_from_db()
    assert creator.last_public_post_at is None


@pytest.mark.parametrize(("change", "field"), [
    ({"followers": -1}, "followers"),
    ({"followers": 2**63}, "followers"),
    ({"followers": "10"}, "followers"),
    ({"followers": 1.5}, "followers"),
    ({"posts_30d": 2**31}, "posts_30d"),
    ({"account_type": "brand"}, "account_type"),
    ({"standing": "great"}, "standing"),
    ({"fraud_flag": "no"}, "fraud_flag"),
    ({"account_created_at": "yesterday"}, "account_created_at"),
    ({"account_created_at": "2999-01-01T00:00:00Z"}, "account_created_at"),
    ({"last_public_post_at": "2999-01-01T00:00:00Z"}, "last_public_post_at"),
])
def test_bad_metrics_are_400_and_change_nothing(staff, change, field, nothing_changed):
    make_creator("maya")
    api_client(staff)
    with nothing_changed():
        response = put(staff, "maya", {**BODY, **change})
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]


def test_missing_field_is_400(staff, nothing_changed):
    make_creator("maya")
    api_client(staff)
    body = {k: v for k, v in BODY.items() if k != "standing"}
    with nothing_changed():
        response = put(staff, "maya", body)
    assert response.status_code == 400
    assert "standing" in response.json()["error"]["fields"]


def test_unknown_handle_is_404_and_only_staff_may_write(staff):
    creator = make_creator("maya")
    assert put(staff, "nobody", BODY).status_code == 404
    assert put(creator.user, "maya", BODY).status_code == 403
    assert put(make_user("fan"), "maya", BODY).status_code == 403
    assert put(None, "maya", BODY).status_code == 401


def test_the_public_profile_shows_no_metrics(staff):
    make_creator("maya")
    body = api_client(None).get("/api/v1/creators/maya/").json()
    assert "followers" not in body


def test_metrics_history_is_append_only():
    creator = make_creator("maya")
    services.metrics_update(creator=creator, actor=None, source="api", followers=1, views_30d=2,
                            posts_30d=3, account_created_at=None, account_type="personal",
                            standing="good", fraud_flag=False)
    snapshot = MetricsSnapshot.objects.get(creator=creator)
    with pytest.raises(DatabaseError), transaction.atomic():
        MetricsSnapshot.objects.filter(pk=snapshot.pk).update(followers=999)
    with pytest.raises(DatabaseError), transaction.atomic():
        MetricsSnapshot.objects.filter(pk=snapshot.pk).delete()


def test_metrics_change_re_evaluates_that_creator_only(staff):
    maya = make_creator("maya")
    otto = make_creator("otto")
    enroll(maya, "creator-next")
    enroll(otto, "creator-next")
    CreatorProfile.objects.filter(pk=otto.pk).update(followers=1)  # behind the feed's back
    put(staff, "maya", {**BODY, "account_type": "personal", "standing": "good", "followers": 999})
    assert status_of(maya, "creator-next") == "paused"
    assert status_of(otto, "creator-next") == "enrolled"  # until the daily run


# --- the admin ---------------------------------------------------------------------------------
@pytest.fixture
def admin_client(client):
    boss = make_user("boss", staff=True)
    boss.is_superuser = True
    boss.save()
    client.force_login(boss)
    client.boss = boss
    return client


def test_metrics_edited_in_the_admin_go_through_the_feed(admin_client):
    creator = make_creator("maya")
    enroll(creator, "creator-next")
    url = f"/admin/eligibility/creatormetrics/{creator.pk}/change/"
    page = admin_client.get(url)
    assert page.status_code == 200
    form = {"followers": "500", "views_30d": "80000", "posts_30d": "12",
            "account_created_at_0": "2024-01-01", "account_created_at_1": "00:00:00",
            "account_type": "personal", "standing": "good", "fraud_flag": "",
            "last_public_post_at_0": timezone.now().date().isoformat(), "last_public_post_at_1": "00:00:00",
            "metrics_history-TOTAL_FORMS": "0", "metrics_history-INITIAL_FORMS": "0"}
    response = admin_client.post(url, form)
    assert response.status_code == 302, response.content[:2000]
    creator.refresh_from_db()
    assert creator.followers == 500
    snapshot = MetricsSnapshot.objects.get(creator=creator)
    assert (snapshot.source, snapshot.recorded_by) == ("admin", admin_client.boss)
    assert AuditEvent.objects.filter(action="metrics.updated", actor=admin_client.boss).count() == 1
    assert status_of(creator, "creator-next") == "paused"

    # A future date is refused on the form, nothing written
    response = admin_client.post(url, {**form, "followers": "600", "account_created_at_0": "2999-01-01"})
    assert response.status_code == 200
    assert b"Must not be in the future." in response.content
    assert MetricsSnapshot.objects.filter(creator=creator).count() == 1


def test_rule_change_in_the_admin_is_audited_versioned_and_re_evaluates(admin_client,
                                                                        django_capture_on_commit_callbacks):
    creator = make_creator("maya", followers=12_000)
    enroll(creator, "creator-next", "marketplace")
    rule = Rule.objects.get(program__slug="marketplace", key="followers", country="")
    url = f"/admin/eligibility/rule/{rule.pk}/change/"
    assert admin_client.get(url).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(url, {"program": rule.program_id, "key": "followers", "country": "",
                                           "threshold": "15000", "allowed": ""})
    assert response.status_code == 302
    program = Program.objects.get(slug="marketplace")
    assert program.rules_version == 2
    [event] = AuditEvent.objects.filter(action="eligibility.rule_changed")
    assert event.actor == admin_client.boss
    assert (event.before["threshold"], event.after["threshold"]) == (10_000, 15_000)
    # Everyone was re-evaluated under the new rule (the run ran through Celery, eagerly here)
    run = ReevaluationRun.objects.get(kind="rules_changed")
    assert run.finished_at is not None
    assert status_of(creator, "marketplace") == "paused"
    assert requirement(creator, "marketplace", "followers")["required"] == 15_000
    paused = AuditEvent.objects.get(action="eligibility.paused")
    assert paused.after["rules_version"] == 2


def test_a_bad_rule_is_refused_by_the_admin_form(admin_client):
    program = Program.objects.get(slug="tips")
    response = admin_client.post("/admin/eligibility/rule/add/", {
        "program": program.pk, "key": "account_type", "country": "", "threshold": "", "allowed": "robot"})
    assert response.status_code == 200
    assert b"Unknown value(s) robot" in response.content
    response = admin_client.post("/admin/eligibility/rule/add/", {
        "program": program.pk, "key": "followers", "country": "", "threshold": "", "allowed": ""})
    assert b"This requirement needs a number." in response.content
    assert not AuditEvent.objects.filter(action__startswith="eligibility.rule").exists()


def test_a_new_country_override_applies_to_that_country_only(admin_client):
    program = Program.objects.get(slug="tips")
    response = admin_client.post("/admin/eligibility/rule/add/", {
        "program": program.pk, "key": "followers", "country": "br", "threshold": "50000", "allowed": ""})
    assert response.status_code == 302
    assert AuditEvent.objects.filter(action="eligibility.rule_added").count() == 1
    br = make_creator("bia", country="BR", followers=60_000)
    us = make_creator("sam", country="US", followers=60_000)
    assert requirement(br, "tips", "followers")["required"] == 50_000
    assert requirement(us, "tips", "followers")["required"] == 100_000


def test_admin_pages_render(admin_client):
    creator = make_creator("maya")
    enroll(creator, "creator-next")
    for url in ["/admin/eligibility/program/", "/admin/eligibility/rule/", "/admin/eligibility/termsversion/",
                "/admin/eligibility/termsversion/add/", "/admin/eligibility/enrollment/",
                "/admin/eligibility/creatormetrics/", "/admin/eligibility/metricssnapshot/",
                "/admin/eligibility/reevaluationrun/",
                f"/admin/eligibility/program/{Program.objects.get(slug='tips').pk}/change/"]:
        assert admin_client.get(url).status_code == 200, url
