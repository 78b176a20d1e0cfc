"""Provider webhooks: verify, store once by event id, process idempotently until it succeeds.

``POST /webhooks/stripe/``: the signature is checked against every configured endpoint secret (two
during a rotation) with a 300-second timestamp tolerance; anything unverified is answered 400 and
changes nothing. A verified event is stored (unique by id) and answered 200 at once; a Celery task
applies it after commit. A failing handler leaves the event ``failed`` with its error and a next
attempt time; the sweeper retries it with backoff until it succeeds.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import stripe
from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from creatornext.audit.services import audit_record
from creatornext.core import config
from creatornext.core.api import error_body
from creatornext.payments import provider, services
from creatornext.payments.config import UNRECORDED_REFUND_AFTER
from creatornext.payments.models import Payment, WebhookEvent
from creatornext.payments.provider import ProviderPayment

log = logging.getLogger(__name__)
TOLERANCE_SECONDS = 300
MAX_BACKOFF = timedelta(hours=1)


def verify(payload: bytes, signature: str) -> dict[str, Any] | None:
    """The event if any configured secret verifies it, else None."""
    for secret in settings.STRIPE_WEBHOOK_SECRETS:
        try:
            stripe.WebhookSignature.verify_header(payload.decode("utf-8"), signature, secret,
                                                  tolerance=TOLERANCE_SECONDS)
        except (stripe.SignatureVerificationError, UnicodeDecodeError, ValueError):
            continue
        try:
            event = json.loads(payload)
        except ValueError:
            return None
        return event if isinstance(event, dict) and event.get("id") and event.get("type") else None
    return None


@method_decorator(csrf_exempt, name="dispatch")  # authenticated by its signature instead
class StripeWebhookView(View):
    http_method_names = ["post"]

    def post(self, request: HttpRequest) -> JsonResponse:
        event = verify(request.body, request.headers.get("Stripe-Signature", ""))
        if event is None:
            return JsonResponse(error_body("invalid_signature", "The webhook signature is not valid."),
                                status=400)
        stored, created = webhook_event_store(event, raw=request.body.decode("utf-8"))
        return JsonResponse({"received": True, "duplicate": not created, "status": stored.status})


def webhook_event_store(event: dict[str, Any], *, raw: str | None = None) -> tuple[WebhookEvent, bool]:
    """Store a verified event once by its id; (the stored event, whether this call stored it).
    ``raw``: the event's JSON text as received, stored as it is (not parsed and encoded again).

    On PostgreSQL one statement that commits by itself (the request holds no transaction): every
    provider retry and every event of a burst comes through here, and the ORM's create inside a
    savepoint was a third of the webhook's own time (decision 0019)."""
    if connection.vendor != "postgresql":
        return _store_with_the_orm(event)
    received = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO payments_webhookevent (event_id, type, payload, status, attempts, last_error, "
            "received_at) VALUES (%s, %s, %s::jsonb, %s, 0, '', %s) ON CONFLICT (event_id) DO NOTHING "
            "RETURNING id",
            [event["id"], event["type"], json.dumps(event) if raw is None else raw,
             WebhookEvent.Status.PENDING, received])
        row = cursor.fetchone()
    if row is None:
        return WebhookEvent.objects.get(event_id=event["id"]), False
    # Robust: the event is stored; if the cache or the broker is down, the provider still gets its
    # 200 and the sweeper applies the event (failures are logged). Runs at once when the insert
    # committed by itself, after the caller's commit inside a transaction.
    transaction.on_commit(webhook_events_wake, robust=True)
    return WebhookEvent(pk=row[0], event_id=event["id"], type=event["type"], payload=event,
                        status=WebhookEvent.Status.PENDING, received_at=received), True


