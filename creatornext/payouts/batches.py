"""Payout batches: gather withdrawals, check the provider balance, pay each item effectively once.

Every item goes through three committed steps (ARCHITECTURE.md, "Provider calls"):

1. **claim** — one conditional UPDATE: ``queued`` (or ``claimed`` whose lease expired) → ``claimed``
   until now + lease, ``first_attempt_at`` kept from the first claim. Exactly one runner wins it,
   however many copies of the task run.
2. **call** — outside any transaction, under the shared token bucket: ``transfers.create`` with the
   idempotency key ``creatornext-payout-item-<id>`` and ``transfer_group`` ``payout-item:<id>``. Once
   the key may have expired (``first_attempt_at`` older than ``payouts.key_safe_hours``) the item is
   first looked up by its transfer group instead of being created again blindly.
3. **record** — one transaction: ``paid`` + ledger ``payout-item:<id>:paid`` (in payout → payouts
   sent), or ``failed`` + ``payout-item:<id>:failed`` (in payout → available) and an email.

A crash between any two steps leaves the item ``claimed``; when its lease expires the sweeper (or
any re-run) claims it again and repeats the call with the same key — the provider answers with the
transfer it already made — so nothing is paid twice and nothing is lost. 429s and timeouts are
retried with exponential backoff and jitter; after ``payouts.max_inline_attempts`` the item waits
(``next_attempt_at``) for a later run. The batch stores its stage: ``gathered`` → (balance checked)
``paying`` → ``done``, or ``waiting_for_funds`` until the provider balance covers it.

**Cooling-off** (account-takeover protection, PRODUCT.md §5): a withdrawal is paid only once its
payout account is out of the cooling-off after its last change, by the rule the request path uses
(``services.cooling_off_until``), checked again when the batch pays. A withdrawal requested before
the account changed therefore waits until the cooling-off has passed: it stays ``requested`` (its
money stays in payout) and a later batch gathers it. An item already gathered whose account
changed before its first call waits in its batch (``queued``, ``next_attempt_at`` = the end of the
cooling-off); one whose call may already have been made is finished with its key, as ever.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django import db
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Count, F, Q, Sum, Value
from django.db.models.functions import Coalesce, Mod
from django.utils import timezone

from creatornext.core import config
from creatornext.core.emails import email_queue
from creatornext.ledger.models import AccountKind
from creatornext.ledger.services import Leg, Posting, account_for, platform_account, post_once
from creatornext.money import Money
from creatornext.payments import provider
from creatornext.payouts import ratelimit
from creatornext.payouts.config import (
    CLAIM_LEASE_SECONDS,
    COOLING_OFF_DAYS,
    KEY_SAFE_HOURS,
    MAX_INLINE_ATTEMPTS,
    PARALLEL_CALLS,
    RATE_PER_SECOND,
)
from creatornext.payouts.models import PayoutAccount, PayoutBatch, PayoutItem, Withdrawal
from creatornext.payouts.services import cooling_off_until

log = logging.getLogger(__name__)
BUCKET = "provider-transfers"
OPEN = (PayoutItem.Stage.QUEUED, PayoutItem.Stage.CLAIMED)


# --- gathering ---------------------------------------------------------------------------------
def payout_batch_create(*, actor: Any = None, limit: int | None = None) -> PayoutBatch | None:
    """Gather requested withdrawals of accounts with payouts enabled and out of their cooling-off
    into a new batch (None if there are none). A withdrawal of an account still cooling off stays
    ``requested`` for a later batch. Concurrent calls never gather the same withdrawal twice (SKIP
    LOCKED)."""
    with transaction.atomic():
        now, days = timezone.now(), config.get(COOLING_OFF_DAYS)
        enabled = PayoutAccount.objects.filter(payouts_enabled=True).exclude(provider_id="")
        waiting = enabled.filter(user_id__in=Withdrawal.objects.filter(status=Withdrawal.Status.REQUESTED)
                                 .values("user_id")).only("user_id", "provider_id", "changed_at")
        destinations, cooling = {}, []
        for account in waiting:
            destinations[account.user_id] = account.provider_id
            if now < cooling_off_until(account, days):
                cooling.append(account.user_id)
        rows = (Withdrawal.objects.select_for_update(skip_locked=True, no_key=True)
                .filter(status=Withdrawal.Status.REQUESTED, user__payout_account__in=enabled)
                .exclude(user_id__in=cooling).order_by("pk"))
        withdrawals = [w for w in (rows[:limit] if limit else rows) if w.user_id in destinations]
        if not withdrawals:
            return None
        batch = PayoutBatch.objects.create(started_by=actor if getattr(actor, "is_authenticated", False)
                                           else None)
        PayoutItem.objects.bulk_create([
            PayoutItem(batch=batch, withdrawal=w, user_id=w.user_id, amount=w.amount, currency=w.currency,
                       destination=destinations[w.user_id]) for w in withdrawals], batch_size=1000)
        Withdrawal.objects.filter(pk__in=[w.pk for w in withdrawals]).update(
            status=Withdrawal.Status.PROCESSING)
    return batch


# --- running -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class RunSettings:
    """The payout settings, read once per batch run rather than once per item and call (each read
    is a cache round trip, and a run makes thousands of calls)."""

    rate: int
    lease: timedelta
    attempts: int
    key_safe: timedelta
    width: int
    cooling_off_days: int

    @classmethod
    def now(cls) -> RunSettings:
        return cls(rate=config.get(RATE_PER_SECOND), lease=timedelta(seconds=config.get(CLAIM_LEASE_SECONDS)),
                   attempts=config.get(MAX_INLINE_ATTEMPTS), key_safe=timedelta(hours=config.get(KEY_SAFE_HOURS)),
                   width=config.get(PARALLEL_CALLS), cooling_off_days=config.get(COOLING_OFF_DAYS))


def batch_progress(batch: PayoutBatch) -> dict[str, int]:
    counts = dict(batch.items.values_list("stage").annotate(n=Count("pk")).values_list("stage", "n"))
    total = sum(counts.values())
    return {"total": total, "done": counts.get(PayoutItem.Stage.PAID, 0),
            "failed": counts.get(PayoutItem.Stage.FAILED, 0),
            "open": counts.get(PayoutItem.Stage.QUEUED, 0) + counts.get(PayoutItem.Stage.CLAIMED, 0)}


def _staff_emails() -> list[str]:
    return list(get_user_model().objects.filter(is_staff=True, is_active=True).exclude(email="")
                .values_list("email", flat=True))


def _check_funds(batch: PayoutBatch) -> bool:
    """Stage gathered/waiting → paying if the provider balance covers what is left to pay."""
    needed = dict(batch.items.filter(stage__in=OPEN).values_list("currency").annotate(s=Sum("amount"))
                  .values_list("currency", "s"))
    try:
        balance = provider.balance_available()
    except provider.ProviderError as exc:
        log.warning("Payout batch %s: balance check failed (%s); will retry", batch.pk, exc)
        return False
    short = {c: n - balance.get(c, 0) for c, n in needed.items() if balance.get(c, 0) < n}
    with transaction.atomic():
        locked = PayoutBatch.objects.select_for_update(no_key=True).get(pk=batch.pk)
        if locked.stage in (PayoutBatch.Stage.PAYING, PayoutBatch.Stage.DONE):
            return locked.stage == PayoutBatch.Stage.PAYING
        if short:
            note = "Provider balance short by " + ", ".join(str(Money(v, c)) for c, v in sorted(short.items()))
            if locked.stage != PayoutBatch.Stage.WAITING_FOR_FUNDS and (to := _staff_emails()):
                email_queue(to=to, template="payout_batch_waiting", context={"batch": locked, "note": note})
            locked.stage, locked.note = PayoutBatch.Stage.WAITING_FOR_FUNDS, note[:255]
            locked.save(update_fields=["stage", "note"])
            return False
        locked.stage, locked.note, locked.funded_at = PayoutBatch.Stage.PAYING, "", timezone.now()
        locked.save(update_fields=["stage", "note", "funded_at"])
    return True


def _due_items(batch_id: int, limit: int = 200, part: int = 0, parts: int = 1) -> list[int]:
    now = timezone.now()
    items = PayoutItem.objects.filter(batch_id=batch_id)
    if parts > 1:  # this run's share: items by id modulo the number of parts
        items = items.annotate(part=Mod("pk", parts)).filter(part=part)
    return list(items
                .filter(Q(stage=PayoutItem.Stage.QUEUED)
                        | Q(stage=PayoutItem.Stage.CLAIMED, claimed_until__lt=now))
                .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
                .order_by("pk").values_list("pk", flat=True)[:limit])


def payout_batch_run(*, batch_id: int, part: int = 0, parts: int = 1) -> PayoutBatch:
    """Run (or resume) a batch: safe to run any number of times, concurrently too. With ``parts``
    > 1 this run pays only its share (item id modulo ``parts`` = ``part``), so that several worker
    processes pay one batch together (the task splits it: ``payouts.run_parts``); whichever part
    ends last marks the batch done, and the sweeper's whole-batch run covers a part that never ran."""
    batch = PayoutBatch.objects.get(pk=batch_id)
    if batch.stage == PayoutBatch.Stage.DONE:
        return batch
    PayoutBatch.objects.filter(pk=batch_id).update(last_run_at=timezone.now())
    if batch.stage != PayoutBatch.Stage.PAYING and not _check_funds(batch):
        return PayoutBatch.objects.get(pk=batch_id)
    _pay_due(batch_id, RunSettings.now(), part, parts)
    return _finish_if_complete(batch_id)


