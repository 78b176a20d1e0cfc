"""Tips: a fan sends money to a creator; the creator keeps it all less the processor's fee."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from creatornext.accounts.models import CreatorProfile


class Tip(models.Model):
    fan = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="tips_sent")
    creator = models.ForeignKey(CreatorProfile, on_delete=models.PROTECT, related_name="tips_received")
    amount = models.BigIntegerField()  # gross, minor units
    currency = models.CharField(max_length=3)
    message = models.CharField(max_length=150, blank=True)  # plain text; escaped wherever shown
    anonymous = models.BooleanField(default=False)
    # The payment carries the state, the fee and the state history; the tip never copies them.
    payment = models.OneToOneField("payments.Payment", null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="tip")
    # The limits this tip was checked against (history never changes when a setting does).
    limits = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        indexes = [models.Index(fields=["fan", "-created_at"]),
                   models.Index(fields=["creator", "-created_at"])]
        constraints = [models.CheckConstraint(condition=models.Q(amount__gt=0), name="tip_amount_positive")]

    def __str__(self) -> str:
        return f"tip {self.pk}: {self.amount} {self.currency} to {self.creator}"

    @property
    def status(self) -> str:
        return self.payment.status if self.payment is not None else "pending"


class TipDigest(models.Model):
    """One daily "tips received" email per creator and UTC day (the row makes the task idempotent)."""

    creator = models.ForeignKey(CreatorProfile, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    sent_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["creator", "day"], name="tip_digest_once")]

    def __str__(self) -> str:
        return f"digest for {self.creator} on {self.day}"
