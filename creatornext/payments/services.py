"""Payments: create, confirm, follow, refund — and tell the feature that asked, exactly once.

Feature apps register handlers for their purpose at start-up (``register_purpose``). A handler
runs inside the transaction that moves the payment to the new state, with the payment row locked,
so whichever arrives first — the confirmation response or the webhook — applies the change and
the other finds it done. States only move forward:

    created → requires_action → processing → succeeded → refunded / disputed
                                           ↘ failed / canceled

A later event that arrives first (a refund before the success it implies) applies the steps it
implies in order, so every order of events ends in the same state with the same ledger effect.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from creatornext.audit.services import audit_record
from creatornext.money import Money
from creatornext.payments import provider
from creatornext.payments.models import Payment, PaymentStatus, PaymentStatusChange, Refund

log = logging.getLogger(__name__)
S = PaymentStatus
RANK = {S.CREATED: 0, S.REQUIRES_ACTION: 1, S.PROCESSING: 2, S.SUCCEEDED: 3, S.FAILED: 3,
        S.CANCELED: 3, S.REFUNDED: 4, S.DISPUTED: 4}


def _open(payment: Payment) -> bool:
    """Not final yet (created, requires_action, processing): only such a payment may succeed,
    fail or be canceled, so each happens at most once."""
    return RANK[S(payment.status)] < RANK[S.SUCCEEDED]


@dataclass(frozen=True)
class PurposeHandlers:
    """What a feature app does when its payment changes state. Each runs once per transition,
    inside the transition's transaction; each must itself be idempotent (ledger keys)."""

    on_succeeded: Callable[[Payment], None]
    # Optional: what ``on_succeeded`` does, for many payments at once (the webhook drain's
    # batches), with the same effect as calling it for each in turn. It may raise to refuse the
    # batch; the caller then applies each payment alone.
    on_succeeded_many: Callable[[list[Payment]], None] | None = None
    on_failed: Callable[[Payment], None] | None = None
    on_refunded: Callable[[Payment, int], None] | None = None  # amount refunded now
    # A chargeback: the provider withdrew the funds (once per payment). Never for an inquiry,
    # which moves no money (``apply_provider_dispute``).
    on_dispute_created: Callable[[Payment], None] | None = None
    on_dispute_closed: Callable[[Payment, bool], None] | None = None  # won?


_HANDLERS: dict[str, PurposeHandlers] = {}


def register_purpose(purpose: str, handlers: PurposeHandlers) -> None:
    _HANDLERS[purpose] = handlers


def handlers_for(purpose: str) -> PurposeHandlers:
    try:
        return _HANDLERS[purpose]
    except KeyError:
        raise LookupError(f"No payment handlers registered for purpose {purpose!r}.") from None


# --- creating ----------------------------------------------------------------------------------
def payment_create(*, purpose: str, ref: str, payer: Any, amount: Money, payment_method: str,
                   metadata: dict[str, Any] | None = None) -> Payment:
    """Charge ``payer`` now; the outcome is applied through the same transition path as webhooks.
    A decline is a *failed* payment, not an error.

    The row is written before the provider call, but it is committed only with the caller's
    transaction (today every caller holds one: the request's). If that transaction rolls back
    after the charge, the webhook refunds the charge once the grace period has passed
    (``webhooks._unrecorded``); decision 0017 has the design that commits first."""
    handlers_for(purpose)  # refuse unknown purposes before any money moves
    payment = Payment.objects.create(purpose=purpose, ref=ref, payer=payer, amount=amount.amount,
                                     currency=amount.currency, metadata=metadata or {})
    return payment_confirm(payment=payment, payment_method=payment_method)


def payment_confirm(*, payment: Payment, payment_method: str) -> Payment:
    result = provider.create_payment(payment, payment_method)
    return apply_provider_state(payment_id=payment.pk, result=result, source="confirm")


def payment_refresh(*, payment: Payment) -> Payment:
    """Ask the provider for the current state (after the payer authenticated, for example)."""
    if not payment.provider_id:
        return payment
    return apply_provider_state(payment_id=payment.pk, result=provider.retrieve_payment(payment),
                                source="refresh")