def _store_with_the_orm(event: dict[str, Any]) -> tuple[WebhookEvent, bool]:
    """``webhook_event_store`` on other databases (the embedded SQLite default)."""
    try:
        with transaction.atomic():
            stored = WebhookEvent.objects.create(event_id=event["id"], type=event["type"], payload=event)
            transaction.on_commit(webhook_events_wake, robust=True)
            return stored, True
    except IntegrityError:
        return WebhookEvent.objects.get(event_id=event["id"]), False


# --- waking the processor ----------------------------------------------------------------------
# Stored events are applied by drain tasks, not by a task per event: one queued drain serves every
# event stored before it starts. Publishing a task was ~40% of a webhook POST, and a task's own
# overhead ~20% of the worker's time (the P3 bench). The flag says "a drain is queued and has not
# started": an event stored while it is set will be found by that drain, whose first act is to
# clear the flag. So an event never waits for nothing: either its POST queued a drain, or one was
# queued and had not started yet. If a queued drain is lost, the flag expires and the sweeper
# (``webhook_events_retry_due``, every minute) picks up what is left.
DRAIN_FLAG = "payments:webhook-drain-queued"
DRAIN_FLAG_SECONDS = 60
DRAIN_SECONDS = 5.0  # then the drain hands over to a new task, so other tasks get their turn


def webhook_events_wake() -> None:
    """After an event is stored: make sure a drain will run after now."""
    from creatornext.payments.tasks import process_webhook_events

    if cache.add(DRAIN_FLAG, 1, timeout=DRAIN_FLAG_SECONDS):
        process_webhook_events.delay()


# --- processing --------------------------------------------------------------------------------
def _metadata_payment_id(obj: dict[str, Any]) -> int | None:
    """Our payment's id as we put it on every PaymentIntent we create (no query needed)."""
    value = str((obj.get("metadata") or {}).get("payment_id", ""))
    return int(value) if value.isdigit() else None


def _payment_by_provider_ids(obj: dict[str, Any]) -> int | None:
    for field, column in (("payment_intent", "provider_id"), ("id", "provider_id"),
                          ("charge", "charge_id"), ("id", "charge_id")):
        value = obj.get(field)
        if isinstance(value, dict):
            value = value.get("id")
        if isinstance(value, str) and value:
            found = Payment.objects.filter(**{column: value}).values_list("pk", flat=True).first()
            if found is not None:
                return found
    return None


def _charge_id(value: Any) -> str:
    """A charge's id, whether the event carries the id or the expanded charge."""
    value = value.get("id") if isinstance(value, dict) else value
    return value if isinstance(value, str) and value.startswith("ch_") else ""


def _fee(obj: dict[str, Any]) -> int | None:
    txn = obj.get("balance_transaction")
    return int(txn["fee"]) if isinstance(txn, dict) and "fee" in txn else None


# Event types that are not about a payment (e.g. ``account.updated`` for payouts): apps register a
# handler at start-up; it returns False when the event is not theirs (ignored).
EVENT_HANDLERS: dict[str, Callable[[dict[str, Any]], bool]] = {}


def register_event_type(kind: str, handler: Callable[[dict[str, Any]], bool]) -> None:
    EVENT_HANDLERS[kind] = handler


def _unrecorded(stored: WebhookEvent, obj: dict[str, Any]) -> bool:
    """An event for one of our payment ids whose row never appeared: the request that created the
    payment rolled back after the provider had charged the card (a crash, a lost connection).
    Nothing was credited anywhere, so the payer gets the money back; staff see it in the audit
    log and in reconciliation. Other events about such a charge are ignored."""
    if stored.payload["type"] != "payment_intent.succeeded":
        return False
    refund = provider.refund_unrecorded(obj["id"])
    log.error("Refunded charge %s (payment id %s, %s minor units): no payment row of ours",
              obj["id"], obj["metadata"]["payment_id"], obj.get("amount"))
    audit_record(actor=None, action="payment.unrecorded_refunded", obj=stored,
                 after={"payment_intent": obj["id"], "payment_id": obj["metadata"]["payment_id"],
                        "amount": obj.get("amount"), "currency": obj.get("currency"), "refund": refund.id},
                 reason="The provider charged a payment of ours that was never committed.")
    return True


