"""Refunds move money only when the provider says they succeeded.

Stripe's refund ``status`` is ``pending`` / ``requires_action`` / ``succeeded`` / ``failed`` /
``canceled``; a pending one is settled later (``charge.refund.updated``, ``refund.updated``,
``refund.failed``), and even a succeeded one can fail afterwards (the card was closed), when Stripe
puts the money back in our balance. ``charge.refunded``'s ``amount_refunded`` counts pending
refunds too. Each scenario: its events delivered in every order and twice, one ledger effect.
"""

from __future__ import annotations

import itertools
import time

import pytest

from creatornext.audit.models import AuditEvent
from creatornext.ledger import selectors
from creatornext.ledger.checks import ledger_check
from creatornext.ledger.models import AccountKind, Transaction
from creatornext.ledger.services import platform_account
from creatornext.money import Money
from creatornext.payments import provider, services
from creatornext.payments.models import Payment, PaymentStatus, Refund, WebhookEvent
from tests.creatornext.payments import conftest as purpose
from tests.creatornext.payments.conftest import calls
from tests.creatornext.payments.refund_support import provider_answering_pending, refund_event
from tests.support import state
from tests.support.stripe import charge_refunded, pi_succeeded
from tests.support.world import make_user

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fake_stripe")]


@pytest.fixture
def paid(send):
    """A payment of 10.00 the (fake) provider charged, whose success (fee 0.59) we applied."""
    def make() -> Payment:
        fan, creator = make_user(f"fan{time.time_ns()}"), make_user(f"cr{time.time_ns()}")
        payment = Payment.objects.create(purpose="test_payment", ref=f"test:{time.time_ns()}", payer=fan,
                                         amount=1000, currency="USD", metadata={"creator_id": creator.pk})
        charged = provider.create_payment(payment, "pm_card_visa")
        payment.provider_id, payment.charge_id = charged.id, charged.charge_id
        payment.save()
        delivered(send, pi_succeeded(payment, fee=59))
        payment.refresh_from_db()
        assert (payment.status, pending_cash(payment)) == (PaymentStatus.SUCCEEDED, 941)
        purpose.CALLS.clear()
        return payment
    return make


@pytest.fixture
def staff():
    return make_user(f"staff{time.time_ns()}", staff=True)


def delivered(send, evt) -> None:
    assert send(evt).status_code == 200
    stored = WebhookEvent.objects.get(event_id=evt["id"])
    assert stored.status == WebhookEvent.Status.PROCESSED, stored.last_error


def pending_cash(payment) -> int:
    from creatornext.accounts.models import User

    cash = selectors.wallet(User.objects.get(pk=payment.metadata["creator_id"]))["cash"]
    return cash[0]["pending"] if cash else 0


def refund_postings(payment) -> int:
    return Transaction.objects.filter(key__startswith=f"testpay:{payment.pk}:refund:").count()


def ask_pending_refund(payment, staff) -> Refund:
    """Staff refund the payment in full; the provider answers "pending"."""
    with provider_answering_pending():
        refund = services.payment_refund(payment=payment, actor=staff, reason="fan asked")
    assert refund.status == Refund.Status.PENDING and refund.provider_id.startswith("re_pending_")
    return refund


SUCCESS_NEWS = ["charge.refund.updated", "refund.updated", "charge.refunded"]


@pytest.mark.parametrize("order", list(itertools.permutations(SUCCESS_NEWS)))
def test_a_pending_refund_moves_nothing_until_it_succeeds_then_is_booked_once(paid, staff, send, order):
    payment = paid()
    before = state.snapshot()
    refund = ask_pending_refund(payment, staff)
    # Asked for, not done: nothing moved but the refund's own row, and nothing more may be refunded
    assert state.diff(before, state.snapshot()) == [
        f"table payments_refund: {before['rows']['payments_refund']} → {before['rows']['payments_refund'] + 1} rows"]
    payment.refresh_from_db()
    assert (payment.status, payment.refunded_amount, pending_cash(payment)) == (PaymentStatus.SUCCEEDED, 0, 941)
    assert calls() == []
    with pytest.raises(services.RefundRefused):
        services.payment_refund(payment=payment, actor=staff, amount=1)

    events = {
        "charge.refund.updated": refund_event("charge.refund.updated", payment, status="succeeded",
                                              refund_id=refund.provider_id, ours=refund),
        "refund.updated": refund_event("refund.updated", payment, status="succeeded",
                                       refund_id=refund.provider_id, ours=refund),
        # Sent when the refund was made, while it was pending: counts it all the same
        "charge.refunded": charge_refunded(payment, 1000),
    }
    told = False  # of the success
    for name in order + order:  # every order, and everything twice
        delivered(send, events[name])
        told = told or name != "charge.refunded"
        if not told:  # charge.refunded alone (it counts pending refunds): still nothing
            payment.refresh_from_db()
            assert (payment.refunded_amount, pending_cash(payment), refund_postings(payment)) == (0, 941, 0)
    payment.refresh_from_db()
    refund.refresh_from_db()
    assert refund.status == Refund.Status.SUCCEEDED
    assert (payment.status, payment.refunded_amount) == (PaymentStatus.REFUNDED, 1000)
    assert calls() == [("refunded", payment.pk)]
    assert refund_postings(payment) == 1 and pending_cash(payment) == 0
    assert [h.to_status for h in payment.history.all()] == ["succeeded", "refunded"]
    assert ledger_check() == []


