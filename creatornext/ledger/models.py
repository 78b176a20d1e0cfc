"""The double-entry ledger: the single source of truth for cash, coins and diamonds.

Convention ("value holder"): every account holds value of one asset; a transaction moves value
between accounts, so its entries sum to zero per asset. Value enters and leaves through platform
accounts that stand for the outside world (e.g. ``provider_inflow`` goes negative as fans pay in).
A creator's total cash is pending + available + in_payout + debt, where ``debt`` is never positive:
it holds what the creator owes, as negative value, explicitly.

Transactions and entries are append-only (database triggers, migration 0002); a correction is a
reversing transaction. Amounts are integers: minor units of a currency, or whole coins/diamonds.
See docs/decisions/0004-ledger.md and 0005-hot-accounts.md.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

COIN = "COIN"
DIAMOND = "DIAMOND"
# Diamond fractions (millionths) that conversions at a fractional rate leave over; only the
# platform's remainder account holds them, so "credited + remainder = coins × rate" stays exact.
MICRO_DIAMOND = "UDIAMOND"


class AccountKind(models.TextChoices):
    # A creator's or fan's own accounts (owner set; balance cached, locked when written)
    PENDING = "pending", "Pending cash"
    AVAILABLE = "available", "Available cash"
    IN_PAYOUT = "in_payout", "Cash in payout"
    DEBT = "debt", "Debt (owed to the platform)"
    COINS = "coins", "Coins"
    DIAMONDS = "diamonds", "Diamonds"
    # Platform accounts (no owner; no cached balance, so no row lock: see 0005-hot-accounts)
    PROVIDER_INFLOW = "provider_inflow", "Payments received through the provider"
    PROCESSOR_FEES = "processor_fees", "Processor fees"
    LOSSES = "losses", "Platform losses (refund/dispute fees, chargebacks)"
    COINS_ISSUED = "coins_issued", "Coins issued"
    COINS_SPENT = "coins_spent", "Coins spent on gifts"
    DIAMONDS_ISSUED = "diamonds_issued", "Diamonds issued"
    DIAMOND_REMAINDER = "diamond_remainder", "Diamond fractions (remainder)"
    DIAMONDS_REDEEMED = "diamonds_redeemed", "Diamonds redeemed"
    DIAMONDS_IN_REVIEW = "diamonds_in_review", "Diamonds held while a redemption is reviewed"
    COIN_SALES = "coin_sales", "Coin sales"
    REDEMPTIONS = "redemptions", "Diamond redemptions paid"
    ESCROW = "escrow", "Escrow"
    PAYOUTS_SENT = "payouts_sent", "Payouts sent"
    REVENUE = "revenue", "Platform revenue"
    ADJUSTMENTS = "adjustments", "Manual adjustments"


OWNER_KINDS = {AccountKind.PENDING, AccountKind.AVAILABLE, AccountKind.IN_PAYOUT, AccountKind.DEBT,
               AccountKind.COINS, AccountKind.DIAMONDS}
# Accounts that receive bursts (a creator during a LIVE) are locked last, after the payer's.
HOT_KINDS = {AccountKind.DIAMONDS, AccountKind.PENDING, AccountKind.DEBT}
# Every posting that moves value in or out of the escrow account has a kind starting with this
# (``escrow_funded``, ``escrow_release``, ...): what a collaboration holds is found through the
# partial index of their refs (``Transaction.Meta``), and ``ledger_check`` holds the rule.
ESCROW_POSTING_PREFIX = "escrow_"
# What a tip's refunds and disputes took back from its creator, and what won disputes gave back,
# is read by the tip's ref (``tips.handlers``): their refs are indexed too (``Transaction.Meta``).
TIP_RETURN_KINDS = ("tip_refund", "tip_dispute", "tip_dispute_won")


class Account(models.Model):
    class Rule(models.TextChoices):
        NON_NEGATIVE = "non_negative"  # wallets: never below zero
        NON_POSITIVE = "non_positive"  # debt: holds only what is owed
        ANY = "any"

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                              on_delete=models.PROTECT, related_name="ledger_accounts")
    kind = models.CharField(max_length=24, choices=AccountKind.choices)
    asset = models.CharField(max_length=8)  # ISO currency, or COIN / DIAMOND
    # Cached sum of entries; NULL for platform accounts, which are never locked (hot accounts).
    balance = models.BigIntegerField(null=True, blank=True)
    rule = models.CharField(max_length=12, choices=Rule.choices, default=Rule.ANY)
    # Lock order: (lock_rank, id). Contended accounts get the higher rank and are locked last.
    lock_rank = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["owner", "kind", "asset"], condition=Q(owner__isnull=False),
                                    name="ledger_account_owner_kind_asset"),
            models.UniqueConstraint(fields=["kind", "asset"], condition=Q(owner__isnull=True),
                                    name="ledger_account_platform_kind_asset"),
            # The database, not the code, keeps wallets from going below zero.
            models.CheckConstraint(condition=~Q(rule="non_negative") | Q(balance__gte=0),
                                   name="ledger_account_non_negative"),
            models.CheckConstraint(condition=~Q(rule="non_positive") | Q(balance__lte=0),
                                   name="ledger_account_non_positive"),
            models.CheckConstraint(condition=Q(owner__isnull=True) | Q(balance__isnull=False),
                                   name="ledger_account_owned_is_cached"),
        ]

    def __str__(self) -> str:
        who = f"user {self.owner_id}" if self.owner_id else "platform"
        return f"{who} {self.kind} {self.asset}"


class Transaction(models.Model):
    key = models.CharField(max_length=200)  # idempotency: "tip:12:captured" (unique: Meta)
    kind = models.CharField(max_length=40)  # "tip", "gift", "hold_release", ... (indexed: Meta)
    ref = models.CharField(max_length=100, blank=True)  # what caused it: "tip:12"
    memo = models.CharField(max_length=255, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        # In Meta rather than ``unique=True`` / ``db_index=True``, which on PostgreSQL also build a
        # pattern-ops index per column for LIKE queries that nothing runs; every posting writes
        # every index (decisions 0010, 0019).
        constraints = [models.UniqueConstraint(fields=["key"], name="ledger_transaction_key_unique")]
        indexes = [
            models.Index(fields=["kind"], name="ledger_transaction_kind"),
            # What one collaboration holds in the shared escrow account is found by its ref; a
            # full index of refs would be written by every tip and gift send, so only escrow
            # postings are indexed. A query uses it by repeating the condition (``escrow_held``).
            models.Index(fields=["ref"], name="ledger_transaction_escrow_ref",
                         condition=Q(kind__startswith=ESCROW_POSTING_PREFIX)),
            # A query naming some of these kinds uses it as it is (PostgreSQL proves the subset).
            models.Index(fields=["ref"], name="ledger_txn_tip_returns_ref",
                         condition=Q(kind__in=TIP_RETURN_KINDS)),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.kind} {self.key}"


class Entry(models.Model):
    transaction = models.ForeignKey(Transaction, on_delete=models.PROTECT, related_name="entries")
    # No single-column indexes on account and owner: the (account, -id) and (owner, -id) indexes
    # below serve every look-up by either, and each index is written on every posting
    # (docs/decisions/0010-ledger-statement-and-write-path.md).
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="entries", db_index=False)
    # Denormalised from the account so checks and statements need no join.
    asset = models.CharField(max_length=8)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                              on_delete=models.PROTECT, related_name="+", db_index=False)
    amount = models.BigIntegerField()
    # The account's balance right after this entry (cached accounts only): statements show it.
    balance_after = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        indexes = [
            # Statement pages: newest first per owner, cost independent of history length.
            models.Index(fields=["owner", "-id"], name="ledger_entry_owner_id",
                         condition=Q(owner__isnull=False)),
            models.Index(fields=["account", "-id"], name="ledger_entry_account_id"),
        ]
        constraints = [models.CheckConstraint(condition=~Q(amount=0), name="ledger_entry_nonzero")]

    def __str__(self) -> str:
        return f"{self.amount:+d} {self.asset} → account {self.account_id}"


class Hold(models.Model):
    """Income waiting out the holding period in a creator's pending account."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    currency = models.CharField(max_length=3)
    amount = models.BigIntegerField()
    transaction = models.ForeignKey(Transaction, on_delete=models.PROTECT, related_name="+")
    release_at = models.DateTimeField()
    released_at = models.DateTimeField(null=True, blank=True)
    # Set when a refund takes pending money back before release (nothing left to release).
    cancelled_amount = models.BigIntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["release_at"], name="ledger_hold_due",
                                condition=Q(released_at__isnull=True))]
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="ledger_hold_positive")]

    def __str__(self) -> str:
        return f"hold {self.amount} {self.currency} for user {self.owner_id} until {self.release_at}"