# --- transitions -------------------------------------------------------------------------------
def _move(payment: Payment, to: str, source: str) -> None:
    PaymentStatusChange.objects.create(payment=payment, from_status=payment.status, to_status=to,
                                       source=source[:60])
    payment.status = to


def apply_provider_state(*, payment_id: int, result: provider.ProviderPayment, source: str) -> Payment:
    """Apply what the provider says about a payment; idempotent, and safe in any order."""
    with transaction.atomic():
        payment = Payment.objects.select_for_update(no_key=True).get(pk=payment_id)
        if result.id and not payment.provider_id:
            payment.provider_id = result.id
        if result.client_secret and not payment.client_secret:
            payment.client_secret = result.client_secret
        if result.charge_id and not payment.charge_id:
            payment.charge_id = result.charge_id
        if result.status == S.SUCCEEDED:
            if _succeed(payment, fee=result.fee, source=source):
                return payment  # saved before its handler ran, and unchanged since
        elif result.status == S.FAILED and _open(payment):
            payment.failure_code = result.failure_code[:100]
            payment.failure_message = result.failure_message[:255]
            _move(payment, S.FAILED, source)
            if (on_failed := handlers_for(payment.purpose).on_failed) is not None:
                on_failed(payment)
        elif result.status == S.CANCELED and _open(payment):
            _move(payment, S.CANCELED, source)
            if (on_failed := handlers_for(payment.purpose).on_failed) is not None:
                on_failed(payment)
        elif result.status in (S.REQUIRES_ACTION, S.PROCESSING) and \
                RANK[S(result.status)] > RANK[S(payment.status)]:
            _move(payment, result.status, source)
        payment.save()
    return payment


def _succeed(payment: Payment, *, fee: int | None, source: str) -> bool:
    """created/requires_action/processing → succeeded, once, with the fee; the handler credits.
    True if it moved the payment (then it is saved, with every change made to it so far)."""
    if not _open(payment):
        if payment.fee is None and fee is not None:
            payment.fee = fee
        return False
    if fee is None and payment.charge_id:
        fee = provider.fee_for_charge(payment.charge_id)
    payment.fee = fee if fee is not None else 0
    _move(payment, S.SUCCEEDED, source)
    payment.save()
    handlers_for(payment.purpose).on_succeeded(payment)
    return True


def payments_succeed_many(successes: Sequence[tuple[int, provider.ProviderPayment, str]]) -> set[int]:
    """The provider says these payments succeeded, fee included: ``(payment id, result, source)``
    each, at most one per payment. Inside the caller's transaction, lock them all (id order: two
    batches never deadlock), move those that may move, in a few statements for the whole batch,
    then run each purpose's success handler once per payment (``on_succeeded_many`` where it has
    one). Returns the ids moved; the caller applies the rest one by one (``apply_provider_state``:
    replays, a fee still to be fetched, unknown ids), so their rules stay in one place."""
    results = {pk: (result, source) for pk, result, source in successes}
    if len(results) != len(successes):
        raise ValueError("At most one success per payment in a batch.")
    locked = Payment.objects.select_for_update(no_key=True).filter(pk__in=results).order_by("pk")
    moving = [p for p in locked if _open(p) and results[p.pk][0].fee is not None]
    if not moving:
        return set()
    now = timezone.now()
    changes = []
    for payment in moving:
        result, source = results[payment.pk]
        changes.append(PaymentStatusChange(payment=payment, from_status=payment.status, to_status=S.SUCCEEDED,
                                           source=source[:60], created_at=now))
        payment.provider_id = payment.provider_id or result.id
        payment.charge_id = payment.charge_id or result.charge_id
        payment.fee, payment.status, payment.updated_at = result.fee, S.SUCCEEDED, now
    PaymentStatusChange.objects.bulk_create(changes)
    _save_successes(moving)
    by_purpose: dict[str, list[Payment]] = {}
    for payment in moving:
        by_purpose.setdefault(payment.purpose, []).append(payment)
    for purpose, payments in by_purpose.items():
        handlers = handlers_for(purpose)
        if handlers.on_succeeded_many is not None:
            handlers.on_succeeded_many(payments)
        else:
            for payment in payments:
                handlers.on_succeeded(payment)
    return {p.pk for p in moving}