@pytest.mark.parametrize(("kind", "status"), [("refund.failed", "failed"),
                                              ("charge.refund.updated", "failed"),
                                              ("refund.updated", "canceled")])
@pytest.mark.parametrize("failure_first", [True, False])
def test_a_pending_refund_that_fails_or_is_canceled_moves_nothing(paid, staff, send, kind, status, failure_first):
    payment = paid()
    refund = ask_pending_refund(payment, staff)
    before = state.snapshot()
    failure = refund_event(kind, payment, status=status, refund_id=refund.provider_id, ours=refund,
                           failure_reason="expired_or_canceled_card" if status == "failed" else None)
    stale = [refund_event("refund.created", payment, status="pending", refund_id=refund.provider_id, ours=refund),
             charge_refunded(payment, 1000)]  # both sent while it was pending
    events = [failure, *stale] if failure_first else [*stale, failure]
    for evt in events + events:
        delivered(send, evt)
    rows = before["rows"]
    assert state.diff(before, state.snapshot()) == [
        f"table audit_auditevent: {rows['audit_auditevent']} → {rows['audit_auditevent'] + 1} rows",
        f"table payments_webhookevent: {rows['payments_webhookevent']} → {rows['payments_webhookevent'] + 3} rows"]
    refund.refresh_from_db()
    payment.refresh_from_db()
    assert refund.status == Refund.Status.FAILED
    assert (payment.status, payment.refunded_amount, pending_cash(payment)) == (PaymentStatus.SUCCEEDED, 0, 941)
    assert calls() == [] and refund_postings(payment) == 0
    audit = AuditEvent.objects.get(action="payment.refund_failed")
    assert audit.object_id == str(refund.pk) and audit.after["status"] == status
    # The failed amount may be refunded again
    assert services.refundable(payment)[1] == 1000


@pytest.mark.parametrize("failure_first", [True, False])
def test_a_refund_that_fails_after_it_succeeded_is_booked_back_once_for_staff(paid, staff, send, failure_first):
    """Stripe: a succeeded refund can still fail (the card was closed); the money comes back to our
    balance. The same holds for a refund booked as succeeded while it was pending (before this fix
    every answer but "failed" was booked): one posting brings the money back, into adjustments."""
    payment = paid()
    refund = services.payment_refund(payment=payment, actor=staff, reason="fan asked")  # localstripe: succeeded
    assert refund.status == Refund.Status.SUCCEEDED and refund.provider_id.startswith("re_")
    assert calls() == [("refunded", payment.pk)] and pending_cash(payment) == 0
    platform_account(AccountKind.ADJUSTMENTS, "USD")  # exists already, as in production
    before = state.snapshot()
    failures = [refund_event(kind, payment, status="failed", refund_id=refund.provider_id, ours=refund,
                             failure_reason="expired_or_canceled_card")
                for kind in ("charge.refund.updated", "refund.failed")]
    stale = refund_event("refund.created", payment, status="succeeded", refund_id=refund.provider_id, ours=refund)
    events = [*failures, stale] if failure_first else [stale, *failures]
    for evt in events + events:
        delivered(send, evt)
    rows = before["rows"]
    assert state.diff(before, state.snapshot()) == [
        f"table audit_auditevent: {rows['audit_auditevent']} → {rows['audit_auditevent'] + 1} rows",
        f"table ledger_entry: {rows['ledger_entry']} → {rows['ledger_entry'] + 2} rows",
        f"table ledger_transaction: {rows['ledger_transaction']} → {rows['ledger_transaction'] + 1} rows",
        f"table payments_webhookevent: {rows['payments_webhookevent']} → {rows['payments_webhookevent'] + 3} rows"]
    returned = Transaction.objects.get(kind="refund_returned")
    assert returned.key == f"payment:{payment.pk}:refund:{refund.pk}:returned"
    assert {e.account.kind: e.amount for e in returned.entries.select_related("account")} == {
        "provider_inflow": -1000, "adjustments": 1000}
    refund.refresh_from_db()
    payment.refresh_from_db()
    assert refund.status == Refund.Status.RETURNED
    # The refund's take stays (the payer is still owed the money: staff pay it from adjustments)
    assert (payment.status, payment.refunded_amount, pending_cash(payment)) == (PaymentStatus.REFUNDED, 1000, 0)
    assert calls() == [("refunded", payment.pk)]
    assert AuditEvent.objects.get(action="payment.refund_returned").object_id == str(refund.pk)
    assert ledger_check() == []


