"""Payments: create, confirm, follow, refund — and tell the feature that asked, exactly once.

Feature apps register handlers for their purpose at start-up (``register_purpose``). A handler
runs inside the transaction that moves the payment to the new state, with the payment row locked,
so whichever arrives first — the confirmation response or the webhook — applies the change and
the other finds it done. States only move forward:

    created → requires_action → processing → succeeded → refunded / disputed
                                           ↘ failed / canceled
                                     failed → succeeded  (a later attempt: ``_succeed_after_failure``)

A later event that arrives first (a refund before the success it implies) applies the steps it
implies in order, so every order of events ends in the same state with the same ledger effect.

Money moves on facts the provider reported, never on guesses: a success is credited with the
processor fee the provider reported (``FeeNotKnown`` until it has), and a refund is booked when
the provider says it succeeded (``Refund`` rows; a pending one waits for its event).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.db.models import Sum
from django.utils import timezone

from creatornext.audit.services import audit_record
from creatornext.ledger.models import AccountKind
from creatornext.ledger.services import Leg, Posting, platform_account, post
from creatornext.money import Money
from creatornext.payments import provider
from creatornext.payments.models import Payment, PaymentStatus, PaymentStatusChange, Refund

log = logging.getLogger(__name__)
S = PaymentStatus
RANK = {S.CREATED: 0, S.REQUIRES_ACTION: 1, S.PROCESSING: 2, S.SUCCEEDED: 3, S.FAILED: 3,
        S.CANCELED: 3, S.REFUNDED: 4, S.DISPUTED: 4}


def _open(payment: Payment) -> bool:
    """Not final yet (created, requires_action, processing): only such a payment may fail or be
    canceled, and (with a failed one: ``_succeed_after_failure``) succeed, so each happens at most
    once."""
    return RANK[S(payment.status)] < RANK[S.SUCCEEDED]


class FeeNotKnown(Exception):
    """The provider says the payment succeeded but has not reported its processor fee yet (the
    charge has no balance transaction). Nothing is credited with a guessed fee: a webhook fails
    and is retried with backoff until the fee is known; the confirmation leaves it processing."""


class LateSuccessConflict(Exception):
    """A payment that had failed succeeded while another payment for the same thing succeeded
    too (they raced): everything is rolled back, and the retry refunds it."""


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
    try:
        return apply_provider_state(payment_id=payment.pk, result=provider.retrieve_payment(payment),
                                    source="refresh")
    except LateSuccessConflict:  # rolled back; the webhook's retry settles it
        return Payment.objects.get(pk=payment.pk)


def payment_cancel(*, payment: Payment, source: str = "cancel") -> Payment:
    """Give up a payment the payer has not completed (created, or waiting for 3-D Secure): it is
    canceled at the provider, so it can never charge later, and here. If it succeeded (or is
    processing) meanwhile, the provider says so and that is applied instead: the caller reads the
    returned payment's status. A payment that never reached the provider is canceled here alone."""
    if payment.status not in (S.CREATED, S.REQUIRES_ACTION):
        return payment
    if not payment.provider_id:
        with transaction.atomic():
            locked = Payment.objects.select_for_update(no_key=True).get(pk=payment.pk)
            if locked.status in (S.CREATED, S.REQUIRES_ACTION) and not locked.provider_id:
                _move(locked, S.CANCELED, source)
                locked.save()
        return Payment.objects.get(pk=payment.pk)
    try:
        return apply_provider_state(payment_id=payment.pk, result=provider.cancel_payment(payment), source=source)
    except LateSuccessConflict:  # rolled back; the webhook's retry settles it
        return Payment.objects.get(pk=payment.pk)


# --- transitions -------------------------------------------------------------------------------
def _move(payment: Payment, to: str, source: str) -> None:
    PaymentStatusChange.objects.create(payment=payment, from_status=payment.status, to_status=to,
                                       source=source[:60])
    payment.status = to


