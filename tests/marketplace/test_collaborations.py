"""Campaigns, invitations and escrowed collaborations (PRODUCT.md §4), through the API, with the
real payments boundary (localstripe) and the ledger checked after every test (ledger_check)."""

from __future__ import annotations

import datetime

import pytest
from django.db import connection
from django.utils import timezone

from creatornext.audit.models import AuditEvent
from creatornext.core import config
from creatornext.core.approvals import SECOND_APPROVAL_ABOVE
from creatornext.core.models import OutboundEmail, StaffApproval
from creatornext.ledger import selectors as ledger
from creatornext.ledger.models import AccountKind, Entry, Transaction
from creatornext.ledger.services import platform_account
from creatornext.payments.models import Payment
from eligibility.defaults import seed_defaults
from marketplace import campaigns, escrow
from marketplace import config as settings_
from marketplace.models import Collaboration, Invitation
from tests.marketplace.collab_helpers import (
    accepted_collaboration,
    fund,
    funded_collaboration,
    invite,
    make_campaign,
    post,
    submit,
    usd,
)
from tests.marketplace.helpers import brand_member, listed_creator
from tests.support.world import api_client, make_user

FEE = 50_000
DAY = datetime.timedelta(days=1)


@pytest.fixture
def parties(db, fake_stripe):
    buyer, brand = brand_member("buyer")
    creator = listed_creator("ana.cooks")
    return buyer, brand, creator


def pending(user) -> int:
    cash = ledger.wallet(user)["cash"]
    return cash[0]["pending"] if cash else 0


def held(collaboration_id: int) -> int:
    return escrow.escrow_held(Collaboration.objects.get(pk=collaboration_id))


def state(collaboration_id: int) -> str:
    return Collaboration.objects.get(pk=collaboration_id).state


