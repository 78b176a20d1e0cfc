"""Dispute inquiries at the payments boundary: an inquiry (``warning_*``, no funds withdrawn)
runs no feature handler and moves nothing; the chargeback it may escalate into runs the
chargeback handler once, however many events announce it and in whatever order."""

from __future__ import annotations

import time

import pytest

from creatornext.audit.models import AuditEvent
from creatornext.ledger.checks import ledger_check
from creatornext.payments import provider
from creatornext.payments.models import Payment, PaymentStatus, WebhookEvent
from tests.creatornext.payments import conftest as purpose
from tests.support import state
from tests.support.disputes import dispute_event, escalation, inquiry, only_the_event_and_its_audit_line
from tests.support.stripe import pi_succeeded
from tests.support.world import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _provider(fake_stripe):
    return fake_stripe


@pytest.fixture
def paid(send):
    """A payment the (fake) provider charged and whose success we applied."""
    fan, creator = make_user(f"fan{time.time_ns()}"), make_user(f"cr{time.time_ns()}")
    payment = Payment.objects.create(purpose="test_payment", ref="test:1", payer=fan, amount=1000,
                                     currency="USD", metadata={"creator_id": creator.pk})
    charged = provider.create_payment(payment, "pm_card_visa")
    payment.provider_id, payment.charge_id = charged.id, charged.charge_id
    payment.save()
    assert send(pi_succeeded(payment, fee=59)).status_code == 200
    purpose.CALLS.clear()
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.SUCCEEDED
    return payment


def calls() -> list[tuple[str, int]]:
    """What the purpose's handlers were asked to do, in order."""
    return list(purpose.CALLS)


def delivered(send, evt, *, duplicate: bool = False) -> WebhookEvent:
    response = send(evt)
    assert response.status_code == 200 and response.json()["duplicate"] is duplicate
    stored = WebhookEvent.objects.get(event_id=evt["id"])
    assert stored.status == WebhookEvent.Status.PROCESSED, stored.last_error
    return stored


@pytest.mark.parametrize(("kind", "status", "withdrawn"), [
    ("charge.dispute.created", "warning_needs_response", False),
    ("charge.dispute.updated", "warning_under_review", False),
    ("charge.dispute.closed", "warning_closed", False),
    ("charge.dispute.created", "prevented", False),
    ("charge.dispute.created", "a_status_stripe_adds_later", False),
    ("charge.dispute.created", "needs_response", True),
    ("charge.dispute.updated", "under_review", True),
    ("charge.dispute.closed", "won", True),
    ("charge.dispute.closed", "lost", True),
    ("charge.dispute.funds_withdrawn", "needs_response", True),
])
def test_the_provider_module_alone_says_whether_a_dispute_withdrew_funds(kind, status, withdrawn):
    obj = {"id": "du_1", "status": status, "balance_transactions": []}
    dispute = provider.dispute_from_event(kind, obj)
    assert (dispute.id, dispute.status, dispute.funds_withdrawn) == ("du_1", status, withdrawn)
    assert dispute.outcome == (status if status in ("won", "lost") else None)
    # Whatever the status says, a withdrawal in its balance transactions is a chargeback
    obj["balance_transactions"] = [{"id": "txn_1", "amount": -1000, "fee": 1500}]
    assert provider.dispute_from_event(kind, obj).funds_withdrawn is True


@pytest.mark.parametrize("status", ["warning_needs_response", "warning_under_review"])
def test_an_inquiry_runs_no_handler_moves_nothing_and_is_recorded_for_staff(paid, send, status):
    history = list(paid.history.values_list("to_status", flat=True))
    before = state.snapshot()
    delivered(send, inquiry(paid, status))
    only_the_event_and_its_audit_line(before)
    assert calls() == []
    paid.refresh_from_db()
    assert (paid.status, paid.dispute_id, paid.refunded_amount, paid.fee) == (PaymentStatus.SUCCEEDED, "", 0, 59)
    assert list(paid.history.values_list("to_status", flat=True)) == history
    assert paid.metadata["dispute_inquiry"] == {"id": f"du_test_{paid.pk}", "status": status, "closed": False}
    audit = AuditEvent.objects.get(action="payment.dispute_inquiry", object_id=str(paid.pk))
    assert audit.after == paid.metadata["dispute_inquiry"] and "no funds withdrawn" in audit.reason
    assert ledger_check() == []