def apply_provider_state(*, payment_id: int, result: provider.ProviderPayment, source: str,
                         wait_for_fee: bool = False) -> Payment:
    """Apply what the provider says about a payment; idempotent, and safe in any order.

    A success whose fee the provider has not reported yet is not credited: the payment is left
    processing, or with ``wait_for_fee`` (webhooks) ``FeeNotKnown`` is raised, so the event is
    retried until the fee is known."""
    with transaction.atomic():
        payment = Payment.objects.select_for_update(no_key=True).get(pk=payment_id)
        if result.id and not payment.provider_id:
            payment.provider_id = result.id
        if result.client_secret and not payment.client_secret:
            payment.client_secret = result.client_secret
        late = result.status == S.SUCCEEDED and payment.status == S.FAILED
        if result.charge_id and (not payment.charge_id or late):
            payment.charge_id = result.charge_id  # after a failure: the charge that succeeded, not the declined one
        if result.status == S.SUCCEEDED:
            try:
                if _succeed(payment, fee=result.fee, source=source):
                    return payment  # saved before its handler ran, and unchanged since
            except FeeNotKnown:
                if wait_for_fee:
                    raise
                if RANK[S(payment.status)] < RANK[S.PROCESSING]:
                    _move(payment, S.PROCESSING, source)  # charged; credited once the fee is known
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
    """created/requires_action/processing (or failed: ``_succeed_after_failure``) → succeeded,
    once, with the fee the provider reported; the handler credits gross − fee. ``FeeNotKnown``
    while the provider has not reported the fee: nothing is credited with a guessed one, so
    ``payment.fee`` is always the fee its credit was booked with (None until then), and a fee
    reported after the success changes nothing. True if it moved the payment (then it is saved,
    with every change made to it so far)."""
    if payment.status == S.FAILED:
        return _succeed_after_failure(payment, fee=fee, source=source)
    if not _open(payment):
        return False
    payment.fee = _known_fee(payment, fee)
    _move(payment, S.SUCCEEDED, source)
    payment.save()
    handlers_for(payment.purpose).on_succeeded(payment)
    return True


def _known_fee(payment: Payment, fee: int | None) -> int:
    """The fee as reported with the success, else as the charge's balance transaction says now."""
    if fee is None and payment.charge_id:
        fee = provider.fee_for_charge(payment.charge_id)
    if fee is None:
        raise FeeNotKnown(f"Payment {payment.pk}: the provider has not reported its processor fee yet.")
    return fee


def _others_for_the_same_thing(payment: Payment) -> list[Payment]:
    """Other payments for what ``payment`` pays for (its purpose and ref) that did not fail:
    a collaboration funded again after a failed payment, for example."""
    return list(Payment.objects.filter(purpose=payment.purpose, ref=payment.ref).exclude(pk=payment.pk)
                .exclude(status__in=[S.FAILED, S.CANCELED]).only("pk", "status"))