def _save_successes(payments: list[Payment]) -> None:
    """Write what a success changes on each payment: one statement on PostgreSQL."""
    fields = ["status", "fee", "provider_id", "charge_id", "updated_at"]
    if connection.vendor != "postgresql":
        Payment.objects.bulk_update(payments, fields)
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE payments_payment AS p SET status = v.status, fee = v.fee, "
            "provider_id = v.provider_id, charge_id = v.charge_id, updated_at = v.updated_at "
            "FROM unnest(%s::bigint[], %s::varchar[], %s::bigint[], %s::varchar[], %s::varchar[], "
            "%s::timestamptz[]) AS v(id, status, fee, provider_id, charge_id, updated_at) WHERE p.id = v.id",
            [[p.pk for p in payments], *([getattr(p, f) for p in payments] for f in fields)])


def apply_refunded(*, payment_id: int, refunded_total: int, source: str, fee: int | None = None) -> Payment:
    """The provider says ``refunded_total`` of the payment has been refunded (cumulative)."""
    with transaction.atomic():
        payment = Payment.objects.select_for_update(no_key=True).get(pk=payment_id)
        if payment.status in (S.FAILED, S.CANCELED):
            return payment
        _succeed(payment, fee=fee, source=source)  # a refund implies the charge succeeded
        newly = min(refunded_total, payment.amount) - payment.refunded_amount
        if newly > 0:
            payment.refunded_amount += newly
            if payment.refunded_amount == payment.amount and payment.status != S.REFUNDED:
                _move(payment, S.REFUNDED, source)
            payment.save()
            if (on_refunded := handlers_for(payment.purpose).on_refunded) is not None:
                on_refunded(payment, newly)
    return payment


def apply_provider_dispute(*, payment_id: int, dispute: provider.ProviderDispute, source: str) -> Payment:
    """What the provider says about a dispute on the payment: a chargeback whose funds it withdrew
    goes through ``apply_dispute`` (the feature's chargeback effect, once); an inquiry is only
    recorded (``_record_inquiry``). Whether funds were withdrawn is the provider module's call
    (``provider.dispute_from_event``), so an escalated inquiry, however many events announce it
    and in whatever order, is one chargeback."""
    if dispute.funds_withdrawn:
        return apply_dispute(payment_id=payment_id, dispute_id=dispute.id, closed_status=dispute.outcome,
                             source=source)
    return _record_inquiry(payment_id=payment_id, dispute=dispute, source=source)


def _record_inquiry(*, payment_id: int, dispute: provider.ProviderDispute, source: str) -> Payment:
    """An inquiry: the issuer asks about the payment before (perhaps) charging it back. No funds
    were withdrawn and no dispute fee charged, so nothing moves and nothing is locked: the payment
    keeps its state and no feature handler runs. The payment's metadata keeps the inquiry's id and
    status, and an audit event and a warning tell staff to answer it (answered or refunded, it
    closes as ``warning_closed`` and nothing else happens). If it escalates, the provider
    withdraws the funds and that event is a chargeback. A chargeback already applied, a replay,
    or an older status arriving after a closing one changes nothing."""
    with transaction.atomic():
        payment = Payment.objects.select_for_update(no_key=True).get(pk=payment_id)
        before = payment.metadata.get("dispute_inquiry")
        after = {"id": dispute.id, "status": dispute.status, "closed": dispute.closed}
        stale = before is not None and before.get("id") == dispute.id and before.get("closed")
        if payment.dispute_id or before == after or stale:
            return payment
        payment.metadata = {**payment.metadata, "dispute_inquiry": after}
        payment.save(update_fields=["metadata", "updated_at"])
        audit_record(actor=None, action="payment.dispute_inquiry", obj=payment, before=before, after=after,
                     reason=f"Inquiry {dispute.id} ({dispute.status}) on payment {payment.pk} ({payment.ref}), "
                            f"from {source[:60]}: no funds withdrawn, nothing moved."
                            + ("" if dispute.closed else " Answer it with the provider or refund the payment."))
    log.warning("Dispute inquiry %s on payment %s (%s): %s; no funds withdrawn, nothing moved",
                dispute.id, payment.pk, payment.ref, dispute.status)
    return payment