def test_the_whole_flow_counter_fund_two_revisions_approve(parties, nothing_changed):
    buyer, brand, creator = parties
    campaign = make_campaign(buyer, brand)
    invitation = invite(buyer, campaign["id"], "ana.cooks", 40_000)
    assert invitation.status_code == 201 and invitation.json()["state"] == "pending"
    inv_id = invitation.json()["id"]
    assert OutboundEmail.objects.filter(to=[creator.user.email], template="marketplace_update").count() == 1

    countered = post(creator.user, f"invitations/{inv_id}/counter/", {"fee": usd(FEE)})
    assert countered.status_code == 200, countered.content
    assert (countered.json()["state"], countered.json()["counter_fee"]) == ("countered", usd(FEE))
    with nothing_changed():  # one counter-offer only; and only the brand answers it
        second = post(creator.user, f"invitations/{inv_id}/counter/", {"fee": usd(45_000)})
        assert (second.status_code, second.json()["error"]["code"]) == (409, "invalid_state")
        assert post(creator.user, f"invitations/{inv_id}/accept-counter/").status_code == 403
        assert post(buyer, f"invitations/{inv_id}/accept/").status_code == 403

    accepted = post(buyer, f"invitations/{inv_id}/accept-counter/")
    assert accepted.status_code == 200 and accepted.json()["state"] == "accepted"
    collab_id = accepted.json()["collaboration"]
    detail = api_client(creator.user).get(f"/api/v1/collaborations/{collab_id}/").json()
    assert detail["state"] == "pending_funding" and detail["escrow"]["fee"] == usd(FEE)
    gross = escrow.gross_for(FEE)
    assert detail["escrow"]["charge"] == usd(gross) and gross - FEE >= FEE * 29 // 1000 + 30

    with nothing_changed():  # nothing to approve, submit or revise before funding
        assert submit(creator, collab_id).status_code == 409
        assert post(buyer, f"collaborations/{collab_id}/approve/").status_code == 409

    funded = fund(buyer, collab_id)
    assert funded.status_code == 200, funded.content
    body = funded.json()
    assert body["state"] == "funded" and body["escrow"]["payment_status"] == "succeeded"
    payment = Payment.objects.get(purpose="escrow")
    assert payment.amount == gross and payment.payer == buyer  # the brand pays fee + processor fee
    assert held(collab_id) == FEE and body["escrow"]["held"] == usd(FEE)
    revenue = platform_account(AccountKind.REVENUE, "USD")
    diff = gross - payment.fee - FEE  # the estimate's rounding: the platform's, never escrow's
    assert Entry.objects.filter(account=revenue).count() == (1 if diff > 0 else 0)
    with nothing_changed():  # funding twice is refused
        assert fund(buyer, collab_id).status_code == 409

    for round_ in (1, 2):
        assert submit(creator, collab_id, f"https://video.example.com/v/{round_}").status_code == 200
        sent_back = post(buyer, f"collaborations/{collab_id}/request-revision/", {"note": "Brighter, please"})
        assert sent_back.status_code == 200 and sent_back.json()["revisions"] == round_
    assert submit(creator, collab_id, "https://video.example.com/v/3").status_code == 200
    with nothing_changed():  # a third revision is refused; the creator cannot approve
        third = post(buyer, f"collaborations/{collab_id}/request-revision/", {"note": "Again"})
        assert (third.status_code, third.json()["error"]["code"]) == (409, "invalid_state")
        assert post(creator.user, f"collaborations/{collab_id}/approve/").status_code == 403
        assert post(creator.user, f"collaborations/{collab_id}/cancel/").status_code == 409  # submitted

    assert pending(creator.user) == 0
    approved = post(buyer, f"collaborations/{collab_id}/approve/", key="approve-1")
    assert approved.status_code == 200 and approved.json()["state"] == "released"
    assert pending(creator.user) == FEE  # platform fee 0% by default
    assert held(collab_id) == 0
    again = post(buyer, f"collaborations/{collab_id}/approve/", key="approve-1")  # replay
    assert again.status_code == 200 and again.content == approved.content
    assert Transaction.objects.filter(key=f"collaboration:{collab_id}:released").count() == 1
    assert pending(creator.user) == FEE

    actions = list(AuditEvent.objects.filter(object_type="marketplace.collaboration", object_id=str(collab_id))
                   .order_by("pk").values_list("action", flat=True))
    # The card succeeded during the request: the payment handler funded before the request's own record.
    assert actions[:3] == ["collaboration.funded", "collaboration.fund_attempted", "collaboration.submitted"]
    assert actions[-1] == "collaboration.approved" and actions.count("collaboration.revision_requested") == 2
    assert OutboundEmail.objects.filter(to=[creator.user.email], subject__startswith="Approved and paid").exists()

    report = api_client(buyer).get(f"/api/v1/campaigns/{campaign['id']}/report/").json()
    assert report["invitations_sent"] == 1 and report["invitations_accepted"] == 1
    assert report["deliverables_submitted"] == 1 and report["deliverables_approved"] == 1
    assert report["released"] == usd(FEE) and report["spend"] == usd(gross) and report["in_escrow"] == usd(0)


def test_platform_fee_is_taken_at_its_rate_when_the_collaboration_was_made(parties):
    buyer, brand, creator = parties
    boss = make_user("boss", staff=True)
    config.set_value(definition=settings_.PLATFORM_FEE_BPS, value=1_000, actor=boss, reason="10%")
    collab_id = funded_collaboration(buyer, brand, creator)
    config.set_value(definition=settings_.PLATFORM_FEE_BPS, value=0, actor=boss)  # the deal keeps its rate
    submit(creator, collab_id)
    assert post(buyer, f"collaborations/{collab_id}/approve/").status_code == 200
    assert pending(creator.user) == FEE - FEE // 10
    revenue = platform_account(AccountKind.REVENUE, "USD")
    assert Entry.objects.filter(account=revenue, transaction__key=f"collaboration:{collab_id}:released").get(
        ).amount == FEE // 10