def _succeed_after_failure(payment: Payment, *, fee: int | None, source: str) -> bool:
    """The provider says a payment we recorded as failed succeeded after all. "Failed" is not
    final there: a PaymentIntent whose attempt failed goes back to ``requires_payment_method``
    and the payer may complete it later (another card, 3-D Secure again). Its money arrived, so:

    - if nothing else was paid for the same thing, it is applied as any success is (the purpose's
      handler, once; audit ``payment.succeeded_after_failure`` for staff; reconciliation then
      checks it with the other succeeded payments);
    - if another payment for the same thing did not fail (a collaboration funded again), a second
      credit would pay for one thing twice, and the feature's once-only ledger key would swallow
      the money: the payer is refunded in full (keyed by the PaymentIntent: once), the payment
      stays failed with ``metadata["late_success"]``, and an audit event and an error log tell
      staff. Its refund's events then book nothing (``_money_in``): nothing was credited.
    """
    if "late_success" in payment.metadata:
        return False  # refunded already (a replay, or that refund's own events)
    fee = _known_fee(payment, fee)
    failed = {"status": payment.status, "failure_code": payment.failure_code,
              "failure_message": payment.failure_message}
    if others := _others_for_the_same_thing(payment):
        if not payment.provider_id:
            raise provider.ProviderError(f"Payment {payment.pk} succeeded late, but has no provider id to refund.")
        refund = provider.refund_unrecorded(payment.provider_id, reason="succeeded_after_failure")
        record = {"source": source[:60], "refund": refund.id, "others": [p.pk for p in others]}
        payment.metadata = {**payment.metadata, "late_success": record}
        payment.save()
        audit_record(actor=None, action="payment.late_success_refunded", obj=payment, before=failed, after=record,
                     reason=f"Payment {payment.pk} ({payment.ref}) failed, then succeeded ({source[:60]}) while "
                            f"payment(s) {record['others']} paid for the same thing: refunded in full, nothing "
                            "credited.")
        log.error("Payment %s (%s) succeeded after failing while %s paid for the same thing: refunded (%s)",
                  payment.pk, payment.ref, record["others"], refund.id)
        return False
    payment.fee = fee
    payment.failure_code = payment.failure_message = ""
    _move(payment, S.SUCCEEDED, source)
    payment.save()
    audit_record(actor=None, action="payment.succeeded_after_failure", obj=payment, before=failed,
                 after={"status": S.SUCCEEDED.value, "fee": fee, "source": source[:60]},
                 reason=f"Payment {payment.pk} ({payment.ref}) had failed; the provider says it succeeded "
                        "later: credited as any success.")
    handlers_for(payment.purpose).on_succeeded(payment)
    # Another payment for the same thing may have been made while this handler waited for the
    # feature's lock (its transaction committed in between): its credit, or this one, would be
    # swallowed by the feature's once-only ledger key. Roll everything back; the retry refunds
    # this one.
    if _others_for_the_same_thing(payment):
        raise LateSuccessConflict(f"Payment {payment.pk}: another payment for {payment.ref} was made meanwhile.")
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


def _money_in(payment: Payment, *, fee: int | None, source: str, charge_id: str = "") -> bool:
    """A refund or a dispute implies the charge succeeded: apply that success first (``charge_id``:
    the charge the event is about, the one that succeeded). False when the payment's money is not
    booked (canceled, or failed and not credited), so neither is what a refund or dispute takes
    back."""
    if payment.status == S.CANCELED:
        return False
    if charge_id and (not payment.charge_id or payment.status == S.FAILED):
        payment.charge_id = charge_id
    _succeed(payment, fee=fee, source=source)
    return payment.status != S.FAILED