def apply_dispute(*, payment_id: int, dispute_id: str, closed_status: str | None, source: str,
                  fee: int | None = None) -> Payment:
    """A chargeback — the provider withdrew the funds — opened (``closed_status`` None) or closed
    ("won"/"lost"). Never an inquiry: ``apply_provider_dispute`` sorts them."""
    with transaction.atomic():
        payment = Payment.objects.select_for_update(no_key=True).get(pk=payment_id)
        if payment.status in (S.FAILED, S.CANCELED):
            return payment
        _succeed(payment, fee=fee, source=source)  # a dispute implies the charge succeeded
        handlers = handlers_for(payment.purpose)
        if not payment.dispute_id:
            payment.dispute_id = dispute_id
            # A fully refunded payment stays "refunded" (whichever event came first), so every
            # order of events ends in the same state.
            if payment.status not in (S.DISPUTED, S.REFUNDED):
                _move(payment, S.DISPUTED, source)
            payment.save()
            if handlers.on_dispute_created is not None:
                handlers.on_dispute_created(payment)
        if closed_status in ("won", "lost") and not payment.metadata.get("dispute_closed"):
            payment.metadata = {**payment.metadata, "dispute_closed": closed_status}
            payment.save()
            if handlers.on_dispute_closed is not None:
                handlers.on_dispute_closed(payment, closed_status == "won")
    return payment


# --- refunds -----------------------------------------------------------------------------------
class RefundRefused(Exception):
    pass


def refundable(payment: Payment) -> tuple[Payment, int]:
    """Lock the payment and say how much of it may still be refunded (pending refunds counted);
    RefundRefused if nothing may. The one place for that rule: callers that decide before they
    refund (the two-person rule) ask here, inside the transaction that then refunds."""
    locked = Payment.objects.select_for_update(no_key=True).get(pk=payment.pk)
    if locked.status not in (S.SUCCEEDED, S.DISPUTED) or locked.refunded_amount >= locked.amount:
        raise RefundRefused(f"A {locked.status} payment cannot be refunded.")
    return locked, locked.amount - locked.refunded_amount - sum(
        r.amount for r in locked.refunds.filter(status=Refund.Status.PENDING))


def payment_refund(*, payment: Payment, actor: Any, reason: str = "",
                   amount: int | None = None) -> Refund:
    """Refund (by default all that is left of) a succeeded payment through the provider.

    The refund row is committed before the provider call (its id is the provider idempotency
    key); the ledger effect comes from the same ``apply_refunded`` path as the webhook."""
    with transaction.atomic():
        locked, left = refundable(payment)
        amount = left if amount is None else amount
        if not 0 < amount <= left:
            raise RefundRefused(f"Refund must be between 1 and {left} (minor units).")
        refund = Refund.objects.create(payment=locked, amount=amount, requested_by=actor, reason=reason)
    result = provider.refund(refund)
    with transaction.atomic():
        refund = Refund.objects.select_for_update(no_key=True).get(pk=refund.pk)
        refund.provider_id = result.id
        refund.status = Refund.Status.FAILED if result.status == "failed" else Refund.Status.SUCCEEDED
        refund.save()
        if refund.status == Refund.Status.SUCCEEDED:
            total = sum(r.amount for r in refund.payment.refunds.filter(status=Refund.Status.SUCCEEDED))
            apply_refunded(payment_id=refund.payment_id, refunded_total=max(total, 0),
                           source=f"refund:{refund.pk}")
    return refund
