"""Reads: wallets and statements. Both cost the same whatever the length of the history: balances
are cached on the accounts, and statement pages walk the (owner, id) index backwards."""

from __future__ import annotations

from typing import Any

from django.db.models import F, QuerySet

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


STATEMENT_FIELDS = {"kind": F("transaction__kind"), "ref": F("transaction__ref"),
                    "memo": F("transaction__memo"), "account_kind": F("account__kind")}


class _OwnerFirst(QuerySet[Any, Any]):
    """Every ordering asked for (the paginator's ``-id``) is prefixed with the owner.

    With ``owner_id = X`` PostgreSQL may walk the primary key backwards filtering on the owner
    (it thinks a big owner's lines are everywhere): 100+ ms when that owner's history is old and
    others' is newer. With the owner as a one-value *range* ordered by (owner, -id), only the
    ``ledger_entry_owner_id`` index yields that order, so every page costs the same
    (docs/decisions/0010-ledger-statement-and-write-path.md).
    """

    def order_by(self, *field_names: Any) -> _OwnerFirst:
        return super().order_by("owner_id", *field_names)


def statement(owner: Any) -> QuerySet[Entry, dict[str, Any]]:
    """The owner's ledger lines, newest first (paginate with a cursor on ``-id``): plain rows
    (``values``), because building three model instances a line cost more than the query."""
    owner_id = getattr(owner, "pk", owner)
    return (_OwnerFirst(Entry).filter(owner_id__gte=owner_id, owner_id__lte=owner_id)
            .values("id", "created_at", "asset", "amount", "balance_after", **STATEMENT_FIELDS)
            .order_by("-id"))
