"""Webhooks: R4 (duplicates, every order), R5 (confirmation and webhook racing), R6 (signatures),
R16 (a failing handler is retried until it succeeds)."""

from __future__ import annotations

import itertools
import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from creatornext.core import config
from creatornext.ledger import selectors
from creatornext.ledger.models import Transaction
from creatornext.payments import provider, services
from creatornext.payments.models import Payment, PaymentStatus, WebhookEvent
from creatornext.payments.provider import ProviderPayment
from creatornext.payments.webhooks import webhook_events_retry_due
from tests.creatornext.payments import conftest as purpose
from tests.support.concurrency import failures_of
from tests.support.stripe import charge_refunded, deliver, dispute, event, pi_succeeded, sign
from tests.support.world import make_user

SECRET = "whsec_creatornext_local"


def new_payment(amount=1000) -> Payment:
    """A payment we recorded, that the (fake) provider really charged, whose outcome we have not
    applied yet: events about it can then arrive in any order. Fees come from the provider."""
    fan, creator = make_user(f"fan{time.time_ns()}"), make_user(f"cr{time.time_ns()}")
    payment = Payment.objects.create(purpose="test_payment", ref="test:1", payer=fan, amount=amount,
                                     currency="USD", metadata={"creator_id": creator.pk})
    charged = provider.create_payment(payment, "pm_card_visa")
    payment.provider_id, payment.charge_id = charged.id, charged.charge_id
    payment.save()
    return payment


@pytest.fixture(autouse=True)
def _provider(fake_stripe):
    return fake_stripe


def creator_of(payment):
    from creatornext.accounts.models import User

    return User.objects.get(pk=payment.metadata["creator_id"])


# --- R6: signatures ----------------------------------------------------------------------------
@pytest.mark.django_db
@pytest.mark.parametrize("attack", ["missing", "wrong_secret", "too_old", "byte_changed"])
def test_bad_signatures_are_400_and_change_nothing(attack, nothing_changed):
    payment = new_payment()
    evt = pi_succeeded(payment, fee=30)
    payload = __import__("json").dumps(evt).encode()
    headers = {"HTTP_STRIPE_SIGNATURE": sign(payload, SECRET)}
    if attack == "missing":
        headers = {}
    elif attack == "wrong_secret":
        headers = {"HTTP_STRIPE_SIGNATURE": sign(payload, "whsec_attacker")}
    elif attack == "too_old":
        headers = {"HTTP_STRIPE_SIGNATURE": sign(payload, SECRET, int(time.time()) - 301)}
    elif attack == "byte_changed":
        payload = payload.replace(b'"fee": 30', b'"fee": 31')
    with nothing_changed():
        response = Client().post("/webhooks/stripe/", payload, content_type="application/json", **headers)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_signature"


@pytest.mark.django_db
def test_two_secrets_are_accepted_during_rotation(settings, send):
    settings.STRIPE_WEBHOOK_SECRETS = ["whsec_new", "whsec_old"]
    for secret in ("whsec_new", "whsec_old"):
        payment = new_payment()
        assert send(pi_succeeded(payment), secret).status_code == 200
        payment.refresh_from_db()
        assert payment.status == PaymentStatus.SUCCEEDED
    assert send(pi_succeeded(new_payment()), "whsec_retired").status_code == 400


# --- fees ----------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_a_non_zero_fee_is_stored_and_gross_minus_fee_is_net(send):
    payment = new_payment(amount=2000)
    send(pi_succeeded(payment, fee=88))
    payment.refresh_from_db()
    assert (payment.amount, payment.fee, payment.net) == (2000, 88, 1912)
    assert selectors.wallet(creator_of(payment))["cash"][0]["pending"] == 1912


# --- R4: duplicates and every order -------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_the_same_event_delivered_10_times_concurrently_has_one_effect():
    payment = new_payment()
    evt = pi_succeeded(payment)
    barrier = threading.Barrier(10)
    statuses = []

    def deliver_once():
        barrier.wait()
        try:
            statuses.append(deliver(Client(), evt, SECRET).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver_once) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses == [200] * 10
    assert WebhookEvent.objects.filter(event_id=evt["id"]).count() == 1
    assert Transaction.objects.filter(key=f"testpay:{payment.pk}:captured").count() == 1
    assert selectors.wallet(creator_of(payment))["cash"][0]["pending"] == 941