@pytest.mark.parametrize("refunded_first", [True, False])
def test_a_refund_made_at_the_provider_is_adopted_and_booked_once_by_its_status(paid, send, refunded_first):
    payment = paid()
    made = provider.client().v1.refunds.create({"payment_intent": payment.provider_id, "amount": 400})
    assert made["status"] == "succeeded"
    events = [charge_refunded(payment, 400),
              refund_event("refund.created", payment, status="succeeded", refund_id=made["id"], amount=400)]
    if not refunded_first:
        events.reverse()
    for evt in events + events:
        delivered(send, evt)
    row = Refund.objects.get(payment=payment)
    assert (row.provider_id, row.amount, row.status, row.requested_by) == (made["id"], 400, "succeeded", None)
    payment.refresh_from_db()
    assert (payment.status, payment.refunded_amount) == (PaymentStatus.SUCCEEDED, 400)
    assert calls() == [("refunded", payment.pk)] and refund_postings(payment) == 1
    assert services.refundable(payment)[1] == 600
    assert ledger_check() == []


def test_a_tip_refund_answered_pending_takes_the_net_back_when_it_succeeds(send, staff):
    """The tip's own handler, through the staff refund service."""
    from eligibility.defaults import seed_defaults
    from tests.eligibility.helpers import enroll, make_creator
    from tips.services import tip_create, tip_refund

    seed_defaults()
    creator = make_creator("maya.makes")
    enroll(creator, "creator-next", "tips")
    tip = tip_create(fan=make_user("tipfan"), creator="maya.makes", amount=Money(1000, "USD"),
                     payment_method="pm_card_visa")
    assert tip.payment is not None

    def cash():
        return selectors.wallet(creator.user)["cash"][0]["pending"]

    assert cash() == 941
    with provider_answering_pending():
        assert tip_refund(tip=tip, actor=staff, reason="fan asked") is True
    assert tip.payment.status == PaymentStatus.SUCCEEDED and cash() == 941
    assert not Transaction.objects.filter(kind="tip_refund").exists()
    assert AuditEvent.objects.get(action="tip.refunded").after == {"amount": 1000, "refund_status": "pending"}
    refund = Refund.objects.get(payment=tip.payment)
    events = [refund_event("charge.refund.updated", tip.payment, status="succeeded", refund_id=refund.provider_id,
                           ours=refund), charge_refunded(tip.payment, 1000)]
    for evt in events + events:
        delivered(send, evt)
    tip.payment.refresh_from_db()
    assert tip.payment.status == PaymentStatus.REFUNDED and cash() == 0
    refunded = Transaction.objects.get(kind="tip_refund")
    assert {e.account.kind: e.amount for e in refunded.entries.select_related("account")} == {
        "provider_inflow": 1000, "losses": -59, "pending": -941}
    assert ledger_check() == []


def test_cumulative_totals_from_a_provider_that_lists_no_refunds_are_booked_once_each(paid, send):
    """The fake provider (and tests' own events) report ``amount_refunded`` with no refund objects
    behind it: the part no refund row explains is taken as one succeeded refund, as before."""
    payment = paid()
    for total in (100, 300, 100, 300):  # late and replayed totals move nothing
        delivered(send, charge_refunded(payment, total))
    payment.refresh_from_db()
    assert payment.refunded_amount == 300
    assert sorted(Refund.objects.filter(payment=payment).values_list("amount", "status")) == [
        (100, "succeeded"), (200, "succeeded")]
    delivered(send, charge_refunded(payment, 1000))
    payment.refresh_from_db()
    assert (payment.status, payment.refunded_amount) == (PaymentStatus.REFUNDED, 1000)
    assert calls() == [("refunded", payment.pk)] * 3
    assert [t.key for t in Transaction.objects.filter(kind="test_refund").order_by("pk")] == [
        f"testpay:{payment.pk}:refund:{total}" for total in (100, 300, 1000)]