class _Outbox:
    """The run's emails to creators, handed to the email worker ``size`` at a time: one task per
    chunk rather than one publish per item, which at a batch's rate was the runner's busiest wait
    (every thread queued for the broker connection). An email not yet handed on when the run dies
    is still a queued row: the email sweeper sends it (creatornext/core/emails.py)."""

    def __init__(self, size: int = 50) -> None:
        self.size = size
        self.ids: list[int] = []
        self.lock = threading.Lock()

    def add(self, email_id: int) -> None:
        with self.lock:
            self.ids.append(email_id)
            if len(self.ids) < self.size:
                return
            chunk, self.ids = self.ids, []
        self._send(chunk)

    def flush(self) -> None:
        with self.lock:
            chunk, self.ids = self.ids, []
        if chunk:
            self._send(chunk)

    @staticmethod
    def _send(chunk: list[int]) -> None:
        from creatornext.core.tasks import send_emails

        try:
            send_emails.delay(chunk)
        except Exception:  # the broker is down: the rows wait for the sweeper, nothing is lost
            log.warning("Could not hand %d payout emails to the email worker; the sweeper will", len(chunk))


class _DueFeed:
    """The batch's due items, handed out one at a time, fetched 200 at a time as they run out
    (each item at most once per run: one that waits for a retry is the sweeper's)."""

    def __init__(self, batch_id: int, part: int = 0, parts: int = 1) -> None:
        self.batch_id, self.part, self.parts = batch_id, part, parts
        self.seen: set[int] = set()
        self.buffer: list[int] = []
        self.lock = threading.Lock()

    def next(self) -> int | None:
        with self.lock:
            if not self.buffer:
                self.buffer = [pk for pk in _due_items(self.batch_id, part=self.part, parts=self.parts)
                               if pk not in self.seen]
                self.seen.update(self.buffer)
            return self.buffer.pop(0) if self.buffer else None