# Dispute events: ``created`` (an inquiry or a chargeback), ``updated`` (e.g. an inquiry that
# escalated), ``funds_withdrawn`` (the chargeback's money left our balance), ``closed``. What each
# means is ``provider.dispute_from_event``'s call; the endpoint must be subscribed to all four.
DISPUTE_EVENT_TYPES = frozenset({"charge.dispute.created", "charge.dispute.updated",
                                 "charge.dispute.funds_withdrawn", "charge.dispute.closed"})
# Refund events carry one refund object, with its status: ``charge.refund.updated`` (its status
# changed: pending → succeeded, or a failure, even after it succeeded) and, since API version
# 2024-10-28, ``refund.created`` / ``.updated`` / ``.failed`` for every refund. The endpoint must
# be subscribed to them: a pending refund is booked only when one says it succeeded.
REFUND_EVENT_TYPES = frozenset({"charge.refund.updated", "refund.created", "refund.updated", "refund.failed"})
PAYMENT_EVENT_TYPES = frozenset({
    "payment_intent.succeeded", "payment_intent.payment_failed", "payment_intent.canceled",
    "charge.refunded"}) | DISPUTE_EVENT_TYPES | REFUND_EVENT_TYPES


def _apply(stored: WebhookEvent) -> bool:
    """Apply one stored event; False when it is not ours to handle (ignored)."""
    event = stored.payload
    kind = event["type"]
    if kind in EVENT_HANDLERS:
        return EVENT_HANDLERS[kind](event)
    if kind not in PAYMENT_EVENT_TYPES:
        return False
    obj = event.get("data", {}).get("object", {}) or {}
    source = f"webhook:{event['id']}"
    ours = _metadata_payment_id(obj)
    if ours is not None:
        try:  # straight to the service, which locks the row: no look-up first
            _apply_to_payment(kind, obj, ours, source)
            return True
        except Payment.DoesNotExist:
            pass  # not visible (yet), or not this deployment's: look for it by the provider's ids
    payment_id = _payment_by_provider_ids(obj)
    if payment_id is None:
        if ours is not None:
            # Ours, but its row is not visible yet (the request that created it has not committed):
            # fail now so the sweeper retries, instead of losing the event. Long after any request
            # could still commit, the row will never come.
            if timezone.now() - stored.received_at < timedelta(minutes=config.get(UNRECORDED_REFUND_AFTER)):
                raise LookupError(f"payment {ours} not found (yet)")
            return _unrecorded(stored, obj)
        return False
    _apply_to_payment(kind, obj, payment_id, source)
    return True


def _success(obj: dict[str, Any]) -> ProviderPayment:
    """A ``payment_intent.succeeded`` event's PaymentIntent as the provider's answer (the fee is
    known when Stripe expanded the charge's balance transaction)."""
    charge = obj.get("latest_charge") or ((obj.get("charges") or {}).get("data") or [{}])[0]
    charge_id = charge if isinstance(charge, str) else (charge or {}).get("id", "")
    return ProviderPayment(id=obj.get("id", ""), status="succeeded", charge_id=charge_id or "",
                           fee=_fee(charge) if isinstance(charge, dict) else None)