def final_state(payment):
    payment.refresh_from_db()
    cash = selectors.wallet(creator_of(payment))["cash"]
    return payment.status, payment.refunded_amount, payment.fee, cash[0] if cash else None


@pytest.mark.django_db
def test_every_order_of_a_payments_events_ends_in_the_same_state(send):
    outcomes = set()
    for order in itertools.permutations(["succeeded", "refunded", "dispute"]):
        for delivery in (order, order + order):  # once, and everything twice
            payment = new_payment()
            events = {"succeeded": pi_succeeded(payment),
                      "refunded": charge_refunded(payment, 1000),
                      "dispute": dispute(payment)}
            for name in delivery:
                assert send(events[name]).status_code == 200
            state = final_state(payment)
            outcomes.add((*state[:3], tuple(sorted(state[3].items()))))
            assert Transaction.objects.filter(key=f"testpay:{payment.pk}:captured").count() == 1
    assert len(outcomes) == 1, outcomes
    status, refunded, fee, cash = outcomes.pop()
    assert (status, refunded, fee) == (PaymentStatus.REFUNDED, 1000, 59)  # fee from the provider
    assert dict(cash)["pending"] == 0


@pytest.mark.django_db
def test_a_refund_before_the_success_it_implies_credits_then_takes_back_once(send):
    payment = new_payment()
    send(charge_refunded(payment, 1000))
    send(pi_succeeded(payment))
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.REFUNDED
    assert [c[0] for c in purpose.CALLS] == ["succeeded", "refunded"]
    assert [h.to_status for h in payment.history.all()] == ["succeeded", "refunded"]


# --- R5: confirmation response and webhook together ---------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_confirmation_and_webhook_racing_credit_exactly_once_100_times():
    payments = [new_payment() for _ in range(100)]
    failures: list[BaseException] = []
    for payment in payments:
        barrier = threading.Barrier(2)

        def confirm(p=payment, barrier=barrier):
            barrier.wait()
            services.apply_provider_state(payment_id=p.pk, source="confirm", result=ProviderPayment(
                id=p.provider_id, status="succeeded", charge_id=p.charge_id, fee=59))

        def webhook(p=payment, barrier=barrier):
            barrier.wait()
            status = deliver(Client(), pi_succeeded(p), SECRET).status_code
            assert status == 200, status

        failures += failures_of(confirm, webhook)  # raised in a thread: fails the test
    assert failures == []
    for payment in payments:
        assert Transaction.objects.filter(key=f"testpay:{payment.pk}:captured").count() == 1
        assert selectors.wallet(creator_of(payment))["cash"][0]["pending"] == 941
        assert Payment.objects.get(pk=payment.pk).history.count() == 1


# --- R16: a failing handler is retried until it succeeds ------------------------------------------
@pytest.mark.django_db
def test_a_failing_handler_is_recorded_and_retried_with_backoff_until_it_succeeds(monkeypatch, send):
    payment = new_payment()
    failures = {"left": 2}
    original = purpose.on_succeeded

    def flaky(p):
        if failures["left"]:
            failures["left"] -= 1
            raise RuntimeError("ledger unavailable")
        original(p)

    handlers = services.handlers_for("test_payment")
    monkeypatch.setitem(services._HANDLERS, "test_payment",
                        services.PurposeHandlers(**{**handlers.__dict__, "on_succeeded": flaky}))
    evt = pi_succeeded(payment)
    assert send(evt).status_code == 200  # stored: the provider stops resending
    stored = WebhookEvent.objects.get(event_id=evt["id"])
    assert (stored.status, stored.attempts) == ("failed", 1)
    assert "ledger unavailable" in stored.last_error
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.CREATED  # the failed attempt left nothing behind

    # Not yet due: nothing happens
    assert webhook_events_retry_due(now=timezone.now()) == 0
    # Due: retried, fails again, backs off further
    assert webhook_events_retry_due(now=stored.next_attempt_at) == 1
    stored.refresh_from_db()
    first_backoff = stored.next_attempt_at
    assert (stored.status, stored.attempts) == ("failed", 2)
    # Then succeeds
    webhook_events_retry_due(now=first_backoff + timedelta(seconds=1))
    stored.refresh_from_db()
    assert (stored.status, stored.attempts) == ("processed", 3)
    assert selectors.wallet(creator_of(payment))["cash"][0]["pending"] == 941


