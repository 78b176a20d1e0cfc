"""Daily reconciliation: our records against the provider's, every mismatch reported to staff.

Checked, for everything since ``since`` (default: the last 35 days):
- transfers: each paid item has its transfer at the provider with the same amount (net of
  reversals) and currency (``missing_transfer``, ``amount_mismatch``); every provider transfer
  belongs to a paid item (``unknown_transfer``, or ``unrecorded_transfer`` when it belongs to an
  item we have not recorded as paid and no worker is still on it);
- ledger: each paid item has its ``payout-item:<id>:paid`` posting of the same amount, and no
  payout posting exists for an item that is not paid (``ledger_mismatch``);
- payments and refunds the payments app recorded: the provider has them, same amount, succeeded
  (``payment_mismatch``, ``refund_mismatch``);
- escrow payments (marketplace collaborations): the ledger put each into escrow and took each
  refund out of it (``ledger_mismatch``).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from creatornext.core.emails import email_queue
from creatornext.ledger.models import ESCROW_POSTING_PREFIX, AccountKind, Entry, Transaction
from creatornext.payments import provider
from creatornext.payments.models import Payment, PaymentStatus, Refund
from creatornext.payouts.batches import _staff_emails
from creatornext.payouts.models import Mismatch, PayoutItem, ReconciliationRun

log = logging.getLogger(__name__)
K = Mismatch.Kind


def _transfer_data(t: provider.ProviderTransfer) -> dict[str, Any]:
    return {"id": t.id, "amount": t.amount, "amount_reversed": t.amount_reversed, "currency": t.currency,
            "destination": t.destination, "transfer_group": t.transfer_group}


def _item_data(item: PayoutItem) -> dict[str, Any]:
    return {"item": item.pk, "stage": item.stage, "amount": item.amount, "currency": item.currency,
            "transfer_id": item.transfer_id, "destination": item.destination}


def _transfers(since: datetime, found: list[Mismatch]) -> int:
    transfers = provider.transfers_list(created_gte=int(since.timestamp()))
    by_id = {t.id: t for t in transfers}
    groups: dict[str, list[provider.ProviderTransfer]] = {}
    for t in transfers:
        groups.setdefault(t.transfer_group, []).append(t)
    group_ids = [int(g.split(":")[1]) for g in groups if g.startswith("payout-item:") and g.split(":")[1].isdigit()]
    items = {i.pk: i for i in PayoutItem.objects.filter(created_at__gte=since)}
    items.update({i.pk: i for i in PayoutItem.objects.filter(pk__in=group_ids)})
    accounted: set[str] = set()
    now = timezone.now()
    for item in items.values():
        ref = f"payout-item:{item.pk}"
        if item.stage == PayoutItem.Stage.PAID:
            paid_by = by_id.get(item.transfer_id)
            if paid_by is None and item.paid_at and item.paid_at >= since:
                found.append(Mismatch(kind=K.MISSING_TRANSFER, ref=ref, ours=_item_data(item),
                                      message=f"Item {item.pk} is paid by transfer {item.transfer_id}, "
                                              "which the provider does not have."))
            elif paid_by is not None:
                accounted.add(paid_by.id)
                net = paid_by.amount - paid_by.amount_reversed
                if (net, paid_by.currency) != (item.amount, item.currency):
                    found.append(Mismatch(kind=K.AMOUNT_MISMATCH, ref=ref, ours=_item_data(item),
                                          theirs=_transfer_data(paid_by),
                                          message=f"Item {item.pk}: we sent {item.amount} {item.currency}, "
                                                  f"transfer {paid_by.id} is {net} {paid_by.currency}."))
        for t in groups.get(ref, []):
            if t.id in accounted:
                continue
            accounted.add(t.id)
            in_flight = item.stage == PayoutItem.Stage.CLAIMED and item.claimed_until and item.claimed_until > now
            if not in_flight:
                found.append(Mismatch(kind=K.UNRECORDED_TRANSFER if item.stage != PayoutItem.Stage.PAID
                                      else K.UNKNOWN_TRANSFER, ref=ref, ours=_item_data(item),
                                      theirs=_transfer_data(t),
                                      message=f"Transfer {t.id} for item {item.pk} ({item.stage}) is not "
                                              "recorded as its payment."))
    for t in transfers:
        if t.id not in accounted:
            found.append(Mismatch(kind=K.UNKNOWN_TRANSFER, ref=t.id, theirs=_transfer_data(t),
                                  message=f"Transfer {t.id} ({t.amount} {t.currency} to {t.destination}) "
                                          "matches none of our payout items."))
    return len(transfers)


def _ledger(since: datetime, found: list[Mismatch]) -> int:
    items = {i.pk: i for i in PayoutItem.objects.filter(created_at__gte=since)}
    keys = {f"payout-item:{pk}:paid": pk for pk in items}
    sent = dict(Entry.objects.filter(transaction__key__in=list(keys), account__kind=AccountKind.PAYOUTS_SENT)
                .values_list("transaction__key", "amount"))
    for key, pk in keys.items():
        item = items[pk]
        posted = sent.get(key)
        if item.stage == PayoutItem.Stage.PAID and posted != item.amount:
            found.append(Mismatch(kind=K.LEDGER_MISMATCH, ref=f"payout-item:{pk}", ours=_item_data(item),
                                  theirs={"ledger": posted},
                                  message=f"Item {pk} is paid ({item.amount}) but the ledger shows {posted}."))
        elif item.stage != PayoutItem.Stage.PAID and posted is not None:
            found.append(Mismatch(kind=K.LEDGER_MISMATCH, ref=f"payout-item:{pk}", ours=_item_data(item),
                                  theirs={"ledger": posted},
                                  message=f"Item {pk} is {item.stage} but the ledger paid it out."))
    orphans = Transaction.objects.filter(kind="payout", created_at__gte=since).exclude(key__in=list(keys))
    for txn in orphans:
        found.append(Mismatch(kind=K.LEDGER_MISMATCH, ref=txn.key, theirs={"transaction": txn.pk},
                              message=f"Ledger payout {txn.key} matches no payout item."))
    return len(keys)


def _payments(since: datetime, found: list[Mismatch]) -> int:
    ours = list(Payment.objects.filter(created_at__gte=since).exclude(provider_id="")
                .filter(status__in=[PaymentStatus.SUCCEEDED, PaymentStatus.REFUNDED, PaymentStatus.DISPUTED]))
    if not ours:
        return 0
    theirs = {p["id"]: p for p in provider.payment_intents_list(created_gte=int(since.timestamp()) - 60)}
    for payment in ours:
        pi = theirs.get(payment.provider_id)
        data = {"payment": payment.pk, "amount": payment.amount, "currency": payment.currency,
                "status": payment.status}
        if pi is None:
            found.append(Mismatch(kind=K.PAYMENT_MISMATCH, ref=f"payment:{payment.pk}", ours=data,
                                  message=f"Payment {payment.pk} ({payment.provider_id}) is unknown to the provider."))
        elif (pi["amount"], pi["currency"]) != (payment.amount, payment.currency) or pi["status"] != "succeeded":
            found.append(Mismatch(kind=K.PAYMENT_MISMATCH, ref=f"payment:{payment.pk}", ours=data, theirs=pi,
                                  message=f"Payment {payment.pk}: ours {payment.amount} {payment.currency} "
                                          f"{payment.status}, provider's {pi['amount']} {pi['currency']} "
                                          f"{pi['status']}."))
    refunds = list(Refund.objects.filter(created_at__gte=since, status=Refund.Status.SUCCEEDED)
                   .exclude(provider_id=""))
    if refunds:
        provider_refunds = {r["id"]: r for r in provider.refunds_list(created_gte=int(since.timestamp()) - 60)}
        for refund in refunds:
            r = provider_refunds.get(refund.provider_id)
            if r is None or r["amount"] != refund.amount:
                found.append(Mismatch(kind=K.REFUND_MISMATCH, ref=f"refund:{refund.pk}",
                                      ours={"refund": refund.pk, "amount": refund.amount}, theirs=r,
                                      message=f"Refund {refund.pk} ({refund.provider_id}) differs at the provider."))
    return len(ours) + len(refunds)


def _escrow(since: datetime, found: list[Mismatch]) -> int:
    """Escrow payments (purpose ``escrow``, marketplace collaborations) against the ledger: each
    succeeded one put its ``escrow_amount`` into escrow (``<ref>:funded``), and what the provider
    refunded left through ``escrow_refund`` postings of the same total (``ledger_mismatch``)."""
    ours = list(Payment.objects.filter(purpose="escrow", created_at__gte=since, status__in=[
        PaymentStatus.SUCCEEDED, PaymentStatus.REFUNDED, PaymentStatus.DISPUTED]))
    for payment in ours:
        data = {"payment": payment.pk, "amount": payment.amount, "refunded": payment.refunded_amount,
                "escrow_amount": payment.metadata.get("escrow_amount")}
        funded = Entry.objects.filter(transaction__key=f"{payment.ref}:funded",
                                      account__kind=AccountKind.ESCROW).values_list("amount", flat=True).first()
        if funded != payment.metadata.get("escrow_amount"):
            found.append(Mismatch(kind=K.LEDGER_MISMATCH, ref=f"payment:{payment.pk}", ours=data,
                                  theirs={"escrow_funded": funded},
                                  message=f"Escrow payment {payment.pk} ({payment.ref}): escrow received {funded}."))
        # The kind prefix as well: it lets PostgreSQL find the refs in their partial index.
        refunded = sum(Entry.objects.filter(transaction__ref=payment.ref, transaction__kind="escrow_refund",
                                            transaction__kind__startswith=ESCROW_POSTING_PREFIX,
                                            account__kind=AccountKind.PROVIDER_INFLOW)
                       .values_list("amount", flat=True))
        if refunded != payment.refunded_amount:
            found.append(Mismatch(kind=K.LEDGER_MISMATCH, ref=f"payment:{payment.pk}", ours=data,
                                  theirs={"ledger_refunded": refunded},
                                  message=f"Escrow payment {payment.pk}: refunded {payment.refunded_amount}, "
                                          f"the ledger shows {refunded}."))
    return len(ours)


def reconcile(*, since: datetime | None = None) -> ReconciliationRun:
    since = since or timezone.now() - timedelta(days=35)
    run = ReconciliationRun.objects.create(since=since)
    found: list[Mismatch] = []
    checked: dict[str, int] = {}
    errors = []
    for name, check in (("transfers", _transfers), ("ledger", _ledger), ("payments", _payments),
                        ("escrow", _escrow)):
        try:
            checked[name] = check(since, found)
        except provider.ProviderError as exc:
            log.warning("Reconciliation: %s not checked: %s", name, exc)
            errors.append(f"{name}: {exc}")
    with transaction.atomic():
        for m in found:
            m.run = run
        Mismatch.objects.bulk_create(found)
        run.checked, run.mismatch_count, run.error = checked, len(found), "\n".join(errors)
        run.finished_at = timezone.now()
        run.save()
        if (found or errors) and (to := _staff_emails()):
            email_queue(to=to, template="reconciliation_report",
                        context={"run": run, "mismatches": found[:50], "errors": errors})
    return run
