"""Payout accounts, withdrawals, payout batches and their items, reconciliation reports.

Money moves only through ledger postings whose keys come from these rows (see services.py):
``withdrawal:<id>:requested`` (available → in payout), ``withdrawal:<id>:netting`` (available →
debt), ``payout-item:<id>:paid`` (in payout → platform payouts sent) and ``payout-item:<id>:failed``
(in payout → available). Each row stores the limits it was made under.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class PayoutAccount(models.Model):
    """A creator's Stripe Connect Express account; status follows ``account.updated`` events."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                related_name="payout_account")
    provider_id = models.CharField(max_length=100, blank=True, db_index=True)  # acct_...
    payouts_enabled = models.BooleanField(default=False)
    details_submitted = models.BooleanField(default=False)
    external_account = models.CharField(max_length=100, blank=True)  # the bank/card payouts go to
    auto_withdraw = models.BooleanField(default=False)
    # Any change of where the money goes starts the cooling-off (account-takeover protection).
    changed_at = models.DateTimeField()
    # The provider's timestamp of the newest state applied: an older event never overwrites it.
    provider_updated = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"payout account of user {self.user_id} ({self.provider_id or 'not connected'})"

    @property
    def idempotency_key(self) -> str:
        return f"creatornext-payout-account-{self.pk}"

    @property
    def status(self) -> str:
        if not self.provider_id:
            return "onboarding"
        if self.payouts_enabled:
            return "enabled"
        return "restricted" if self.details_submitted else "onboarding"


class Withdrawal(models.Model):
    class Status(models.TextChoices):
        REQUESTED = "requested"  # money in the creator's in-payout account, waiting for a batch
        PROCESSING = "processing"  # an item of a batch
        PAID = "paid"
        FAILED = "failed"  # the money went back to available

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.REQUESTED)
    netted_debt = models.BigIntegerField(default=0)  # debt repaid from available first
    day = models.DateField()  # UTC day, for the daily cap
    auto_week = models.CharField(max_length=10, blank=True)  # "2025-W03" for automatic ones
    # The limits it was made under (history never changes when a setting does)
    min_amount = models.BigIntegerField()
    daily_max = models.BigIntegerField()
    cooling_off_days = models.PositiveSmallIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["user", "day"], name="payouts_withdrawal_day"),
                   models.Index(fields=["status", "id"], name="payouts_withdrawal_status")]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="withdrawal_amount_positive"),
            models.UniqueConstraint(fields=["user", "currency", "auto_week"],
                                    condition=~Q(auto_week=""),
                                    name="withdrawal_one_auto_per_week"),
        ]

    def __str__(self) -> str:
        return f"withdrawal {self.pk}: {self.amount} {self.currency} ({self.status})"


class PayoutBatch(models.Model):
    class Stage(models.TextChoices):
        GATHERED = "gathered"  # items created; the balance not yet checked
        WAITING_FOR_FUNDS = "waiting_for_funds"  # the provider balance could not cover it
        PAYING = "paying"  # balance checked; items being paid
        DONE = "done"

    stage = models.CharField(max_length=20, choices=Stage.choices, default=Stage.GATHERED)
    started_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.PROTECT, related_name="+")
    note = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    funded_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    last_run_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "payout batches"

    def __str__(self) -> str:
        return f"payout batch {self.pk} ({self.stage})"


class PayoutItem(models.Model):
    """One transfer: claimed before the call, outcome recorded after (services.payout_item_pay)."""

    class Stage(models.TextChoices):
        QUEUED = "queued"  # nothing sent yet
        CLAIMED = "claimed"  # a worker owns it until claimed_until; a call may have been made
        PAID = "paid"
        FAILED = "failed"

    batch = models.ForeignKey(PayoutBatch, on_delete=models.PROTECT, related_name="items")
    withdrawal = models.OneToOneField(Withdrawal, on_delete=models.PROTECT, related_name="item")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    destination = models.CharField(max_length=100)  # acct_... when the batch was gathered
    stage = models.CharField(max_length=10, choices=Stage.choices, default=Stage.QUEUED)
    attempts = models.PositiveIntegerField(default=0)
    first_attempt_at = models.DateTimeField(null=True, blank=True)  # its provider key's age
    claimed_until = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    transfer_id = models.CharField(max_length=100, blank=True, db_index=True)
    failure_code = models.CharField(max_length=100, blank=True)
    last_error = models.TextField(blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["batch", "stage"], name="payouts_item_batch_stage"),
                   models.Index(fields=["stage", "claimed_until"], name="payouts_item_claims")]
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="payout_item_positive")]

    def __str__(self) -> str:
        return f"payout item {self.pk}: {self.amount} {self.currency} ({self.stage})"

    @property
    def idempotency_key(self) -> str:
        return f"creatornext-payout-item-{self.pk}"

    @property
    def transfer_group(self) -> str:
        return f"payout-item:{self.pk}"


class ReconciliationRun(models.Model):
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    since = models.DateTimeField()
    checked = models.JSONField(default=dict, blank=True)  # {"transfers": n, "payments": n, ...}
    mismatch_count = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)

    def __str__(self) -> str:
        return f"reconciliation {self.pk} ({self.mismatch_count} mismatches)"


class Mismatch(models.Model):
    class Kind(models.TextChoices):
        MISSING_TRANSFER = "missing_transfer", "Paid by us, no transfer at the provider"
        AMOUNT_MISMATCH = "amount_mismatch", "Transfer amount differs"
        UNKNOWN_TRANSFER = "unknown_transfer", "Transfer at the provider we did not make"
        UNRECORDED_TRANSFER = "unrecorded_transfer", "Transfer made for an item we have not recorded paid"
        LEDGER_MISMATCH = "ledger_mismatch", "Paid item and ledger disagree"
        PAYMENT_MISMATCH = "payment_mismatch", "Payment differs from the provider's"
        REFUND_MISMATCH = "refund_mismatch", "Refund differs from the provider's"

    run = models.ForeignKey(ReconciliationRun, on_delete=models.CASCADE, related_name="mismatches")
    kind = models.CharField(max_length=24, choices=Kind.choices)
    ref = models.CharField(max_length=100)  # "payout-item:12", "tr_...", "payment:4"
    ours = models.JSONField(null=True, blank=True)
    theirs = models.JSONField(null=True, blank=True)
    message = models.CharField(max_length=255)

    class Meta:
        verbose_name_plural = "mismatches"

    def __str__(self) -> str:
        return f"{self.kind} {self.ref}"


class RateBucket(models.Model):
    """The shared token bucket when there is no Redis (embedded default): one locked row."""

    name = models.CharField(max_length=50, primary_key=True)
    tokens_milli = models.BigIntegerField(default=0)  # thousandths of a token, no floats
    updated_us = models.BigIntegerField(default=0)  # epoch microseconds

    def __str__(self) -> str:
        return self.name