def test_auto_approval_seven_days_after_an_unanswered_submission(parties):
    buyer, brand, creator = parties
    collab_id = funded_collaboration(buyer, brand, creator)
    assert escrow.auto_approve_due(now=timezone.now() + 8 * DAY) == 0  # nothing submitted yet
    submit(creator, collab_id)
    assert escrow.auto_approve_due(now=timezone.now() + 6 * DAY) == 0
    assert state(collab_id) == "submitted" and pending(creator.user) == 0
    from marketplace.tasks import collaborations_auto_approve

    assert escrow.auto_approve_due(now=timezone.now() + 7 * DAY + datetime.timedelta(seconds=5)) == 1
    assert state(collab_id) == "released" and pending(creator.user) == FEE
    assert collaborations_auto_approve.delay().get() == 0  # done once
    assert AuditEvent.objects.filter(action="collaboration.auto_approved", actor=None).count() == 1


def test_a_revision_request_stops_the_auto_approval_clock(parties):
    buyer, brand, creator = parties
    collab_id = funded_collaboration(buyer, brand, creator)
    submit(creator, collab_id)
    post(buyer, f"collaborations/{collab_id}/request-revision/", {"note": "Shorter"})
    assert escrow.auto_approve_due(now=timezone.now() + 30 * DAY) == 0
    assert state(collab_id) == "revision_requested"


def test_unfunded_after_seven_days_is_cancelled(parties, nothing_changed):
    buyer, brand, creator = parties
    collab_id = accepted_collaboration(buyer, brand, creator)
    assert escrow.unfunded_cancel_due(now=timezone.now() + 6 * DAY) == 0
    assert escrow.unfunded_cancel_due(now=timezone.now() + 7 * DAY + datetime.timedelta(seconds=5)) == 1
    assert state(collab_id) == "cancelled"
    with nothing_changed():
        late = fund(buyer, collab_id)
        assert (late.status_code, late.json()["error"]["code"]) == (409, "invalid_state")
    assert not Payment.objects.exists()


def test_a_declined_card_leaves_the_collaboration_waiting(parties):
    from creatornext.payments import provider

    buyer, brand, creator = parties
    collab_id = accepted_collaboration(buyer, brand, creator)
    declined = provider.client().v1.payment_methods.create({
        "type": "card", "card": {"number": "4000000000000341", "exp_month": 12, "exp_year": 2030, "cvc": "123"}})["id"]
    response = fund(buyer, collab_id, payment_method=declined)
    assert response.status_code == 200
    assert (response.json()["state"], response.json()["escrow"]["payment_status"]) == ("pending_funding", "failed")
    assert held(collab_id) == 0
    assert fund(buyer, collab_id).json()["state"] == "funded"  # another card


@pytest.mark.parametrize("who", ["brand", "creator"])
def test_either_party_cancels_before_submission_and_the_brand_is_refunded(parties, who):
    buyer, brand, creator = parties
    collab_id = funded_collaboration(buyer, brand, creator)
    actor = buyer if who == "brand" else creator.user
    response = post(actor, f"collaborations/{collab_id}/cancel/", {"reason": "Plans changed"})
    assert response.status_code == 200, response.content
    assert response.json()["state"] == "refunded"
    payment = Payment.objects.get(purpose="escrow")
    assert payment.refunded_amount == FEE  # the fee; the processor fee the brand paid stays with it
    assert held(collab_id) == 0 and pending(creator.user) == 0
    other = creator.user if who == "brand" else buyer
    assert OutboundEmail.objects.filter(to=[other.email], subject__startswith="Cancelled and refunded").exists()


def test_cancelling_an_unfunded_collaboration_moves_no_money(parties):
    buyer, brand, creator = parties
    collab_id = accepted_collaboration(buyer, brand, creator)
    assert post(creator.user, f"collaborations/{collab_id}/cancel/").json()["state"] == "cancelled"
    assert not Payment.objects.exists()


