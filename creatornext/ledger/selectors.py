"""Reads: wallets and statements. Both cost the same whatever the length of the history: balances
are cached on the accounts, and statement pages walk the (owner, id) index backwards."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from creatornext.ledger.models import COIN, DIAMOND, Account, AccountKind, Entry

CASH_KINDS = (AccountKind.PENDING, AccountKind.AVAILABLE, AccountKind.IN_PAYOUT, AccountKind.DEBT)


def wallet(owner: Any) -> dict[str, Any]:
    """{"coins", "diamonds", "cash": [{"currency", "pending", "available", "in_payout", "debt"}]}.

    ``debt`` is shown as the positive amount owed (the account itself holds it as negative value).
    """
    coins = diamonds = 0
    cash: dict[str, dict[str, Any]] = {}
    rows = Account.objects.filter(owner=owner).values_list("kind", "asset", "balance")
    for kind, asset, cached in rows:
        balance = cached or 0  # owner accounts always cache their balance
        if kind == AccountKind.COINS and asset == COIN:
            coins = balance
        elif kind == AccountKind.DIAMONDS and asset == DIAMOND:
            diamonds = balance
        elif kind in CASH_KINDS:
            row = cash.setdefault(asset, {"currency": asset, "pending": 0, "available": 0,
                                          "in_payout": 0, "debt": 0})
            row[kind] = -balance if kind == AccountKind.DEBT else balance
    return {"coins": coins, "diamonds": diamonds,
            "cash": [cash[c] for c in sorted(cash)]}


def statement(owner: Any) -> QuerySet[Entry]:
    """The owner's ledger lines, newest first (paginate with a cursor on ``-id``)."""
    return (Entry.objects.filter(owner=owner)
            .select_related("transaction", "account")
            .order_by("-id"))