def _apply_to_payment(kind: str, obj: dict[str, Any], payment_id: int, source: str) -> None:
    """One of PAYMENT_EVENT_TYPES, through the payment services (Payment.DoesNotExist if there is
    no payment ``payment_id``; nothing is written then)."""
    if kind == "payment_intent.succeeded":  # not credited until the fee is known: retried till then
        services.apply_provider_state(payment_id=payment_id, source=source, result=_success(obj),
                                      wait_for_fee=True)
    elif kind == "payment_intent.payment_failed":
        error = obj.get("last_payment_error") or {}
        services.apply_provider_state(payment_id=payment_id, source=source, result=ProviderPayment(
            id=obj.get("id", ""), status="failed", failure_code=error.get("code") or "payment_failed",
            failure_message=error.get("message") or ""))
    elif kind == "payment_intent.canceled":
        services.apply_provider_state(payment_id=payment_id, source=source,
                                      result=ProviderPayment(id=obj.get("id", ""), status="canceled"))
    elif kind == "charge.refunded":
        services.apply_charge_refunded(payment_id=payment_id, amount_refunded=int(obj.get("amount_refunded", 0)),
                                       source=source, fee=_fee(obj), charge_id=_charge_id(obj.get("id")))
    elif kind in REFUND_EVENT_TYPES:
        services.apply_provider_refund(payment_id=payment_id, refund=provider.refund_from(obj), source=source,
                                       charge_id=_charge_id(obj.get("charge")))
    else:  # a dispute: an inquiry is recorded; a chargeback (funds withdrawn) applied once
        services.apply_provider_dispute(payment_id=payment_id, dispute=provider.dispute_from_event(kind, obj),
                                        source=source, charge_id=_charge_id(obj.get("charge")))


def webhook_event_process(*, event_pk: int) -> WebhookEvent:
    """Process a stored event; safe to call any number of times, concurrently too."""
    with transaction.atomic():
        stored = WebhookEvent.objects.select_for_update(no_key=True).get(pk=event_pk)
        if stored.status in (WebhookEvent.Status.PROCESSED, WebhookEvent.Status.IGNORED):
            return stored
        _process_locked(stored)
    return stored


DRAIN_BATCH = 100  # events claimed, and payment successes applied, together
# A drain that has caught up (claimed less than a batch) waits this long before it looks again, so
# that under a steady stream it takes tens of events at a time, not one or two: a batch's
# statements cost about the same for 2 events as for 100. The price is this much latency.
DRAIN_LINGER = 0.1


def webhook_events_drain(*, seconds: float = DRAIN_SECONDS, batch: int = DRAIN_BATCH,
                         linger: float = 0.0) -> tuple[int, bool]:
    """Apply pending events, ``batch`` at a time in one transaction, for about ``seconds``; return
    how many, and whether some are left. Concurrent drains share the work: each takes events no
    other holds (SKIP LOCKED), so none waits for another's events. After a batch smaller than
    ``batch`` the drain waits ``linger`` seconds before it looks again (``DRAIN_LINGER``); if it
    then finds none, it ends.

    Each drain walks the pending events in id order from where it last took one (the partial
    index of pending ids), so a claim steps over a few rows, not over every event processed since
    the last vacuum. An event committed behind that point (ids are drawn before commit) is found by
    the next drain, which starts from the beginning: its POST queues one, or finds one queued."""
    cache.delete(DRAIN_FLAG)  # from now on a newly stored event queues another drain
    deadline = time.monotonic() + seconds
    done, after = 0, 0
    while True:
        with transaction.atomic():
            _commit_without_waiting_for_the_disk()
            claimed = list(WebhookEvent.objects.select_for_update(no_key=True, skip_locked=True)
                           .filter(status=WebhookEvent.Status.PENDING, pk__gt=after).order_by("pk")[:batch])
            if not claimed:
                return done, False
            _process_claimed(claimed)
        done, after = done + len(claimed), claimed[-1].pk
        if time.monotonic() > deadline:
            return done, True
        if len(claimed) < batch and linger:
            time.sleep(linger)


def _batchable_successes(claimed: list[WebhookEvent]) -> dict[int, WebhookEvent]:
    """{payment id: its first ``payment_intent.succeeded`` event among ``claimed``}, for events
    that name one of our payments (unless an app took that event type over: ``_apply``'s order)."""
    if "payment_intent.succeeded" in EVENT_HANDLERS:
        return {}
    successes: dict[int, WebhookEvent] = {}
    for stored in claimed:
        obj = stored.payload.get("data", {}).get("object", {}) or {}
        payment_id = _metadata_payment_id(obj) if stored.type == "payment_intent.succeeded" else None
        if payment_id is not None:
            successes.setdefault(payment_id, stored)
    return successes