def test_after_a_missed_deadline_only_the_brand_may_cancel_a_revision(parties, nothing_changed):
    buyer, brand, creator = parties
    collab_id = funded_collaboration(buyer, brand, creator)
    submit(creator, collab_id)
    post(buyer, f"collaborations/{collab_id}/request-revision/", {"note": "Redo"})
    with nothing_changed():  # before the deadline nobody may cancel after a submission
        assert post(buyer, f"collaborations/{collab_id}/cancel/").status_code == 409
    Collaboration.objects.filter(pk=collab_id).update(deadline=timezone.now() - DAY)
    with nothing_changed():
        assert post(creator.user, f"collaborations/{collab_id}/cancel/").status_code == 409
    assert post(buyer, f"collaborations/{collab_id}/cancel/").json()["state"] == "refunded"
    assert held(collab_id) == 0


def test_escalation_then_staff_release_or_refund_by_a_confirmed_admin_action(parties, client):
    buyer, brand, creator = parties
    staff = make_user("staffer", staff=True)
    staff.is_superuser = True
    staff.save(update_fields=["is_superuser"])
    ids = []
    for _ in range(2):
        collab_id = funded_collaboration(buyer, brand, creator)
        submit(creator, collab_id)
        assert post(buyer, f"collaborations/{collab_id}/escalate/").status_code == 409  # revisions first
        for _ in range(2):
            post(buyer, f"collaborations/{collab_id}/request-revision/", {"note": "no"})
            submit(creator, collab_id)
        assert post(buyer, f"collaborations/{collab_id}/escalate/", {"note": "Not what we asked"}).json()[
            "state"] == "escalated"
        ids.append(collab_id)
    client.force_login(staff)
    url = "/admin/marketplace/collaboration/"
    page = client.post(url, {"action": "release", "_selected_action": [ids[0]]})
    assert page.status_code == 200 and state(ids[0]) == "escalated"  # the confirmation page first
    client.post(url, {"action": "release", "_selected_action": [ids[0]], "apply": "1", "reason": "Delivered"})
    client.post(url, {"action": "refund", "_selected_action": [ids[1]], "apply": "1", "reason": "Off brief"})
    assert (state(ids[0]), state(ids[1])) == ("released", "refunded")
    assert pending(creator.user) == FEE and held(ids[1]) == 0
    assert AuditEvent.objects.filter(action="collaboration.staff_released", actor=staff, reason="Delivered").exists()


def test_a_large_staff_decision_waits_for_a_second_staff_member(parties, client, nothing_changed):
    """PRODUCT §7: a refund (or release) above ``staff.second_approval_above`` needs two staff."""
    buyer, brand, creator = parties
    first, second = make_user("ana", staff=True), make_user("bo", staff=True)
    for member in (first, second):
        member.is_superuser = True
        member.save(update_fields=["is_superuser"])
    config.set_value(definition=SECOND_APPROVAL_ABOVE, value=FEE - 1, actor=first, reason="for the test")
    collab_id = funded_collaboration(buyer, brand, creator)
    submit(creator, collab_id)
    for _ in range(2):
        post(buyer, f"collaborations/{collab_id}/request-revision/", {"note": "no"})
        submit(creator, collab_id)
    post(buyer, f"collaborations/{collab_id}/escalate/", {"note": "Not what we asked"})
    url = "/admin/marketplace/collaboration/"
    refund = {"action": "refund", "_selected_action": [collab_id], "apply": "1", "reason": "Off brief"}

    client.force_login(first)
    client.post(url, refund)
    assert state(collab_id) == "escalated" and held(collab_id) == FEE  # asked, nothing moved
    assert "refund asked" in client.get(url).content.decode()
    with nothing_changed():  # the same member again: refused, still only asked
        client.post(url, refund)
    assert state(collab_id) == "escalated" and held(collab_id) == FEE

    client.force_login(second)
    with nothing_changed():  # a different decision is refused
        client.post(url, {**refund, "action": "release"})
    assert state(collab_id) == "escalated" and held(collab_id) == FEE
    client.post(url, refund)
    assert state(collab_id) == "refunded" and held(collab_id) == 0 and pending(creator.user) == 0
    approval = StaffApproval.objects.get(subject=f"collaboration:{collab_id}")
    assert (approval.requested_by, approval.decided_by, approval.status) == (first, second, "confirmed")