def apply_provider_dispute(*, payment_id: int, dispute: provider.ProviderDispute, source: str,
                           charge_id: str = "") -> Payment:
    """What the provider says about a dispute on the payment: a chargeback whose funds it withdrew
    goes through ``apply_dispute`` (the feature's chargeback effect, once); an inquiry is only
    recorded (``_record_inquiry``). Whether funds were withdrawn is the provider module's call
    (``provider.dispute_from_event``), so an escalated inquiry, however many events announce it
    and in whatever order, is one chargeback."""
    if dispute.funds_withdrawn:
        return apply_dispute(payment_id=payment_id, dispute_id=dispute.id, closed_status=dispute.outcome,
                             source=source, charge_id=charge_id)
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
                  fee: int | None = None, charge_id: str = "") -> Payment:
    """A chargeback — the provider withdrew the funds — opened (``closed_status`` None) or closed
    ("won"/"lost"). Never an inquiry: ``apply_provider_dispute`` sorts them."""
    with transaction.atomic():
        payment = Payment.objects.select_for_update(no_key=True).get(pk=payment_id)
        if not _money_in(payment, fee=fee, source=source, charge_id=charge_id):  # it implies a success
            return payment
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
# Every refund is a ``Refund`` row: ours (``payment_refund``), or one made at the provider, adopted
# from its events. Its money moves once, on the row's move to "succeeded" (``_refund_moved``);
# the payment's ``refunded_amount`` is what has been booked: the succeeded (and returned) rows.
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

    The refund row is written before the provider call (its id is the provider idempotency key);
    it commits before the call only when no caller's transaction is open — tips and escrow call
    this inside theirs (decision 0017), so a crash after the provider refunded and before their
    commit leaves a refund only the provider knows: its events adopt it as a row of its own and it
    is booked once like any other. The provider's answer goes through ``apply_provider_refund``,
    as the refund's events do: booked if it succeeded, left pending (nothing moved, still counted
    by ``refundable``) until an event says it succeeded or failed."""
    with transaction.atomic():
        locked, left = refundable(payment)
        amount = left if amount is None else amount
        if not 0 < amount <= left:
            raise RefundRefused(f"Refund must be between 1 and {left} (minor units).")
        refund = Refund.objects.create(payment=locked, amount=amount, requested_by=actor, reason=reason)
    result = provider.refund(refund)
    apply_provider_refund(payment_id=refund.payment_id, refund=result, source=f"refund:{refund.pk}")
    refund.refresh_from_db()
    return refund


def apply_provider_refund(*, payment_id: int, refund: provider.ProviderRefund, source: str,
                          fee: int | None = None, charge_id: str = "") -> Payment:
    """What the provider says about one refund (its answer when we asked, or a ``refund.*`` /
    ``charge.refund.updated`` event): idempotent, and safe in any order."""
    with transaction.atomic():
        payment = Payment.objects.select_for_update(no_key=True).get(pk=payment_id)
        if _money_in(payment, fee=fee, source=source, charge_id=charge_id):
            _refund_moved(payment, refund, source)
    return payment


def apply_charge_refunded(*, payment_id: int, amount_refunded: int, source: str,
                          fee: int | None = None, charge_id: str = "") -> Payment:
    """``charge.refunded``: the charge's ``amount_refunded`` counts its succeeded *and pending*
    refunds, so it is not what may be booked. What our refund rows (pending or succeeded) explain
    is booked, or not, by their own statuses; only an amount they do not explain (a refund made
    at the provider, or one whose answer we never recorded) makes us ask the provider for the
    payment's refunds, each then applied by its own status. If the provider lists none at all
    and none of our rows has a provider refund id (a provider, or a test double, that reports
    totals only), the unexplained amount is taken as one succeeded refund, as this event always
    was; Stripe lists every refund it counts, so there this never happens."""
    with transaction.atomic():
        payment = Payment.objects.select_for_update(no_key=True).get(pk=payment_id)
        if not _money_in(payment, fee=fee, source=source, charge_id=charge_id):
            return payment
        if min(amount_refunded, payment.amount) <= _explained(payment):
            return payment
        listed = provider.refunds_of_payment(payment.provider_id) if payment.provider_id else []
        for refund in listed:
            _refund_moved(payment, refund, source)
        unexplained = min(amount_refunded, payment.amount) - _explained(payment)
        if unexplained > 0 and not listed and not payment.refunds.exclude(provider_id="").exists():
            log.warning("Payment %s: the provider reports %s refunded but lists no refund; booked as one",
                        payment.pk, unexplained)
            row = Refund.objects.create(payment=payment, amount=unexplained,
                                        reason=f"Reported refunded by the provider ({source[:60]}).")
            _refund_moved(payment, provider.ProviderRefund(id="", status="succeeded", amount=unexplained,
                                                           refund_id=row.pk, provider_status="succeeded"), source)
    return payment


def _explained(payment: Payment) -> int:
    """What the provider's ``amount_refunded`` should count of our rows: pending and succeeded."""
    return payment.refunds.filter(status__in=[Refund.Status.PENDING, Refund.Status.SUCCEEDED]
                                  ).aggregate(total=Sum("amount"))["total"] or 0


def _refund_row(payment: Payment, refund: provider.ProviderRefund) -> Refund | None:
    """Our row for the provider's refund (locked): by our id in its metadata, else by its id; a
    refund made at the provider gets a row (pending until its status moves it)."""
    rows = Refund.objects.select_for_update(no_key=True).filter(payment=payment)
    row = rows.filter(pk=refund.refund_id).first() if refund.refund_id is not None else None
    if row is None and refund.id:
        row = rows.filter(provider_id=refund.id).first()
    if row is None and refund.id and refund.amount > 0:
        row = Refund.objects.create(payment=payment, amount=refund.amount, provider_id=refund.id,
                                    reason="Made at the provider, not through creatornext.")
    return row


