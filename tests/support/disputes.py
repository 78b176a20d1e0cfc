"""Dispute events as Stripe sends them, for inquiries and chargebacks (localstripe raises no
disputes: tests build and sign these themselves), and the check that an inquiry changed nothing.

Shapes from Stripe's API reference: a dispute's ``status`` is ``warning_needs_response`` /
``warning_under_review`` / ``warning_closed`` for an inquiry, ``needs_response`` / ``under_review``
/ ``won`` / ``lost`` for a chargeback; ``balance_transactions`` lists the funds withdrawn (and
reinstated) — empty for an inquiry. A dispute carries its own metadata, not the PaymentIntent's:
these events are found by their ``payment_intent`` / ``charge``, as real ones are.
"""

from __future__ import annotations

from typing import Any

from creatornext.core import config
from creatornext.payments.config import DISPUTE_FEE
from tests.support import state
from tests.support.stripe import event


def dispute_event(payment, kind: str, status: str, *, dispute_id: str | None = None,
                  withdrawn: bool = False) -> dict[str, Any]:
    """A ``charge.dispute.*`` event about ``payment``; ``withdrawn``: its balance transactions
    show the chargeback's withdrawal (the disputed gross plus the dispute fee)."""
    fee = config.get(DISPUTE_FEE)
    dispute_id = dispute_id or f"du_test_{payment.pk}"
    txns = [{"id": f"txn_{dispute_id}", "object": "balance_transaction", "amount": -payment.amount,
             "fee": fee, "net": -(payment.amount + fee), "type": "adjustment",
             "reporting_category": "dispute", "source": dispute_id}] if withdrawn else []
    return event(kind, {
        "id": dispute_id, "object": "dispute", "status": status, "amount": payment.amount,
        "currency": payment.currency.lower(), "charge": payment.charge_id or f"ch_test_{payment.pk}",
        "payment_intent": payment.provider_id or f"pi_test_{payment.pk}", "balance_transactions": txns,
        "is_charge_refundable": not withdrawn, "reason": "general", "metadata": {}})


def inquiry(payment, status: str = "warning_needs_response", kind: str = "charge.dispute.created",
            **kwargs: Any) -> dict[str, Any]:
    return dispute_event(payment, kind, status, **kwargs)


def escalation(payment, **kwargs: Any) -> list[dict[str, Any]]:
    """The inquiry turned into a chargeback: the dispute moves to ``needs_response`` and the
    funds are withdrawn (two events about one chargeback)."""
    return [dispute_event(payment, "charge.dispute.updated", "needs_response", withdrawn=True, **kwargs),
            dispute_event(payment, "charge.dispute.funds_withdrawn", "needs_response", withdrawn=True, **kwargs)]


def only_the_event_and_its_audit_line(before: dict[str, Any], events: int = 1) -> None:
    """Since ``before`` (a ``state.snapshot()``), only the stored events and one audit event for
    each changed: every other table's row count and every cached ledger balance are as they were."""
    def line(table: str, n: int) -> str:
        was = before["rows"][table]
        return f"table {table}: {was} → {was + n} rows"

    assert state.diff(before, state.snapshot()) == [line("audit_auditevent", events),
                                                    line("payments_webhookevent", events)]