def test_a_creator_who_is_also_a_member_of_the_brand_cannot_answer_their_own_counter_offer(
        parties, nothing_changed, client):
    from creatornext.accounts.models import BrandMembership

    buyer, brand, creator = parties
    BrandMembership.objects.create(brand=brand, user=creator.user, role=BrandMembership.Role.MANAGER)
    campaign = make_campaign(buyer, brand)
    inv_id = invite(buyer, campaign["id"], "ana.cooks", 40_000).json()["id"]
    assert post(creator.user, f"invitations/{inv_id}/counter/", {"fee": usd(FEE)}).status_code == 200
    client.force_login(creator.user)
    with nothing_changed():  # neither through the API nor through the brand's campaign page
        for action in ("accept-counter", "decline-counter"):
            assert post(creator.user, f"invitations/{inv_id}/{action}/").status_code == 403
            page = client.post(f"/marketplace/campaigns/{campaign['id']}/",
                               {"action": action, "invitation": inv_id}, follow=True)
            assert "Only the brand can answer your counter-offer." in page.content.decode()
    assert Invitation.objects.get(pk=inv_id).state == "countered" and not Collaboration.objects.exists()
    assert post(buyer, f"invitations/{inv_id}/accept-counter/").status_code == 200  # the brand can


def test_invitation_expiry_and_a_counter_offer_restarts_the_seven_days(parties, nothing_changed):
    buyer, brand, creator = parties
    campaign = make_campaign(buyer, brand)
    first = invite(buyer, campaign["id"], "ana.cooks").json()["id"]
    assert campaigns.invitations_expire(now=timezone.now() + 6 * DAY) == 0
    assert campaigns.invitations_expire(now=timezone.now() + 7 * DAY + datetime.timedelta(seconds=5)) == 1
    assert Invitation.objects.get(pk=first).state == "expired"
    with nothing_changed():
        late = post(creator.user, f"invitations/{first}/accept/")
        assert (late.status_code, late.json()["error"]["code"]) == (409, "invalid_state")

    second = invite(buyer, campaign["id"], "ana.cooks").json()["id"]
    Invitation.objects.filter(pk=second).update(expires_at=timezone.now() + datetime.timedelta(hours=1))  # day 7
    post(creator.user, f"invitations/{second}/counter/", {"fee": usd(60_000)})
    expires = Invitation.objects.get(pk=second).expires_at
    assert expires > timezone.now() + 7 * DAY - datetime.timedelta(minutes=1)
    assert campaigns.invitations_expire(now=timezone.now() + 6 * DAY) == 0
    declined = post(buyer, f"invitations/{second}/decline-counter/")
    assert declined.json()["state"] == "declined"
    assert not Collaboration.objects.exists()