def _refund_moved(payment: Payment, refund: provider.ProviderRefund, source: str) -> None:
    """Move our row for ``refund`` as the provider's status says, and the money with it, once:

    - pending → succeeded: booked (``_book_refunds``: the purpose's ``on_refunded``);
    - pending → failed (failed or canceled): nothing moved; staff are told (audit), and the amount
      may be refunded again;
    - succeeded → failed: the provider put the money back in our balance. Booked back once, from
      the provider inflow to the adjustments account (``_book_returned``), where staff settle it
      with the payer, who is still owed it; the refund's take from the feature stays.

    Anything else (a replay, a pending or succeeded status arriving after a later one) changes
    nothing: statuses only move forward."""
    row = _refund_row(payment, refund)
    if row is None:
        return
    if refund.id and not row.provider_id:
        row.provider_id = refund.id
        row.save(update_fields=["provider_id"])
    R = Refund.Status
    if row.status == R.PENDING and refund.status == R.SUCCEEDED:
        row.status = R.SUCCEEDED
        row.save(update_fields=["status"])
        _book_refunds(payment, source)
    elif row.status == R.PENDING and refund.status == R.FAILED:
        row.status = R.FAILED
        row.save(update_fields=["status"])
        audit_record(actor=None, action="payment.refund_failed", obj=row,
                     after={"provider_id": row.provider_id, "status": refund.provider_status,
                            "failure_reason": refund.failure_reason},
                     reason=f"Refund {row.pk} of payment {payment.pk} ({payment.ref}): the provider says "
                            f"{refund.provider_status or 'failed'} ({source[:60]}); nothing moved.")
        log.warning("Refund %s of payment %s %s at the provider: nothing moved", row.pk, payment.pk,
                    refund.provider_status)
    elif row.status == R.SUCCEEDED and refund.status == R.FAILED:
        row.status = R.RETURNED
        row.save(update_fields=["status"])
        _book_returned(payment, row, refund, source)


def _book_refunds(payment: Payment, source: str) -> None:
    """Book what the succeeded (and returned) rows add up to beyond what is booked already."""
    total = payment.refunds.filter(status__in=[Refund.Status.SUCCEEDED, Refund.Status.RETURNED]
                                   ).aggregate(total=Sum("amount"))["total"] or 0
    newly = min(total, payment.amount) - payment.refunded_amount
    if newly <= 0:
        return
    payment.refunded_amount += newly
    if payment.refunded_amount == payment.amount and payment.status != S.REFUNDED:
        _move(payment, S.REFUNDED, source)
    payment.save()
    if (on_refunded := handlers_for(payment.purpose).on_refunded) is not None:
        on_refunded(payment, newly)


def _book_returned(payment: Payment, row: Refund, refund: provider.ProviderRefund, source: str) -> None:
    """A booked refund failed at the provider: its money is back in our provider balance. One
    posting per refund row (its key), so however often it is announced it is booked once."""
    currency = payment.currency
    post(Posting(key=f"payment:{payment.pk}:refund:{row.pk}:returned", kind="refund_returned",
                 legs=[Leg(platform_account(AccountKind.PROVIDER_INFLOW, currency), -row.amount),
                       Leg(platform_account(AccountKind.ADJUSTMENTS, currency), row.amount)],
                 ref=f"payment:{payment.pk}", memo="Refund failed at the provider: money back in our balance",
                 metadata={"payment": payment.pk, "refund": row.pk, "provider_refund": row.provider_id}))
    audit_record(actor=None, action="payment.refund_returned", obj=row,
                 after={"provider_id": row.provider_id, "status": refund.provider_status,
                        "failure_reason": refund.failure_reason, "amount": row.amount},
                 reason=f"Refund {row.pk} of payment {payment.pk} ({payment.ref}) had succeeded and was booked; "
                        f"the provider now says {refund.provider_status or 'failed'} ({source[:60]}) and put "
                        f"{row.amount} {currency} back in our balance, booked to adjustments: pay the payer "
                        "another way.")
    log.error("Refund %s of payment %s failed after it succeeded: %s %s back in our balance (adjustments)",
              row.pk, payment.pk, row.amount, currency)