@pytest.mark.django_db
def test_events_for_payments_that_are_not_ours_are_ignored_not_failed(send):
    evt = event("payment_intent.succeeded", {"id": "pi_unknown", "metadata": {}})
    assert send(evt).status_code == 200
    assert WebhookEvent.objects.get(event_id=evt["id"]).status == "ignored"


@pytest.mark.django_db
def test_an_event_whose_metadata_names_no_row_of_ours_is_applied_by_the_provider_ids(send):
    """The metadata id is tried first (no look-up); when it names no row, the provider's ids find
    the payment (an id written by another system on the same provider account, say)."""
    payment = new_payment(amount=2000)
    evt = pi_succeeded(payment, fee=88)
    evt["data"]["object"]["metadata"] = {"payment_id": str(payment.pk + 1000)}
    assert send(evt).status_code == 200
    assert WebhookEvent.objects.get(event_id=evt["id"]).status == "processed"
    payment.refresh_from_db()
    assert (payment.status, payment.fee) == ("succeeded", 88)
    assert selectors.wallet(creator_of(payment))["cash"][0]["pending"] == 1912


def _charge_without_a_payment_row(payment_id: str):
    """What a request leaves behind when its transaction rolls back after the provider charged."""
    return provider.client().v1.payment_intents.create({
        "amount": 1300, "currency": "usd", "payment_method": "pm_card_visa", "confirm": True,
        "metadata": {"payment_id": payment_id, "purpose": "tip", "ref": "tip:rolled-back"}})


@pytest.mark.django_db
def test_a_charge_whose_payment_row_never_appears_is_refunded_once_after_the_grace_period(send):
    from creatornext.audit.models import AuditEvent
    from creatornext.payments.config import UNRECORDED_REFUND_AFTER
    from creatornext.payments.webhooks import webhook_event_process

    pi = _charge_without_a_payment_row("987654320")
    evt = event("payment_intent.succeeded", {"id": pi["id"], "amount": 1300, "currency": "usd",
                                             "metadata": {"payment_id": "987654320"}})
    send(evt)
    stored = WebhookEvent.objects.get(event_id=evt["id"])
    assert stored.status == "failed"  # maybe its request has not committed yet: retried, not refunded
    grace = timedelta(minutes=config.get(UNRECORDED_REFUND_AFTER))
    WebhookEvent.objects.filter(pk=stored.pk).update(received_at=timezone.now() - grace + timedelta(minutes=1))
    assert webhook_event_process(event_pk=stored.pk).status == "failed"
    assert not provider.client().v1.refunds.list({"payment_intent": pi["id"]}).data

    WebhookEvent.objects.filter(pk=stored.pk).update(received_at=timezone.now() - grace)
    assert webhook_event_process(event_pk=stored.pk).status == "processed"
    refunds = provider.client().v1.refunds.list({"payment_intent": pi["id"]}).data
    assert [(r["amount"], r["status"]) for r in refunds] == [(1300, "succeeded")]
    audit = AuditEvent.objects.get(action="payment.unrecorded_refunded")
    assert audit.after["payment_intent"] == pi["id"] and audit.after["amount"] == 1300
    # Processed: delivered again, nothing more happens; and nothing was ever credited
    send(evt)
    assert len(provider.client().v1.refunds.list({"payment_intent": pi["id"]}).data) == 1
    assert not Transaction.objects.exists()


@pytest.mark.django_db
def test_an_event_for_our_payment_that_is_not_committed_yet_is_retried_not_lost(send):
    evt = event("payment_intent.succeeded", {"id": "pi_later", "metadata": {"payment_id": "987654321"}})
    send(evt)
    stored = WebhookEvent.objects.get(event_id=evt["id"])
    assert stored.status == "failed" and "not found (yet)" in stored.last_error
    assert stored.next_attempt_at is not None