def test_refusals(parties, nothing_changed):
    buyer, brand, creator = parties
    unverified_user, unverified = brand_member("newco", verified=False)
    not_enrolled = listed_creator("ben.bakes", enrolled=False)
    campaign = make_campaign(buyer, brand)
    draft = make_campaign(unverified_user, unverified)  # drafting needs no verification
    with nothing_changed():
        refused = invite(unverified_user, draft["id"], "ana.cooks")
        assert (refused.status_code, refused.json()["error"]["code"]) == (403, "brand_unverified")
        refused = invite(buyer, campaign["id"], "ben.bakes")
        assert (refused.status_code, refused.json()["error"]["code"]) == (409, "not_eligible")
        for fee, field in ((999, "fee"), (300_000, "fee"), (10**9, "fee")):
            bad = invite(buyer, campaign["id"], "ana.cooks", fee)
            assert bad.status_code == 400 and field in bad.json()["error"]["fields"], bad.content
        assert invite(buyer, campaign["id"], "nobody").status_code == 400
        assert invite(buyer, draft["id"], "ana.cooks").status_code == 404  # not buyer's campaign
        bad = post(buyer, "campaigns/", {"brand": brand.pk, "title": "x", "deliverables": ["poster"],
                                         "budget": usd(100), "deadline": "2030-01-01T00:00:00Z"})
        assert bad.status_code == 400 and "deliverables.0" in bad.json()["error"]["fields"]
        bad = post(buyer, "campaigns/", {"brand": brand.pk, "title": "x", "deliverables": ["video"],
                                         "budget": usd(100), "deadline": "2020-01-01T00:00:00Z"})
        assert bad.status_code == 400 and {"budget", "deadline"} <= set(bad.json()["error"]["fields"])
    assert not_enrolled.invitations.count() == 0
    inv = invite(buyer, campaign["id"], "ana.cooks").json()["id"]
    with nothing_changed():
        assert invite(buyer, campaign["id"], "ana.cooks").status_code == 409  # already invited
    collab_id = post(creator.user, f"invitations/{inv}/accept/").json()["collaboration"]
    with nothing_changed():
        assert post(creator.user, f"invitations/{inv}/decline/").status_code == 409
        assert fund(creator.user, collab_id).status_code == 403  # the creator does not fund
        assert post(buyer, f"collaborations/{collab_id}/fund/", {}).status_code == 400
        no_key = api_client(buyer).post(f"/api/v1/collaborations/{collab_id}/fund/",
                                        {"payment_method": "pm_card_visa"}, format="json")
        assert no_key.json()["error"]["code"] == "idempotency_key_required"
    fund(buyer, collab_id)
    with nothing_changed():
        assert submit(creator, collab_id, "not a link").status_code == 400
        assert submit(creator, collab_id, "javascript:alert(1)").status_code == 400
        assert post(buyer, f"collaborations/{collab_id}/submit/", {"url": "https://x.example/v"}).status_code == 403


def test_messages_thread_between_the_parties_only(parties):
    buyer, brand, creator = parties
    collab_id = accepted_collaboration(buyer, brand, creator)
    assert post(buyer, f"collaborations/{collab_id}/messages/", {"body": "Hi Ana!"}).status_code == 201
    assert post(creator.user, f"collaborations/{collab_id}/messages/", {"body": "Hello"}).status_code == 201
    assert post(make_user("nosy"), f"collaborations/{collab_id}/messages/", {"body": "x"}).status_code == 404
    thread = api_client(creator.user).get(f"/api/v1/collaborations/{collab_id}/messages/").json()["results"]
    assert [m["body"] for m in thread] == ["Hello", "Hi Ana!"]
    assert OutboundEmail.objects.filter(to=[creator.user.email], subject__startswith="New message").count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_approvals_release_once_and_submit_races_cancel(fake_stripe):
    from tests.support.concurrency import run_together

    seed_defaults()
    buyer, brand = brand_member("buyer")
    creator = listed_creator("ana.cooks")
    collab_id = funded_collaboration(buyer, brand, creator)
    submit(creator, collab_id)
    results = run_together(3, lambda i: post(buyer, f"collaborations/{collab_id}/approve/", key=f"a{i}"))
    assert sorted(r.status_code for r in results) == [200, 409, 409]
    assert pending(creator.user) == FEE

    raced = funded_collaboration(buyer, brand, creator)
    results = run_together(2, lambda i: submit(creator, raced) if i == 0 else post(
        buyer, f"collaborations/{raced}/cancel/"))
    assert sorted(r.status_code for r in results) == [200, 409]
    final = state(raced)
    assert final in ("submitted", "refunded")
    assert held(raced) == (FEE if final == "submitted" else 0)