def test_an_inquiry_closed_in_our_favour_changes_nothing_and_a_replay_records_nothing_more(paid, send):
    delivered(send, inquiry(paid))
    before = state.snapshot()
    closed = inquiry(paid, "warning_closed", kind="charge.dispute.closed")
    delivered(send, closed)
    delivered(send, closed, duplicate=True)  # the same event again: stored once
    only_the_event_and_its_audit_line(before)
    # The same news in another event, and an older status arriving late: nothing recorded
    before = state.snapshot()
    delivered(send, inquiry(paid, "warning_closed", kind="charge.dispute.updated"))
    delivered(send, inquiry(paid, "warning_under_review", kind="charge.dispute.updated"))
    assert state.diff(before, state.snapshot()) == [
        f"table payments_webhookevent: {before['rows']['payments_webhookevent']} → "
        f"{before['rows']['payments_webhookevent'] + 2} rows"]
    paid.refresh_from_db()
    assert paid.status == PaymentStatus.SUCCEEDED and paid.dispute_id == ""
    assert paid.metadata["dispute_inquiry"]["status"] == "warning_closed"
    assert calls() == []


@pytest.mark.parametrize("escalated_as", ["the same dispute", "a new dispute"])
def test_an_escalated_inquiry_is_one_chargeback_however_often_it_is_announced(paid, send, escalated_as):
    delivered(send, inquiry(paid))
    if escalated_as == "the same dispute":
        events = escalation(paid)
        chargeback_id = f"du_test_{paid.pk}"
    else:  # the inquiry closes, and the issuer opens a chargeback as a dispute of its own
        delivered(send, inquiry(paid, "warning_closed", kind="charge.dispute.closed"))
        chargeback_id = f"du_chargeback_{paid.pk}"
        events = [dispute_event(paid, kind, "needs_response", dispute_id=chargeback_id, withdrawn=True)
                  for kind in ("charge.dispute.created", "charge.dispute.funds_withdrawn")]
    for evt in events:
        delivered(send, evt)
        delivered(send, evt, duplicate=True)
    assert calls() == [("dispute", paid.pk)]
    paid.refresh_from_db()
    assert (paid.status, paid.dispute_id) == (PaymentStatus.DISPUTED, chargeback_id)
    assert list(paid.history.values_list("to_status", flat=True)) == ["succeeded", "disputed"]
    delivered(send, dispute_event(paid, "charge.dispute.closed", "lost", dispute_id=chargeback_id,
                                  withdrawn=True))
    assert calls() == [("dispute", paid.pk), ("dispute_closed_lost", paid.pk)]


def test_a_chargeback_announced_before_its_inquiry_is_applied_once_and_the_late_inquiry_is_ignored(paid, send):
    for evt in escalation(paid):
        delivered(send, evt)
    before = state.snapshot()
    delivered(send, inquiry(paid))  # the inquiry's own event, delivered late
    assert state.diff(before, state.snapshot()) == [
        f"table payments_webhookevent: {before['rows']['payments_webhookevent']} → "
        f"{before['rows']['payments_webhookevent'] + 1} rows"]
    assert calls() == [("dispute", paid.pk)]
    paid.refresh_from_db()
    assert paid.status == PaymentStatus.DISPUTED and "dispute_inquiry" not in paid.metadata


def test_a_chargeback_opened_directly_still_runs_the_handler_at_once(paid, send):
    delivered(send, dispute_event(paid, "charge.dispute.created", "needs_response", withdrawn=True))
    assert calls() == [("dispute", paid.pk)]
    paid.refresh_from_db()
    assert paid.status == PaymentStatus.DISPUTED and "dispute_inquiry" not in paid.metadata