def _process_claimed(claimed: list[WebhookEvent]) -> None:
    """Apply events whose rows the caller holds locked. Payment successes that carry their fee go
    through the payments boundary together (``payments_succeed_many``: a few statements for the
    whole batch, instead of ~19 per event); every other event, and any the batch did not move
    (a replay, a payment not found), goes through ``_process_locked`` one by one, which is also
    where a batch that failed as a whole falls back to, so one bad event never blocks the rest."""
    successes = _batchable_successes(claimed)
    applied: set[int] = set()
    if len(successes) > 1:
        try:
            with transaction.atomic():  # the batch goes whole or not at all
                moved = services.payments_succeed_many(
                    [(payment_id, _success(stored.payload["data"]["object"]), f"webhook:{stored.event_id}")
                     for payment_id, stored in successes.items()])
        except Exception:
            log.warning("A batch of %s payment successes failed; applying them one by one", len(successes),
                        exc_info=True)
            moved = set()
        applied = {successes[payment_id].pk for payment_id in moved}
        WebhookEvent.objects.filter(pk__in=applied).update(
            status=WebhookEvent.Status.PROCESSED, attempts=F("attempts") + 1, processed_at=timezone.now(),
            last_error="", next_attempt_at=None)
    for stored in claimed:
        if stored.pk not in applied:
            _process_locked(stored)


def _commit_without_waiting_for_the_disk() -> None:
    """This transaction's commit returns before its WAL reaches the disk (PostgreSQL's
    ``synchronous_commit = off``, for this transaction only). Safe here, and only here: the event
    itself was stored durably before the provider got its 200, and a crash can only lose whole
    transactions, so what is lost is an event's processing together with its "processed" mark
    (never one without the other); the event is pending again and the sweeper applies it, once,
    by its ledger keys. A drain's commits then cost no disk wait (RECIPES.md: commit-latency bound
    ~3,000 tx/s, ~15,000 without waiting)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")


def _process_locked(stored: WebhookEvent) -> None:
    """Apply an event whose row the caller holds locked (in its transaction); record the outcome."""
    stored.attempts += 1
    try:
        with transaction.atomic():  # the handler's writes go, the outcome below stays
            handled = _apply(stored)
    except Exception as exc:
        log.exception("Webhook event %s failed (attempt %s)", stored.event_id, stored.attempts)
        stored.status = WebhookEvent.Status.FAILED
        stored.last_error = f"{exc.__class__.__name__}: {exc}"[:2000]
        backoff = min(MAX_BACKOFF, timedelta(seconds=10 * 2 ** min(stored.attempts, 12)))
        stored.next_attempt_at = timezone.now() + backoff
    else:
        stored.status = WebhookEvent.Status.PROCESSED if handled else WebhookEvent.Status.IGNORED
        stored.processed_at = timezone.now()
        stored.last_error = ""
        stored.next_attempt_at = None
    # Not the payload: it never changes, and writing it back re-encodes the whole event.
    stored.save(update_fields=["attempts", "status", "last_error", "next_attempt_at", "processed_at"])


def webhook_events_retry_due(*, now=None, limit: int = 200) -> int:
    """Sweeper: events that failed (or were stored but never processed, e.g. the worker died)."""
    now = now or timezone.now()
    stale = now - timedelta(minutes=5)
    due = list(WebhookEvent.objects.filter(status=WebhookEvent.Status.FAILED, next_attempt_at__lte=now)
               .values_list("pk", flat=True)[:limit])
    due += list(WebhookEvent.objects.filter(status=WebhookEvent.Status.PENDING, received_at__lte=stale)
                .values_list("pk", flat=True)[:limit])
    for pk in due:
        webhook_event_process(event_pk=pk)
    return len(due)
