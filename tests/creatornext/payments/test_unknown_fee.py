"""A success whose processor fee the provider has not reported yet credits nothing until it has.

A charge's fee is on its balance transaction; until the charge has one (with localstripe: a
PaymentIntent with manual capture, not captured yet) the fee is unknown. It stays unknown (None):
nothing is credited with a guessed fee of 0, the event is retried, and the first fee the provider
reports is the one the credit is booked with, once.
"""

from __future__ import annotations

import time

import pytest

from creatornext.ledger import selectors
from creatornext.ledger.checks import ledger_check
from creatornext.ledger.models import Transaction
from creatornext.payments import provider
from creatornext.payments.models import Payment, PaymentStatus, WebhookEvent
from creatornext.payments.webhooks import webhook_event_process, webhook_event_store, webhook_events_drain
from tests.creatornext.payments.conftest import calls
from tests.support import state
from tests.support.stripe import charge_refunded, pi_succeeded
from tests.support.world import make_user

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fake_stripe")]


def charged_without_a_balance_transaction() -> Payment:
    """A payment the provider authorised and has not captured: its charge has no balance
    transaction, so no fee, yet."""
    fan, creator = make_user(f"fan{time.time_ns()}"), make_user(f"cr{time.time_ns()}")
    payment = Payment.objects.create(purpose="test_payment", ref=f"test:{time.time_ns()}", payer=fan, amount=1000,
                                     currency="USD", metadata={"creator_id": creator.pk})
    pi = provider.client().v1.payment_intents.create({
        "amount": 1000, "currency": "usd", "payment_method": "pm_card_visa", "confirm": True,
        "capture_method": "manual", "metadata": {"payment_id": str(payment.pk)}})
    payment.provider_id, payment.charge_id = pi["id"], pi["latest_charge"]["id"]
    payment.save()
    assert provider.fee_for_charge(payment.charge_id) is None
    return payment


def the_balance_transaction_appears(payment: Payment) -> None:
    provider.client().v1.payment_intents.capture(payment.provider_id)
    assert provider.fee_for_charge(payment.charge_id) == 59


def pending_cash(payment) -> int:
    from creatornext.accounts.models import User

    cash = selectors.wallet(User.objects.get(pk=payment.metadata["creator_id"]))["cash"]
    return cash[0]["pending"] if cash else 0


def retried(evt) -> WebhookEvent:
    stored = WebhookEvent.objects.get(event_id=evt["id"])
    return webhook_event_process(event_pk=stored.pk)


@pytest.mark.parametrize("first", ["succeeded", "refunded"])
def test_an_unknown_fee_credits_nothing_until_the_provider_reports_it_then_once(send, first):
    payment = charged_without_a_balance_transaction()
    succeeded = pi_succeeded(payment)  # no fee in the event: it is asked for, and there is none
    refunded = charge_refunded(payment, 1000)  # implies the success, as well
    events = {"succeeded": succeeded, "refunded": refunded}
    before = state.snapshot()
    send(events[first])
    send(events[first])  # delivered again: stored once
    stored = WebhookEvent.objects.get(event_id=events[first]["id"])
    assert stored.status == WebhookEvent.Status.FAILED and "FeeNotKnown" in stored.last_error
    assert stored.next_attempt_at is not None
    rows = before["rows"]
    assert state.diff(before, state.snapshot()) == [
        f"table payments_webhookevent: {rows['payments_webhookevent']} → {rows['payments_webhookevent'] + 1} rows"]
    payment.refresh_from_db()
    assert (payment.status, payment.fee) == (PaymentStatus.CREATED, None)
    assert retried(events[first]).status == WebhookEvent.Status.FAILED  # still none

    the_balance_transaction_appears(payment)
    assert retried(events[first]).status == WebhookEvent.Status.PROCESSED
    for name in ("succeeded", "refunded", "succeeded", "refunded"):
        send(events[name])
        assert WebhookEvent.objects.get(event_id=events[name]["id"]).status == WebhookEvent.Status.PROCESSED
    payment.refresh_from_db()
    assert (payment.status, payment.fee, payment.refunded_amount) == (PaymentStatus.REFUNDED, 59, 1000)
    assert calls() == [("succeeded", payment.pk), ("refunded", payment.pk)]
    captured = Transaction.objects.get(key=f"testpay:{payment.pk}:captured")
    assert {e.account.kind: e.amount for e in captured.entries.select_related("account")} == {
        "provider_inflow": -1000, "processor_fees": 59, "pending": 941}
    assert pending_cash(payment) == 0
    assert ledger_check() == []


def test_the_fee_a_success_was_credited_with_is_kept_when_another_is_reported_later(send):
    payment = charged_without_a_balance_transaction()
    the_balance_transaction_appears(payment)
    send(pi_succeeded(payment))
    payment.refresh_from_db()
    assert (payment.status, payment.fee, pending_cash(payment)) == (PaymentStatus.SUCCEEDED, 59, 941)
    before = state.snapshot()
    send(pi_succeeded(payment, fee=70))  # another event, another number: the credit stands
    rows = before["rows"]
    assert state.diff(before, state.snapshot()) == [
        f"table payments_webhookevent: {rows['payments_webhookevent']} → {rows['payments_webhookevent'] + 1} rows"]
    payment.refresh_from_db()
    assert payment.fee == 59


def test_the_confirmation_leaves_a_success_without_its_fee_processing():
    from creatornext.payments.provider import ProviderPayment
    from creatornext.payments.services import apply_provider_state

    payment = charged_without_a_balance_transaction()
    result = ProviderPayment(id=payment.provider_id, status="succeeded", charge_id=payment.charge_id)
    apply_provider_state(payment_id=payment.pk, result=result, source="confirm")
    payment.refresh_from_db()
    assert (payment.status, payment.fee, pending_cash(payment)) == (PaymentStatus.PROCESSING, None, 0)
    assert calls() == []
    the_balance_transaction_appears(payment)
    apply_provider_state(payment_id=payment.pk, result=result, source="refresh")
    payment.refresh_from_db()
    assert (payment.status, payment.fee, pending_cash(payment)) == (PaymentStatus.SUCCEEDED, 59, 941)
    assert [h.to_status for h in payment.history.all()] == ["processing", "succeeded"]


def test_a_drain_batch_credits_the_successes_whose_fee_is_known_and_retries_the_other(queued):
    known = charged_without_a_balance_transaction()
    the_balance_transaction_appears(known)
    unknown = charged_without_a_balance_transaction()
    events = [pi_succeeded(known, fee=59), pi_succeeded(unknown), pi_succeeded(known, fee=59)]
    for evt in events:
        webhook_event_store(evt)
    assert webhook_events_drain() == (3, False)
    statuses = [WebhookEvent.objects.get(event_id=e["id"]).status for e in events]
    assert statuses == ["processed", "failed", "processed"]
    assert calls() == [("succeeded", known.pk)]
    unknown.refresh_from_db()
    assert (unknown.status, unknown.fee, pending_cash(unknown)) == (PaymentStatus.CREATED, None, 0)
    the_balance_transaction_appears(unknown)
    assert retried(events[1]).status == "processed"
    unknown.refresh_from_db()
    assert (unknown.status, unknown.fee, pending_cash(unknown)) == (PaymentStatus.SUCCEEDED, 59, 941)