def _pay_due(batch_id: int, run_settings: RunSettings, part: int = 0, parts: int = 1) -> None:
    """Pay the due items ``width`` at a time. Each item is mostly waiting (for the provider, the
    token bucket, the database), so threads overlap those waits, and every thread takes the next
    item as soon as it is free (no thread waits for a slow neighbour); the claim makes every item
    one thread's alone, and the shared bucket keeps the provider's rate. Inside a transaction (the
    tests' own) other connections could not see its rows, so items are paid one by one there."""
    feed, outbox = _DueFeed(batch_id, part, parts), _Outbox()
    try:
        if run_settings.width <= 1 or transaction.get_connection().in_atomic_block:
            # Inside a caller's transaction the emails' commit hooks fire only when it commits,
            # after this run: there each email keeps its own send task.
            inside = transaction.get_connection().in_atomic_block
            while (pk := feed.next()) is not None:
                payout_item_pay(item_id=pk, run_settings=run_settings, outbox=None if inside else outbox)
            return
        errors: list[BaseException] = []

        def runner() -> None:
            try:
                while not errors and (pk := feed.next()) is not None:
                    payout_item_pay(item_id=pk, run_settings=run_settings, outbox=outbox)
            except BaseException as exc:  # reported after the others finish; the item's lease resumes it
                errors.append(exc)
            finally:
                db.connections.close_all()  # this thread's own connection

        threads = [threading.Thread(target=runner, name=f"payout-{n}", daemon=True)
                   for n in range(run_settings.width)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]
    finally:
        outbox.flush()


def _finish_if_complete(batch_id: int) -> PayoutBatch:
    with transaction.atomic():
        batch = PayoutBatch.objects.select_for_update(no_key=True).get(pk=batch_id)
        if batch.stage == PayoutBatch.Stage.PAYING and not batch.items.filter(stage__in=OPEN).exists():
            batch.stage, batch.finished_at = PayoutBatch.Stage.DONE, timezone.now()
            batch.save(update_fields=["stage", "finished_at"])
    return batch