@pytest.mark.django_db(transaction=True)
def test_a_cancel_racing_the_dispute_webhook_neither_deadlocks_nor_loses_money(fake_stripe):
    """The brand cancels (collaboration, then its payment) while the provider's dispute arrives
    (payment, then collaboration): both take the payment row first, so neither is aborted."""
    from creatornext.payments import services as payments
    from tests.support.concurrency import run_together

    seed_defaults()
    buyer, brand = brand_member("buyer")
    creator = listed_creator("ana.cooks")
    for _ in range(6):
        collab_id = funded_collaboration(buyer, brand, creator)
        payment_id = Collaboration.objects.get(pk=collab_id).payment_id

        def act(i, collab_id=collab_id, payment_id=payment_id):
            if i == 0:
                return post(buyer, f"collaborations/{collab_id}/cancel/", key=f"c{collab_id}").status_code
            payments.apply_dispute(payment_id=payment_id, dispute_id=f"dp_{payment_id}", closed_status=None,
                                   source="race")
            return "disputed"

        (cancel_status,) = [r for r in run_together(2, act) if r != "disputed"]
        assert cancel_status in (200, 409), cancel_status  # refunded first, or already disputed
        assert state(collab_id) in ("refunded", "disputed")


def test_reconciliation_checks_escrow_payments_and_refunds_against_the_ledger(parties):
    from creatornext.payouts import reconciliation
    from creatornext.payouts.models import Mismatch

    buyer, brand, creator = parties
    kept = funded_collaboration(buyer, brand, creator)
    refunded = funded_collaboration(buyer, brand, creator)
    post(buyer, f"collaborations/{refunded}/cancel/")
    run = reconciliation.reconcile()
    assert run.checked["escrow"] == 2
    assert not run.mismatches.filter(ref__startswith="payment:").exists(), list(run.mismatches.values())

    # A refund the ledger never saw (recorded on the payment only) is reported.
    payment = Collaboration.objects.get(pk=kept).payment
    Payment.objects.filter(pk=payment.pk).update(refunded_amount=1_000)
    run = reconciliation.reconcile()
    assert list(run.mismatches.filter(ref=f"payment:{payment.pk}").values_list("kind", flat=True)) == [
        Mismatch.Kind.LEDGER_MISMATCH]
    Payment.objects.filter(pk=payment.pk).update(refunded_amount=0)


@pytest.mark.parametrize("refund_first", [True, False])
def test_a_dispute_won_around_a_full_refund_posts_only_what_was_disputed(parties, refund_first,
                                                                        django_capture_on_commit_callbacks):
    """Found by the stateful money-flow test: a dispute won after a full refund (or opened after
    one) posted a zero or single-entry transaction, so the webhook failed for ever."""
    from django.test import Client

    from tests.support.stripe import charge_refunded, deliver, dispute

    buyer, brand, creator = parties
    collab_id = funded_collaboration(buyer, brand, creator)
    payment = Collaboration.objects.get(pk=collab_id).payment

    def send(evt):
        with django_capture_on_commit_callbacks(execute=True):
            assert deliver(Client(), evt, "whsec_creatornext_local").status_code == 200

    events = [charge_refunded(payment, payment.amount), dispute(payment)]
    for evt in events if refund_first else events[::-1]:
        send(evt)
    escrow_before = held(collab_id)
    send(dispute(payment, "charge.dispute.closed", status="won"))
    took = Transaction.objects.get(kind="escrow_dispute")
    won = Transaction.objects.filter(kind="escrow_dispute_won").first()
    if refund_first:  # nothing was disputed: the provider returns nothing, escrow paid nothing
        assert took.metadata["disputed"] == 0 and took.metadata["from_escrow"] == 0
        assert won is None
    else:  # the disputed gross comes back; escrow gets what the dispute took from it
        legs = {e.account.kind: e.amount for e in won.entries.select_related("account")}
        assert legs["provider_inflow"] == -payment.amount
        assert held(collab_id) == escrow_before + took.metadata["from_escrow"]


