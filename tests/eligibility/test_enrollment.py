"""Opt-in, opt-out, pause/resume, staff grant/revoke and the 30-day rule (PRODUCT.md §1)."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from creatornext.audit.models import AuditEvent
from creatornext.core.models import OutboundEmail
from eligibility import services
from eligibility.models import Enrollment
from tests.eligibility.helpers import enroll, make_creator, status_of
from tests.support.world import api_client, make_user

pytestmark = pytest.mark.django_db

METRICS_URL = "/api/v1/creators/{}/metrics/"


def opt_in(creator, program, terms_version="v1"):
    return api_client(creator.user).post(f"/api/v1/programs/{program}/opt-in/",
                                         {"terms_version": terms_version}, format="json")


def opt_out(creator, program):
    return api_client(creator.user).post(f"/api/v1/programs/{program}/opt-out/")


def put_metrics(staff, creator, **changes):
    body = {"followers": creator.followers, "views_30d": creator.views_30d, "posts_30d": creator.posts_30d,
            "account_created_at": creator.account_created_at.isoformat(),
            "account_type": creator.account_type, "standing": creator.standing,
            "fraud_flag": creator.fraud_flag}
    body.update(changes)
    response = api_client(staff).put(METRICS_URL.format(creator.handle), body, format="json")
    assert response.status_code == 200, response.content
    creator.refresh_from_db()
    return response.json()


def events(action, creator=None):
    qs = AuditEvent.objects.filter(action=action)
    if creator is not None:
        ids = [str(pk) for pk in Enrollment.objects.filter(creator=creator).values_list("pk", flat=True)]
        qs = qs.filter(object_id__in=ids, object_type="eligibility.enrollment")
    return list(qs.order_by("created_at", "id"))


# --- opt-in ------------------------------------------------------------------------------------
def test_opt_in_refused_while_ineligible_lists_the_unmet_requirements_and_changes_nothing(nothing_changed):
    creator = make_creator("maya", followers=8_120, posts_30d=2)
    with nothing_changed():
        response = opt_in(creator, "marketplace")
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "not_eligible"
    assert error["fields"] == {"followers": ["1,880 more followers"],
                               "posts_30d": ["1 more public post in the last 30 days"]}
    assert error["message"] == ("@maya does not meet the requirements of Creator Marketplace: "
                                "1,880 more followers; 1 more public post in the last 30 days.")
    assert status_of(creator, "marketplace") is None


def test_opt_in_to_a_membership_program_before_creator_next_is_refused(nothing_changed):
    creator = make_creator("maya")
    with nothing_changed():
        response = opt_in(creator, "tips")
    assert response.status_code == 409
    assert response.json()["error"]["fields"] == {"membership": ["Join Creator Next first"]}


def test_opt_in_while_eligible_enrols_with_the_terms_and_rules_version():
    creator = make_creator("maya")
    response = opt_in(creator, "creator-next")
    assert response.status_code == 200
    body = response.json()
    assert body["program"] == "creator-next"
    assert body["status"] == "enrolled"
    assert body["accepted_terms_version"] == "v1"
    enrollment = Enrollment.objects.get(creator=creator, program__slug="creator-next")
    assert enrollment.status == "enrolled"
    assert enrollment.terms_version == "v1"
    assert enrollment.terms_accepted_at is not None
    assert enrollment.rules_version == 1
    assert {r["key"] for r in enrollment.decided_requirements} == {
        "age", "followers", "views_30d", "posts_30d", "account_age_days", "standing", "account_type"}
    [event] = events("eligibility.opted_in", creator)
    assert event.actor == creator.user
    assert event.before == {"status": "not_enrolled", "staff_granted": False}
    assert event.after == {"status": "enrolled", "staff_granted": False, "terms_version": "v1",
                           "rules_version": 1}
    # Opting in again is a no-op
    assert opt_in(creator, "creator-next").status_code == 200
    assert len(events("eligibility.opted_in", creator)) == 1


def test_stale_terms_are_refused_with_invalid_state(nothing_changed):
    creator = make_creator("maya")
    with nothing_changed():
        response = opt_in(creator, "creator-next", terms_version="v0")
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "invalid_state"
    assert error["fields"] == {"terms_version": ["Read and accept version v1."]}


def test_new_terms_version_is_current_and_the_old_one_becomes_stale(staff):
    from eligibility.models import Program, TermsVersion

    creator = make_creator("maya")
    enroll(creator, "creator-next")
    services.terms_publish(terms=TermsVersion(program=Program.objects.get(slug="creator-next"), version="v2",
                                              body="New terms.", published_at=timezone.now()), actor=staff)
    other = make_creator("otto")
    assert opt_in(other, "creator-next", terms_version="v1").json()["error"]["code"] == "invalid_state"
    assert opt_in(other, "creator-next", terms_version="v2").status_code == 200
    # An enrolled creator accepts the new version (recorded as such)
    response = opt_in(creator, "creator-next", terms_version="v2")
    assert response.json()["accepted_terms_version"] == "v2"
    assert len(events("eligibility.terms_accepted", creator)) == 1
    assert AuditEvent.objects.filter(action="eligibility.terms_published").count() == 1


def test_unknown_program_is_404_and_non_creators_403():
    creator = make_creator("maya")
    assert opt_in(creator, "no-such-program").status_code == 404
    assert opt_out(creator, "no-such-program").status_code == 404
    fan = make_user("fan")
    response = api_client(fan).post("/api/v1/programs/tips/opt-in/", {"terms_version": "v1"}, format="json")
    assert response.status_code == 403


def test_missing_or_mistyped_terms_version_is_400(nothing_changed):
    creator = make_creator("maya")
    client = api_client(creator.user)
    with nothing_changed():
        assert client.post("/api/v1/programs/tips/opt-in/", {}, format="json").status_code == 400
        response = client.post("/api/v1/programs/tips/opt-in/", {"terms_version": 1}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"terms_version": ["Must be a string."]}


# --- opt-out -----------------------------------------------------------------------------------
def test_opt_out_is_always_allowed_and_leaving_creator_next_pauses_membership_programs():
    creator = make_creator("maya")
    enroll(creator, "creator-next", "tips", "live-gifts")
    response = opt_out(creator, "creator-next")
    assert response.status_code == 200
    assert response.json()["status"] == "eligible"
    assert status_of(creator, "creator-next") == "not_enrolled"
    assert status_of(creator, "tips") == "paused"  # membership is gone
    assert status_of(creator, "live-gifts") == "enrolled"  # needs no membership
    assert len(events("eligibility.opted_out", creator)) == 1
    [paused] = events("eligibility.paused", creator)
    assert paused.after["unmet"] == ["membership"]
    # Opting out of something never joined is fine too
    assert opt_out(creator, "marketplace").status_code == 200
    # Back into creator-next: tips resumes by itself
    enroll(creator, "creator-next")
    assert status_of(creator, "tips") == "enrolled"
    assert len(events("eligibility.resumed", creator)) == 1


# --- pause and resume --------------------------------------------------------------------------
def test_pause_when_metrics_drop_and_resume_when_they_return(staff):
    creator = make_creator("maya", followers=12_000)
    enroll(creator, "creator-next", "video-gifts", "marketplace")
    services.require_enrolled(creator, "video-gifts")  # enrolled: no error

    body = put_metrics(staff, creator, followers=9_999)
    assert body["changed"] is True
    assert sorted(body["program_changes"], key=lambda c: c["program"]) == [
        {"program": "marketplace", "status": "paused"}, {"program": "video-gifts", "status": "paused"}]
    assert status_of(creator, "creator-next") == "enrolled"
    items = {i["program"]: i for i in api_client(creator.user).get("/api/v1/eligibility/").json()}
    assert items["video-gifts"]["status"] == "paused"
    assert items["video-gifts"]["eligible"] is False

    # Nothing new is accepted while paused
    with pytest.raises(services.NotEligible) as refused:
        services.require_enrolled(creator, "video-gifts", own=True)
    assert refused.value.status == "paused"
    assert refused.value.fields == {"followers": ["1 more follower"]}
    api_error = refused.value.api_error()
    assert (api_error.status_code, api_error.code) == (409, "not_eligible")
    assert api_error.message == "@maya's Video Gifts program is paused: 1 more follower."

    # Audit and the "program paused" email
    paused = events("eligibility.paused", creator)
    assert len(paused) == 2
    assert paused[0].before["status"] == "enrolled"
    assert paused[0].after["status"] == "paused"
    assert paused[0].after["unmet"] == ["followers"]
    assert paused[0].reason == "Metrics changed: 1 more follower"
    emails = OutboundEmail.objects.filter(template="program_paused").order_by("pk")
    assert sorted(e.subject for e in emails) == ["Your Creator Marketplace program is paused",
                                                 "Your Video Gifts program is paused"]
    assert all(e.to == [creator.user.email] for e in emails)
    assert "1 more follower" in emails[0].body_text

    # Back above the threshold: resumed, no new email
    body = put_metrics(staff, creator, followers=10_000)
    assert {c["status"] for c in body["program_changes"]} == {"enrolled"}
    assert status_of(creator, "video-gifts") == "enrolled"
    assert len(events("eligibility.resumed", creator)) == 2
    assert OutboundEmail.objects.filter(template="program_paused").count() == 2
    services.require_enrolled(creator, "video-gifts")


def test_paused_email_is_sent_after_commit(django_capture_on_commit_callbacks, staff):
    from django.core import mail

    creator = make_creator("maya")
    enroll(creator, "creator-next")
    with django_capture_on_commit_callbacks(execute=True):
        put_metrics(staff, creator, standing="warned")
    assert [m.subject for m in mail.outbox] == ["Your Creator Next program is paused"]
    assert "Only for good standing (yours: warned)" in mail.outbox[0].body


def test_require_enrolled_costs_one_query_when_enrolled(django_assert_num_queries):
    creator = make_creator("maya")
    enroll(creator, "creator-next", "tips")
    with django_assert_num_queries(1):
        services.require_enrolled(creator, "tips")
    with django_assert_num_queries(1):
        services.require_enrolled(creator.pk, "tips")


def test_require_enrolled_refuses_a_creator_who_never_opted_in():
    creator = make_creator("maya")
    with pytest.raises(services.NotEligible) as refused:
        services.require_enrolled(creator, "live-gifts", own=True)
    assert refused.value.message == "@maya has not opted in to LIVE Gifts."
    assert refused.value.fields == {"program": ["Not enrolled in LIVE Gifts."]}
    with pytest.raises(services.ProgramNotFound):
        services.require_enrolled(creator, "no-such-program")


@pytest.mark.parametrize("why", ["never opted in", "paused", "revoked", "requirements unmet"])
def test_someone_else_learns_only_that_the_creator_does_not_take_part(why, staff):
    """A fan tipping or a brand inviting must not read the creator's metrics, date of birth,
    standing or moderation history out of the refusal (``own=False``, the default)."""
    creator = make_creator("maya", followers=4_213 if why == "requirements unmet" else 12_000)
    if why in ("paused", "revoked"):
        enroll(creator, "creator-next", "video-gifts")
    if why == "paused":
        put_metrics(staff, creator, followers=9_999, standing="warned")
    elif why == "revoked":
        services.enrollment_revoke(creator=creator, program="video-gifts", actor=staff, reason="Spam")
    with pytest.raises(services.NotEligible) as own:
        services.require_enrolled(creator, "video-gifts", own=True)
    with pytest.raises(services.NotEligible) as other:
        services.require_enrolled(creator, "video-gifts")
    assert (other.value.message, other.value.fields) == (
        "@maya does not take part in Video Gifts.", {"creator": ["@maya is not enrolled in Video Gifts."]})
    assert (other.value.status, other.value.unmet, other.value.program) == ("", [], "video-gifts")
    error = other.value.api_error()
    assert (error.status_code, error.code) == (409, "not_eligible")
    # The creator's own refusal still explains itself, and differs.
    assert own.value.message != other.value.message


# --- staff overrides ---------------------------------------------------------------------------
def test_staff_grant_stands_through_reevaluation_until_removed(staff):
    creator = make_creator("maya")
    enroll(creator, "creator-next", "marketplace")
    services.enrollment_grant(creator=creator, program="marketplace", actor=staff,
                              reason="Verified partner: metrics feed lags for this account")
    [granted] = events("eligibility.granted", creator)
    assert granted.actor == staff
    assert granted.actor_kind == "staff"
    assert granted.reason == "Verified partner: metrics feed lags for this account"
    assert granted.before == {"status": "enrolled", "staff_granted": False, "terms_version": "v1"}
    assert granted.after == {"status": "enrolled", "staff_granted": True, "terms_version": "v1",
                             "rules_version": 1}

    put_metrics(staff, creator, followers=500)  # below every threshold
    assert status_of(creator, "marketplace") == "enrolled"  # the grant stands
    assert status_of(creator, "creator-next") == "paused"  # no grant there
    services.reevaluation_batch()  # the daily pass does not undo it either
    assert status_of(creator, "marketplace") == "enrolled"
    items = api_client(creator.user).get("/api/v1/eligibility/").json()
    item = {i["program"]: i for i in items}["marketplace"]
    assert item["staff_granted"] is True
    assert item["eligible"] is True
    assert [r["key"] for r in item["requirements"] if not r["met"]] == ["followers"]

    services.enrollment_grant_remove(creator=creator, program="marketplace", actor=staff,
                                     reason="Feed fixed")
    assert status_of(creator, "marketplace") == "paused"
    assert len(events("eligibility.grant_removed", creator)) == 1


def test_staff_override_needs_a_reason(staff, nothing_changed):
    creator = make_creator("maya")
    from django.core.exceptions import ValidationError

    with nothing_changed(), pytest.raises(ValidationError):
        services.enrollment_grant(creator=creator, program="tips", actor=staff, reason="  ")


def test_staff_override_in_the_admin_is_audited(client):
    admin = make_user("boss", staff=True)
    admin.is_superuser = True
    admin.save()
    creator = make_creator("maya")
    enroll(creator, "creator-next", "live-gifts")
    client.force_login(admin)
    page = client.get("/admin/eligibility/enrollment/override/?handle=maya&program=live-gifts")
    assert page.status_code == 200
    response = client.post("/admin/eligibility/enrollment/override/", {
        "handle": "maya", "program": "live-gifts", "action": "revoke", "reason": "Repeated spam reports"})
    assert response.status_code == 302
    assert status_of(creator, "live-gifts") == "revoked"
    [event] = events("eligibility.revoked", creator)
    assert (event.actor, event.actor_kind, event.reason) == (admin, "staff", "Repeated spam reports")
    assert event.before["status"] == "enrolled"
    assert event.after["status"] == "revoked"
    # A form without a reason is refused
    response = client.post("/admin/eligibility/enrollment/override/", {
        "handle": "maya", "program": "live-gifts", "action": "grant", "reason": ""})
    assert response.status_code == 200
    assert not events("eligibility.granted", creator)


# --- the 30-day rule ---------------------------------------------------------------------------
def _revoked_days_ago(creator, program, days):
    Enrollment.objects.filter(creator=creator, program__slug=program).update(
        revoked_at=timezone.now() - datetime.timedelta(days=days))


def test_opt_in_again_no_sooner_than_30_days_after_a_revocation(staff, nothing_changed):
    creator = make_creator("maya")
    enroll(creator, "creator-next", "live-gifts")
    services.enrollment_revoke(creator=creator, program="live-gifts", actor=staff, reason="Spam")
    items = {i["program"]: i for i in api_client(creator.user).get("/api/v1/eligibility/").json()}
    assert items["live-gifts"]["status"] == "revoked"
    assert items["live-gifts"]["eligible"] is True
    assert items["live-gifts"]["opt_in_available_at"] is not None
    with pytest.raises(services.NotEligible):
        services.require_enrolled(creator, "live-gifts", own=True)

    # Opting out does not reset the clock
    assert opt_out(creator, "live-gifts").status_code == 200
    assert status_of(creator, "live-gifts") == "revoked"

    _revoked_days_ago(creator, "live-gifts", 29)
    with nothing_changed():
        response = opt_in(creator, "live-gifts")
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "invalid_state"
    assert "opt in again from" in error["message"]

    _revoked_days_ago(creator, "live-gifts", 30)
    response = opt_in(creator, "live-gifts")
    assert response.status_code == 200
    assert response.json()["status"] == "enrolled"
    assert response.json()["opt_in_available_at"] is None


def test_a_refused_opt_in_starts_no_clock(staff):
    creator = make_creator("maya", followers=5_000)
    assert opt_in(creator, "marketplace").status_code == 409  # not eligible: nothing recorded
    assert status_of(creator, "marketplace") is None
    put_metrics(staff, creator, followers=10_000)
    assert opt_in(creator, "marketplace").status_code == 200  # at once: no waiting period


def test_staff_grant_lifts_a_revocation(staff):
    creator = make_creator("maya")
    enroll(creator, "creator-next")
    services.enrollment_revoke(creator=creator, program="creator-next", actor=staff, reason="Mistake?")
    services.enrollment_grant(creator=creator, program="creator-next", actor=staff, reason="It was a mistake")
    assert status_of(creator, "creator-next") == "not_enrolled"
    assert opt_in(creator, "creator-next").status_code == 200


def test_the_waiting_period_is_data_staff_can_change(staff):
    from eligibility.models import Program

    program = Program.objects.get(slug="live-gifts")
    program.reoptin_after_revoke_days = 7
    services.program_save(program=program, actor=staff, reason="Shorter wait for LIVE")
    [event] = AuditEvent.objects.filter(action="eligibility.program_changed")
    assert (event.before["reoptin_after_revoke_days"], event.after["reoptin_after_revoke_days"]) == (30, 7)
    creator = make_creator("maya")
    enroll(creator, "live-gifts")
    services.enrollment_revoke(creator=creator, program="live-gifts", actor=staff, reason="Spam")
    _revoked_days_ago(creator, "live-gifts", 7)
    assert opt_in(creator, "live-gifts").status_code == 200
