"""A payment that failed and later succeeds is credited once — or refunded, never dropped.

Stripe: a PaymentIntent whose attempt failed returns to ``requires_payment_method``; the payer can
still complete it (another card, 3-D Secure again) and ``payment_intent.succeeded`` follows.
localstripe does the same: a 3-D Secure card whose authentication failed, then another payment
method and a confirmation, on the same PaymentIntent.
"""

from __future__ import annotations

import time

import pytest

from creatornext.audit.models import AuditEvent
from creatornext.ledger import selectors
from creatornext.ledger.checks import ledger_check
from creatornext.ledger.models import Transaction
from creatornext.money import Money
from creatornext.payments import provider, services
from creatornext.payments.models import Payment, PaymentStatus, Refund, WebhookEvent
from tests.creatornext.payments.conftest import calls
from tests.support import state
from tests.support.stripe import authenticate, card, charge_refunded, event, pi_succeeded
from tests.support.world import make_user

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fake_stripe")]


def failed_payment(ref: str | None = None) -> Payment:
    """A payment whose 3-D Secure authentication failed: ``failed`` for us, ``requires_payment_method``
    at the provider."""
    fan, creator = make_user(f"fan{time.time_ns()}"), make_user(f"cr{time.time_ns()}")
    payment = services.payment_create(purpose="test_payment", ref=ref or f"test:{time.time_ns()}", payer=fan,
                                      amount=Money(1000, "USD"), payment_method=card("4000002500003155"),
                                      metadata={"creator_id": creator.pk})
    assert payment.status == PaymentStatus.REQUIRES_ACTION
    authenticate(payment, success=False)
    payment = services.payment_refresh(payment=payment)
    assert (payment.status, payment.failure_code) == (PaymentStatus.FAILED, "payment_intent_authentication_failure")
    return payment


def the_payer_completes_it(payment: Payment) -> None:
    """Another card on the same PaymentIntent, confirmed: it succeeds at the provider, with a new
    charge (``payment`` is given its id, as the provider's events about it carry it)."""
    stripe_client = provider.client()
    stripe_client.v1.payment_intents.update(payment.provider_id, {"payment_method": "pm_card_visa"})
    pi = stripe_client.v1.payment_intents.confirm(payment.provider_id)
    assert pi["status"] == "succeeded"
    payment.charge_id = pi["latest_charge"]["id"]  # in memory only: we have not heard of it yet


def pending_cash(payment) -> int:
    from creatornext.accounts.models import User

    cash = selectors.wallet(User.objects.get(pk=payment.metadata["creator_id"]))["cash"]
    return cash[0]["pending"] if cash else 0


def delivered(send, evt) -> None:
    assert send(evt).status_code == 200
    stored = WebhookEvent.objects.get(event_id=evt["id"])
    assert stored.status == WebhookEvent.Status.PROCESSED, stored.last_error


def payment_failed(payment: Payment) -> dict:
    return event("payment_intent.payment_failed", {
        "id": payment.provider_id, "object": "payment_intent", "status": "requires_payment_method",
        "metadata": {"payment_id": str(payment.pk)},
        "last_payment_error": {"code": "payment_intent_authentication_failure", "message": "failed"}})


@pytest.mark.parametrize("order", [("webhook", "refresh", "stale failure"), ("refresh", "stale failure", "webhook"),
                                   ("stale failure", "webhook", "refresh")])
def test_a_failed_payment_that_succeeds_later_is_credited_once(send, order):
    payment = failed_payment()
    assert calls() == [] and pending_cash(payment) == 0
    the_payer_completes_it(payment)
    succeeded, failed_again = pi_succeeded(payment), payment_failed(payment)  # fee: asked for
    for step in order + order:
        if step == "webhook":
            delivered(send, succeeded)
        elif step == "stale failure":  # the first attempt's event, arriving late
            delivered(send, failed_again)
        else:
            services.payment_refresh(payment=payment)
    payment.refresh_from_db()
    assert (payment.status, payment.fee, payment.failure_code) == (PaymentStatus.SUCCEEDED, 59, "")
    assert [h.to_status for h in payment.history.all()] == ["requires_action", "failed", "succeeded"]
    assert calls() == [("succeeded", payment.pk)]
    assert Transaction.objects.filter(key=f"testpay:{payment.pk}:captured").count() == 1
    assert pending_cash(payment) == 941
    audit = AuditEvent.objects.get(action="payment.succeeded_after_failure")
    assert audit.before["failure_code"] == "payment_intent_authentication_failure"
    # Now an ordinary succeeded payment: refundable, and reconciled like any other
    assert services.refundable(payment)[1] == 1000
    assert ledger_check() == []


def test_a_refund_of_a_failed_payment_first_applies_the_success_it_implies(send):
    payment = failed_payment()
    the_payer_completes_it(payment)
    for evt in [charge_refunded(payment, 1000), pi_succeeded(payment)] * 2:
        delivered(send, evt)
    payment.refresh_from_db()
    assert (payment.status, payment.refunded_amount) == (PaymentStatus.REFUNDED, 1000)
    assert calls() == [("succeeded", payment.pk), ("refunded", payment.pk)]
    assert pending_cash(payment) == 0
    assert ledger_check() == []


def test_a_late_success_for_something_paid_again_is_refunded_not_credited(send):
    """A collaboration funded again after a failed payment, say: the failed one's late success
    would pay for it twice, and the feature's once-only key would swallow its money."""
    ref = f"test:again:{time.time_ns()}"
    first = failed_payment(ref)
    again = services.payment_create(purpose="test_payment", ref=ref, payer=first.payer, amount=Money(1000, "USD"),
                                    payment_method="pm_card_visa", metadata=first.metadata)
    assert again.status == PaymentStatus.SUCCEEDED and calls() == [("succeeded", again.pk)]
    the_payer_completes_it(first)
    before = state.snapshot()
    succeeded = pi_succeeded(first)
    delivered(send, succeeded)
    delivered(send, succeeded)
    services.payment_refresh(payment=first)
    rows = before["rows"]
    assert state.diff(before, state.snapshot()) == [
        f"table audit_auditevent: {rows['audit_auditevent']} → {rows['audit_auditevent'] + 1} rows",
        f"table payments_webhookevent: {rows['payments_webhookevent']} → {rows['payments_webhookevent'] + 1} rows"]
    first.refresh_from_db()
    assert first.status == PaymentStatus.FAILED and calls() == [("succeeded", again.pk)]
    refunds = provider.client().v1.refunds.list({"payment_intent": first.provider_id}).data
    assert [(r["amount"], r["status"]) for r in refunds] == [(1000, "succeeded")]  # the payer's money back, once
    assert first.metadata["late_success"]["refund"] == refunds[0]["id"]
    assert first.metadata["late_success"]["others"] == [again.pk]
    assert AuditEvent.objects.get(action="payment.late_success_refunded").object_id == str(first.pk)
    # That refund's own events book nothing: nothing was credited
    before = state.snapshot()
    for evt in [charge_refunded(first, 1000), event("refund.created", {
            "id": refunds[0]["id"], "object": "refund", "amount": 1000, "status": "succeeded",
            "payment_intent": first.provider_id, "charge": first.charge_id, "metadata": {}})] * 2:
        delivered(send, evt)
    assert state.diff(before, state.snapshot()) == [
        f"table payments_webhookevent: {rows['payments_webhookevent'] + 1} → {rows['payments_webhookevent'] + 3} rows"]
    assert not Refund.objects.filter(payment=first).exists()
    assert ledger_check() == []