def test_a_chargeback_takes_escrow_back_and_freezes_the_collaboration(parties, django_capture_on_commit_callbacks,
                                                                       nothing_changed):
    from django.test import Client

    from creatornext.payments.config import DISPUTE_FEE
    from tests.support.stripe import deliver, dispute

    buyer, brand, creator = parties
    collab_id = funded_collaboration(buyer, brand, creator)
    submit(creator, collab_id)
    payment = Collaboration.objects.get(pk=collab_id).payment

    def send(evt):
        with django_capture_on_commit_callbacks(execute=True):
            assert deliver(Client(), evt, "whsec_creatornext_local").status_code == 200

    send(dispute(payment))
    assert state(collab_id) == "disputed" and held(collab_id) == 0
    legs = {e.account.kind: e.amount for e in Transaction.objects.get(kind="escrow_dispute").entries.all()}
    out = payment.amount + config.get(DISPUTE_FEE)
    assert legs == {"provider_inflow": out, "escrow": -FEE, "losses": -(out - FEE)}
    with nothing_changed():  # nothing to approve, and the auto-approval leaves it alone
        assert post(buyer, f"collaborations/{collab_id}/approve/").status_code == 409
        assert escrow.auto_approve_due(now=timezone.now() + 30 * DAY) == 0
    send(dispute(payment, "charge.dispute.closed", status="won"))
    assert held(collab_id) == FEE  # back in escrow; staff decide
    escrow.staff_release(collaboration=Collaboration.objects.get(pk=collab_id),
                         actor=make_user("judge", staff=True), reason="Dispute won, video delivered")
    assert pending(creator.user) == FEE and held(collab_id) == 0


def test_a_collaboration_holds_its_own_escrow_found_through_the_escrow_postings_index(parties):
    """The escrow account is shared by every collaboration: what one holds is the sum of its own
    postings, read through the partial index of escrow postings' refs rather than by walking
    every escrow entry (or every transaction) there is."""
    buyer, brand, creator = parties
    first = funded_collaboration(buyer, brand, creator)
    other = listed_creator("ben.bakes")
    second = funded_collaboration(buyer, brand, other, fee=70_000)
    assert (held(first), held(second)) == (FEE, 70_000)
    escrow_account = platform_account(AccountKind.ESCROW, "USD")
    assert sum(Entry.objects.filter(account=escrow_account).values_list("amount", flat=True)) == FEE + 70_000

    entries = escrow.escrow_entries(Collaboration.objects.get(pk=first))
    with connection.cursor() as cursor:
        # Two collaborations are too few rows for the planner to prefer any index: forbid the
        # other ways in, so the plan shows whether the query can use the partial index at all
        # (it can only when the query repeats the index's condition on the kind).
        for switch in ("enable_seqscan", "enable_bitmapscan"):
            cursor.execute(f"SET LOCAL {switch} = off")
        plan = entries.explain()
    assert "ledger_transaction_escrow_ref" in plan, plan


@pytest.mark.parametrize(("call", "field", "text"), [
    ("submit", "url", "https://video.example/" + "v" * 600),
    ("submit", "url", "https://video.example/a\x00b"),
    ("message", "body", "x" * 2001),
    ("message", "body", "hi\x00"),
    ("cancel", "reason", "r" * 501),
])
def test_escrow_services_refuse_text_the_database_would_refuse(parties, nothing_changed, call, field, text):
    """Every way in (API, pages, anything else) passes the services, which hold the limits too: a
    clear error on the field, never a database error, and nothing written."""
    from django.core.exceptions import ValidationError

    buyer, brand, creator = parties
    collab_id = funded_collaboration(buyer, brand, creator)
    collaboration = Collaboration.objects.get(pk=collab_id)
    action = {"submit": lambda: escrow.collaboration_submit(collaboration=collaboration, actor=creator.user, url=text),
              "message": lambda: escrow.message_post(collaboration=collaboration, actor=buyer, body=text),
              "cancel": lambda: escrow.collaboration_cancel(collaboration=collaboration, actor=buyer, reason=text)}
    with nothing_changed(), pytest.raises(ValidationError) as refused:
        action[call]()
    assert list(refused.value.message_dict) == [field]
