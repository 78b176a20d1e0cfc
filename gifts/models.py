"""Coins (bought by fans), the gift catalog, videos, and gift sends that turn coins into diamonds."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from creatornext.accounts.models import CreatorProfile


class CoinPack(models.Model):
    """A pack fans buy (staff-editable; seeded with the web prices)."""

    coins = models.PositiveIntegerField()
    price = models.BigIntegerField()  # minor units
    currency = models.CharField(max_length=3, default="USD")
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["coins"]
        constraints = [models.CheckConstraint(condition=models.Q(price__gt=0) & models.Q(coins__gt=0),
                                              name="coinpack_positive")]

    def __str__(self) -> str:
        return f"{self.coins} coins"


class Gift(models.Model):
    name = models.CharField(max_length=60)
    icon = models.CharField(max_length=200, help_text="static path, e.g. img/gifts/rose.svg")
    coins = models.PositiveIntegerField(validators=[MinValueValidator(1), MaxValueValidator(44_999)])
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["coins"]
        constraints = [models.CheckConstraint(condition=models.Q(coins__gte=1, coins__lte=44_999),
                                              name="gift_coins_range")]

    def __str__(self) -> str:
        return f"{self.name} ({self.coins} coins)"


class Video(models.Model):
    class Kind(models.TextChoices):
        ORIGINAL = "original"
        DUET = "duet"
        STITCH = "stitch"
        AD = "ad"
        SPONSORED = "sponsored"

    PROGRAM = "video-gifts"  # the program a creator is enrolled in to receive gifts on videos

    creator = models.ForeignKey(CreatorProfile, on_delete=models.PROTECT, related_name="videos")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    public = models.BooleanField(default=True)
    title = models.CharField(max_length=150)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.title} ({self.kind})"

    @property
    def accepts_gifts(self) -> bool:
        return self.kind_accepts_gifts(self.kind)

    @classmethod
    def kind_accepts_gifts(cls, kind: str) -> bool:
        """The rule on a kind alone (the gift send reads the kind, not the row): originals only."""
        return kind == cls.Kind.ORIGINAL


class CoinPurchase(models.Model):
    fan = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    pack = models.ForeignKey(CoinPack, on_delete=models.PROTECT, related_name="+")
    coins = models.PositiveIntegerField()  # as sold (the pack may change later)
    price = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    payment = models.OneToOneField("payments.Payment", null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="coin_purchase")
    # The limits it was checked against (history never changes when a setting does).
    limits = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        indexes = [models.Index(fields=["fan", "-created_at"])]

    def __str__(self) -> str:
        return f"purchase {self.pk}: {self.coins} coins"

    @property
    def status(self) -> str:
        return self.payment.status if self.payment is not None else "pending"


class WalletLock(models.Model):
    """A fan's coin wallet locked for staff review (after a chargeback on a coin purchase)."""

    fan = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="wallet_lock")
    reason = models.TextField()
    locked_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"wallet of {self.fan} locked"


class GiftSend(models.Model):
    # Every index is written on the hottest path: fan and creator are served by the two
    # (owner, -created_at) indexes below, so they have no index of their own.
    fan = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", db_index=False)
    creator = models.ForeignKey(CreatorProfile, on_delete=models.PROTECT, related_name="gifts_received",
                                db_index=False)
    gift = models.ForeignKey(Gift, on_delete=models.PROTECT, related_name="+")
    quantity = models.PositiveSmallIntegerField()
    video = models.ForeignKey(Video, null=True, blank=True, on_delete=models.PROTECT, related_name="gifts")
    live_stream = models.ForeignKey("LiveStream", null=True, blank=True, on_delete=models.PROTECT,
                                    related_name="gifts")
    coins_spent = models.BigIntegerField()
    diamonds_credited = models.BigIntegerField()
    remainder_micro = models.BigIntegerField(default=0)  # diamond fraction, in millionths
    # The rates it was made under (history never changes when staff change a rate)
    rate_num = models.BigIntegerField()
    rate_den = models.BigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["fan", "-created_at"]),
                   models.Index(fields=["creator", "-created_at"])]
        constraints = [models.CheckConstraint(condition=models.Q(quantity__gte=1, quantity__lte=99),
                                              name="giftsend_quantity_range")]

    def __str__(self) -> str:
        return f"{self.quantity} × {self.gift} to {self.creator}"


class LiveStream(models.Model):
    PROGRAM = "live-gifts"  # the program a creator is enrolled in to go live and receive gifts

    creator = models.ForeignKey(CreatorProfile, on_delete=models.PROTECT, related_name="live_streams")
    title = models.CharField(max_length=150)
    started_at = models.DateTimeField(auto_now_add=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.title} ({'live' if self.is_live else 'ended'})"

    @property
    def is_live(self) -> bool:
        return self.live_until(self.ended_at)

    @staticmethod
    def live_until(ended_at: object) -> bool:
        """The rule on the end time alone (the gift send reads it, not the row): on until ended."""
        return ended_at is None


class Redemption(models.Model):
    """Diamonds converted to cash: approved at once, or held for staff review past the threshold."""

    class Status(models.TextChoices):
        APPROVED = "approved"
        IN_REVIEW = "in_review"
        REJECTED = "rejected"

    creator = models.ForeignKey(CreatorProfile, on_delete=models.PROTECT, related_name="redemptions")
    diamonds = models.BigIntegerField()  # the diamonds the cash pays for (an odd one stays)
    amount = models.BigIntegerField()  # cash, minor units, rounded down to whole cents
    currency = models.CharField(max_length=3, default="USD")
    status = models.CharField(max_length=10, choices=Status.choices)
    # The rate and limits it was made under
    rate_num = models.BigIntegerField()
    rate_den = models.BigIntegerField()
    limits = models.JSONField(default=dict)
    reviewed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                    related_name="+")
    review_reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["creator", "-created_at"])]
        constraints = [models.CheckConstraint(condition=models.Q(diamonds__gt=0, amount__gt=0),
                                              name="redemption_positive")]

    def __str__(self) -> str:
        return f"redemption {self.pk}: {self.diamonds} diamonds → {self.amount} ({self.status})"