def _claim(item_id: int, lease: timedelta | None = None) -> bool:
    now = timezone.now()
    lease = lease or timedelta(seconds=config.get(CLAIM_LEASE_SECONDS))
    return bool(PayoutItem.objects.filter(pk=item_id)
                .filter(Q(stage=PayoutItem.Stage.QUEUED)
                        | Q(stage=PayoutItem.Stage.CLAIMED, claimed_until__lt=now))
                .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
                .update(stage=PayoutItem.Stage.CLAIMED, claimed_until=now + lease,
                        attempts=F("attempts") + 1,
                        first_attempt_at=Coalesce(F("first_attempt_at"), Value(now))))


def _transfer(item: PayoutItem, run_settings: RunSettings | None = None) -> provider.ProviderTransfer:
    """The item's transfer: made now, or (same key) the one made before; after the key may have
    expired, found by its transfer group first."""
    run_settings = run_settings or RunSettings.now()
    rate = run_settings.rate
    assert item.first_attempt_at is not None
    if timezone.now() - item.first_attempt_at > run_settings.key_safe:
        ratelimit.acquire(BUCKET, rate)
        found = provider.transfers_list(transfer_group=item.transfer_group)
        if found:
            if len(found) > 1:
                log.error("Payout item %s has %d transfers at the provider", item.pk, len(found))
            return min(found, key=lambda t: t.created)
    ratelimit.acquire(BUCKET, rate)
    return provider.transfer_create(
        amount=Money(item.amount, item.currency), destination=item.destination,
        transfer_group=item.transfer_group, idempotency_key=item.idempotency_key,
        metadata={"payout_item": str(item.pk), "withdrawal": str(item.withdrawal_id)})


def backoff_seconds(attempt: int, *, base: float = 0.2, cap: float = 10.0) -> float:
    return min(cap, base * 2 ** attempt) * (0.5 + random.random() / 2)


def payout_item_pay(*, item_id: int, run_settings: RunSettings | None = None,
                    outbox: _Outbox | None = None) -> PayoutItem | None:
    """Claim, call, record (see the module's docstring). None if another runner owns the item.
    The creator's email goes to ``outbox`` when given, else to its own send task."""
    run_settings = run_settings or RunSettings.now()
    if not _claim(item_id, run_settings.lease):
        return None
    item = PayoutItem.objects.select_related("user__payout_account").get(pk=item_id)
    if item.attempts == 1 and (held := _hold_while_cooling_off(item, run_settings.cooling_off_days)):
        return held
    attempts = run_settings.attempts
    error = ""
    for attempt in range(attempts):
        try:
            transfer = _transfer(item, run_settings)
        except provider.ProviderRefused as exc:
            return _record_failed(item_id, exc.code, exc.message, outbox)
        except provider.ProviderError as exc:  # 429, timeout, 5xx: nothing or the first happened
            error = f"{exc.__class__.__name__}: {exc}"[:2000]
            log.info("Payout item %s attempt %s: %s", item_id, attempt + 1, error)
            if attempt + 1 < attempts:
                time.sleep(backoff_seconds(attempt))
            continue
        return _record_paid(item_id, transfer, outbox)
    wait = timedelta(seconds=min(3600, 30 * 2 ** min(item.attempts, 7)))
    later = timezone.now() + wait
    PayoutItem.objects.filter(pk=item_id, stage=PayoutItem.Stage.CLAIMED).update(
        claimed_until=later, next_attempt_at=later, last_error=error)
    return PayoutItem.objects.get(pk=item_id)


def _hold_while_cooling_off(item: PayoutItem, days: int) -> PayoutItem | None:
    """An item claimed for the first time (so no call has ever been made for it) whose payout
    account changed since it was gathered and is still cooling off: the claim is undone and the
    item waits, ``queued``, until the cooling-off ends (``next_attempt_at``). None if it may be paid."""
    account = getattr(item.user, "payout_account", None)
    if account is None or timezone.now() >= (until := cooling_off_until(account, days)):
        return None
    PayoutItem.objects.filter(pk=item.pk, stage=PayoutItem.Stage.CLAIMED, attempts=1).update(
        stage=PayoutItem.Stage.QUEUED, attempts=0, first_attempt_at=None, claimed_until=None,
        next_attempt_at=until, last_error=f"Payout account cooling off until {until:%Y-%m-%d %H:%M} UTC")
    log.info("Payout item %s held: payout account cooling off until %s", item.pk, until)
    return PayoutItem.objects.get(pk=item.pk)


