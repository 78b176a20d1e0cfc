"""Payments through the provider (Stripe): what we asked for, what happened, and every event.

A ``Payment`` row is written and committed *before* the provider is called, so its id (and the
idempotency key derived from it) exists whatever happens next, and a webhook always finds it.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class PaymentStatus(models.TextChoices):
    CREATED = "created"
    REQUIRES_ACTION = "requires_action"  # the payer must authenticate (3-D Secure)
    PROCESSING = "processing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"
    REFUNDED = "refunded"
    DISPUTED = "disputed"


class Payment(models.Model):
    purpose = models.CharField(max_length=40)  # "tip", "coin_purchase", "escrow" → its handler
    ref = models.CharField(max_length=100)  # what it pays for: "tip:12"
    payer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    amount = models.BigIntegerField()  # gross, minor units
    currency = models.CharField(max_length=3)
    # From the provider's balance transaction; None until the provider reports it (the success,
    # and its credit of gross − fee, wait for it: ``services.FeeNotKnown``).
    fee = models.BigIntegerField(null=True, blank=True)
    status = models.CharField(max_length=20, choices=PaymentStatus.choices,
                              default=PaymentStatus.CREATED)
    provider_id = models.CharField(max_length=100, blank=True, db_index=True)  # pi_...
    charge_id = models.CharField(max_length=100, blank=True, db_index=True)  # ch_...
    client_secret = models.CharField(max_length=200, blank=True)  # for 3-D Secure in the browser
    failure_code = models.CharField(max_length=100, blank=True)
    failure_message = models.CharField(max_length=255, blank=True)
    refunded_amount = models.BigIntegerField(default=0)
    dispute_id = models.CharField(max_length=100, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["purpose", "ref"])]
        constraints = [
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="payment_amount_positive"),
            models.CheckConstraint(condition=models.Q(refunded_amount__gte=0)
                                   & models.Q(refunded_amount__lte=models.F("amount")),
                                   name="payment_refund_within_amount"),
        ]

    def __str__(self) -> str:
        return f"payment {self.pk} {self.purpose} {self.amount} {self.currency} {self.status}"

    @property
    def idempotency_key(self) -> str:
        return f"creatornext-payment-{self.pk}"

    @property
    def net(self) -> int | None:
        return None if self.fee is None else self.amount - self.fee


class PaymentStatusChange(models.Model):
    """The payment's state history: every transition, what caused it, when."""

    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="history")
    from_status = models.CharField(max_length=20)
    to_status = models.CharField(max_length=20)
    source = models.CharField(max_length=60)  # "confirm", "webhook:evt_...", "refund", ...
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return f"{self.from_status} → {self.to_status} ({self.source})"


class Refund(models.Model):
    """One refund at the provider: ours (``payment_refund``), or one made there (adopted from its
    events). Its money moves once, when the provider says it succeeded (``services``)."""

    class Status(models.TextChoices):
        # Not (yet) succeeded: asked for, or the provider's ``pending`` / ``requires_action``.
        # Nothing is booked; it counts against what may still be refunded.
        PENDING = "pending"
        SUCCEEDED = "succeeded"  # booked: the purpose's refund handler took the money back
        FAILED = "failed"  # failed or canceled before it succeeded: nothing moved
        # Succeeded (booked), then failed at the provider, which put the money back in our
        # balance: booked back once to the adjustments account for staff (``services``).
        RETURNED = "returned"

    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="refunds")
    amount = models.BigIntegerField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    provider_id = models.CharField(max_length=100, blank=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                     on_delete=models.PROTECT, related_name="+")
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=models.Q(amount__gt=0), name="refund_positive")]

    def __str__(self) -> str:
        return f"refund {self.pk} of payment {self.payment_id}: {self.amount} ({self.status})"

    @property
    def idempotency_key(self) -> str:
        return f"creatornext-refund-{self.pk}"


class WebhookEvent(models.Model):
    """Every verified provider event, stored once by its id, processed until it succeeds."""

    class Status(models.TextChoices):
        PENDING = "pending"
        PROCESSED = "processed"
        IGNORED = "ignored"  # a type we do not handle, or a payment that is not ours
        FAILED = "failed"  # the handler raised; retried with backoff

    # Few indexes: every event is inserted once and updated once (its outcome), at webhook rates,
    # and each index costs both writes (decision 0019). Unique by a constraint rather than
    # ``unique=True``, which on PostgreSQL also builds a pattern-ops index nothing here uses.
    event_id = models.CharField(max_length=100)
    type = models.CharField(max_length=100)
    payload = models.JSONField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["event_id"], name="payments_webhook_event_id_unique")]
        indexes = [
            # The drains' queue (webhooks.webhook_events_drain): pending ids in order.
            models.Index(fields=["id"], condition=models.Q(status="pending"), name="payments_webhook_pending"),
            # The sweeper's failed events due for a retry. Partial indexes are written only for the
            # rows they hold: a processed event touches neither.
            models.Index(fields=["next_attempt_at"], condition=models.Q(status="failed"),
                         name="payments_webhook_failed_due"),
        ]

    def __str__(self) -> str:
        return f"{self.event_id} {self.type} ({self.status})"
