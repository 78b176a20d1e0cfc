"""Reads for payouts: a creator's own rows, newest first."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from creatornext.payouts.models import PayoutAccount, PayoutItem, Withdrawal


def payout_account_of(user: Any) -> PayoutAccount | None:
    return PayoutAccount.objects.filter(user=user).first()


def withdrawals_of(user: Any) -> QuerySet[Withdrawal]:
    return Withdrawal.objects.filter(user=user).select_related("item").order_by("-pk")


def payout_items_of(user: Any) -> QuerySet[PayoutItem]:
    return PayoutItem.objects.filter(user=user).select_related("withdrawal").order_by("-pk")