def _tell_creator(item: PayoutItem, template: str, outbox: _Outbox | None, **context: Any) -> None:
    """Inside the recording transaction: the creator's email, sent after commit."""
    if not item.user.email:
        return
    email = email_queue(to=[item.user.email], template=template, publish=outbox is None, context={
        "user": item.user, "amount": Money(item.amount, item.currency), "item": item, **context})
    if outbox is not None:
        transaction.on_commit(lambda: outbox.add(email.pk))


def _record_paid(item_id: int, transfer: provider.ProviderTransfer, outbox: _Outbox | None = None) -> PayoutItem:
    with transaction.atomic():
        item = PayoutItem.objects.select_for_update(no_key=True).select_related("user").get(pk=item_id)
        if item.stage == PayoutItem.Stage.PAID:
            return item
        if item.stage == PayoutItem.Stage.FAILED:
            log.error("Payout item %s was failed but the provider has transfer %s", item_id, transfer.id)
            return item
        if (transfer.amount, transfer.currency) != (item.amount, item.currency):
            log.error("Payout item %s: transfer %s is %s %s", item_id, transfer.id, transfer.amount,
                      transfer.currency)
        item.stage, item.transfer_id, item.paid_at = PayoutItem.Stage.PAID, transfer.id, timezone.now()
        item.claimed_until = item.next_attempt_at = None
        item.last_error = ""
        item.save(update_fields=["stage", "transfer_id", "paid_at", "claimed_until", "next_attempt_at", "last_error"])
        post_once(Posting(key=f"payout-item:{item.pk}:paid", kind="payout", ref=f"payout-item:{item.pk}",
                     memo="Payout sent", metadata={"transfer": transfer.id, "withdrawal": item.withdrawal_id},
                     legs=[Leg(account_for(item.user, AccountKind.IN_PAYOUT, item.currency), -item.amount),
                           Leg(platform_account(AccountKind.PAYOUTS_SENT, item.currency), item.amount)]),
                  savepoint=False)  # any failure leaves this atomic block, which rolls back
        Withdrawal.objects.filter(pk=item.withdrawal_id).update(status=Withdrawal.Status.PAID)
        _tell_creator(item, "payout_paid", outbox)
    return item


def _record_failed(item_id: int, code: str, message: str, outbox: _Outbox | None = None) -> PayoutItem:
    """A permanent refusal: the money goes back to available cash and the creator is told."""
    with transaction.atomic():
        item = PayoutItem.objects.select_for_update(no_key=True).select_related("withdrawal", "user").get(pk=item_id)
        if item.stage in (PayoutItem.Stage.PAID, PayoutItem.Stage.FAILED):
            return item
        item.stage, item.failure_code, item.last_error = PayoutItem.Stage.FAILED, code[:100], message[:2000]
        item.claimed_until = item.next_attempt_at = None
        item.save()
        post_once(Posting(key=f"payout-item:{item.pk}:failed", kind="payout_failed", ref=f"payout-item:{item.pk}",
                     memo="Payout failed: returned to available", metadata={"code": code},
                     legs=[Leg(account_for(item.user, AccountKind.IN_PAYOUT, item.currency), -item.amount),
                           Leg(account_for(item.user, AccountKind.AVAILABLE, item.currency), item.amount)]),
                  savepoint=False)
        Withdrawal.objects.filter(pk=item.withdrawal_id).update(status=Withdrawal.Status.FAILED)
        _tell_creator(item, "payout_failed", outbox, reason=message)
    return item


# --- schedule and sweeper ----------------------------------------------------------------------
def payouts_run_due() -> list[int]:
    """Beat: gather waiting withdrawals into a batch, then run every batch that is not done."""
    payout_batch_create()
    return payouts_sweep()


def payouts_sweep() -> list[int]:
    """Beat: resume every unfinished batch (claimed items whose lease expired, items whose retry
    time came, batches waiting for funds). Redis redelivers a lost task only after its visibility
    timeout; this finds the work sooner."""
    ran = []
    for batch_id in PayoutBatch.objects.exclude(stage=PayoutBatch.Stage.DONE).order_by("pk") \
            .values_list("pk", flat=True):
        payout_batch_run(batch_id=batch_id)
        ran.append(batch_id)
    return ran


def totals_by_currency() -> dict[str, dict[str, int]]:
    """Paid items vs the ledger's payouts (for checks and the admin)."""
    out: dict[str, dict[str, int]] = defaultdict(lambda: {"paid": 0})
    for currency, total in (PayoutItem.objects.filter(stage=PayoutItem.Stage.PAID).values_list("currency")
                            .annotate(s=Sum("amount")).values_list("currency", "s")):
        out[currency]["paid"] = total
    return dict(out)
