"""Ledger history at scale, loaded with COPY and exactly as consistent as ``post()`` leaves it.

``manage.py ledger_check`` must stay clean after a money workload, so the rows written here obey
every rule the posting service keeps (decision 0004): each transaction has two or more entries
summing to zero per asset; each entry carries its account's asset and owner; owner accounts cache
their balance (= the sum of their entries), platform accounts cache nothing (NULL); entries of
cached accounts carry ``balance_after``; wallets never go below zero, debt never above it.

Transactions and entries are append-only (triggers refuse UPDATE and DELETE; COPY inserts). The
transactions are described once, by a generator function, and walked twice: the first pass COPYs
``ledger_transaction`` and sums each account's balance, then the accounts are COPYed with their
final cached balances, then the second pass COPYs ``ledger_entry`` with running balances (the
foreign keys are deferred, but each COPY commits on its own, so parents come first).
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from bench.database import copy_rows, sync_identity

# The account kinds whose balance the ledger caches (owner accounts), with their rule and lock
# rank as ``creatornext.ledger.services.account_for`` creates them.
OWNER_KINDS = {"pending": ("non_negative", 1), "available": ("non_negative", 0),
               "in_payout": ("non_negative", 0), "debt": ("non_positive", 1),
               "coins": ("non_negative", 0), "diamonds": ("non_negative", 1)}
COIN, DIAMOND = "COIN", "DIAMOND"
EPOCH = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class Txn:
    """One transaction to write: ``legs`` are (account id, signed amount)."""

    key: str
    kind: str
    legs: tuple[tuple[int, int], ...]
    ref: str = ""
    memo: str = ""
    metadata: str = "{}"  # JSON text


class LedgerLoader:
    """Accounts first (``owner`` / ``platform``), then ``write(generator)`` once."""

    def __init__(self, ctx) -> None:
        self.ctx = ctx
        rows = ctx.sql("SELECT COALESCE(MAX(id), 0) FROM ledger_account")
        self.next_account = rows[0][0] + 1
        existing = ctx.sql("SELECT id, owner_id, kind, asset, balance FROM ledger_account")
        if any(balance for *_, balance in existing):
            raise RuntimeError("LedgerLoader expects a ledger without balances")
        # (owner_id or None, kind, asset) -> id; new ones are written by write()
        self.accounts: dict[tuple[int | None, str, str], int] = {
            (owner, kind, asset): pk for pk, owner, kind, asset, _ in existing}
        self.info: dict[int, tuple[int | None, str, str]] = {
            pk: (owner, kind, asset) for pk, owner, kind, asset, _ in existing}
        self.new: list[int] = []

    def _account(self, owner: int | None, kind: str, asset: str) -> int:
        key = (owner, kind, asset)
        if key not in self.accounts:
            pk = self.next_account
            self.next_account += 1
            self.accounts[key] = pk
            self.info[pk] = key
            self.new.append(pk)
        return self.accounts[key]

    def owner(self, owner_id: int, kind: str, asset: str) -> int:
        if kind not in OWNER_KINDS:
            raise ValueError(f"{kind} is not an owner account kind")
        return self._account(owner_id, kind, asset)

    def platform(self, kind: str, asset: str) -> int:
        if kind in OWNER_KINDS:
            raise ValueError(f"{kind} is an owner account kind")
        return self._account(None, kind, asset)

    def write(self, transactions: Callable[[], Iterable[Txn]],
              span: dt.timedelta = dt.timedelta(days=365)) -> tuple[int, int]:
        """Write every transaction ``transactions()`` yields (called twice: it must yield the
        same sequence each time). Timestamps rise evenly over ``span`` ending now. Returns
        (transactions, entries)."""
        first_txn = self.ctx.sql("SELECT COALESCE(MAX(id), 0) FROM ledger_transaction")[0][0] + 1
        first_entry = self.ctx.sql("SELECT COALESCE(MAX(id), 0) FROM ledger_entry")[0][0] + 1
        balances: dict[int, int] = defaultdict(int)
        # Timestamps rise evenly from ``now - span`` to now: that needs the count up front.
        total = sum(1 for _ in transactions())
        now = dt.datetime.now(dt.UTC)
        start = now - span
        step = span / max(total, 1)

        def check(txn: Txn) -> None:
            sums: dict[str, int] = defaultdict(int)
            for account, amount in txn.legs:
                if amount == 0:
                    raise ValueError(f"zero leg in {txn.key}")
                sums[self.info[account][2]] += amount
            if len(txn.legs) < 2 or any(sums.values()):
                raise ValueError(f"unbalanced transaction {txn.key}: {dict(sums)}")

        def transaction_rows() -> Iterator[tuple]:
            for i, txn in enumerate(transactions()):
                check(txn)
                for account, amount in txn.legs:
                    balances[account] += amount
                yield (first_txn + i, txn.key, txn.kind, txn.ref, txn.memo, txn.metadata,
                       start + step * i)

        copy_rows(self.ctx.db, "ledger_transaction",
                  ("id", "key", "kind", "ref", "memo", "metadata", "created_at"),
                  transaction_rows())
        written = set(self.new)
        for pk, balance in balances.items():
            owner, kind, _ = self.info[pk]
            if owner is not None and pk not in written:
                raise ValueError(f"account {pk} existed before this load: its cached balance "
                                 "would not match its entries")
            if owner is not None:
                rule = OWNER_KINDS[kind][0]
                if (rule == "non_negative" and balance < 0) or (rule == "non_positive" and balance > 0):
                    raise ValueError(f"account {pk} ({kind}) would end at {balance}")
        self._write_accounts(balances, now)

        def entry_rows() -> Iterator[tuple]:
            running: dict[int, int] = defaultdict(int)
            entry = first_entry
            for i, txn in enumerate(transactions()):
                when = start + step * i
                for account, amount in txn.legs:
                    owner, _, asset = self.info[account]
                    after = None
                    if owner is not None:
                        running[account] += amount
                        after = running[account]
                    yield (entry, first_txn + i, account, asset, owner, amount, after, when)
                    entry += 1

        entries = copy_rows(self.ctx.db, "ledger_entry",
                            ("id", "transaction_id", "account_id", "asset", "owner_id", "amount",
                             "balance_after", "created_at"), entry_rows())
        for table in ("ledger_transaction", "ledger_entry", "ledger_account"):
            sync_identity(self.ctx.db, table)
        return total, entries

    def _write_accounts(self, balances: dict[int, int], now: dt.datetime) -> None:
        rows = []
        for pk in self.new:
            owner, kind, asset = self.info[pk]
            if owner is None:
                rows.append((pk, None, kind, asset, None, "any", 0, now))
            else:
                rule, rank = OWNER_KINDS[kind]
                rows.append((pk, owner, kind, asset, balances.get(pk, 0), rule, rank, now))
        copy_rows(self.ctx.db, "ledger_account",
                  ("id", "owner_id", "kind", "asset", "balance", "rule", "lock_rank", "created_at"),
                  rows)
        self.new = []


def metadata(**values) -> str:
    return json.dumps(values, separators=(",", ":"))


HISTORY_TIPS = 50_000  # a smoke run loads 1% of it


def tip_history(loader: LedgerLoader, creator_user_ids: list[int], rng) -> None:
    """The ledger of a platform that has been running: ``tips`` past tips to these creators, each
    captured to pending and later released to available (two transactions, as ``tips.handlers``
    and the hold release post them). Without a history the money workloads start from an empty,
    freshly ANALYZEd ledger: PostgreSQL then plans the foreign-key checks of every posting (the
    ``ledger_transaction`` look-up of each entry and hold) as sequential scans, keeps those plans
    for the connection's life, and every posting grows slower as the run fills the table; a live
    database, analysed by autovacuum as it grew, never looks like that."""
    tips = HISTORY_TIPS // 100 if loader.ctx.smoke else HISTORY_TIPS
    inflow, fees = loader.platform("provider_inflow", "USD"), loader.platform("processor_fees", "USD")
    pending = {u: loader.owner(u, "pending", "USD") for u in creator_user_ids}
    available = {u: loader.owner(u, "available", "USD") for u in creator_user_ids}
    plan = []
    for i in range(tips):
        creator = creator_user_ids[int(rng.random() * len(creator_user_ids))]
        amount = 100 + int(rng.random() * 9_901)
        plan.append((i, creator, amount, 30 + amount * 29 // 1000))

    def transactions() -> Iterator[Txn]:
        for i, creator, amount, fee in plan:
            net = amount - fee
            yield Txn(key=f"bench:history:tip:{i}:captured", kind="tip", ref=f"bench:history:{i}", memo="Tip",
                      legs=((inflow, -amount), (fees, fee), (pending[creator], net)),
                      metadata=metadata(netted_debt=0))
            yield Txn(key=f"bench:history:tip:{i}:release", kind="hold_release", ref=f"bench:history:{i}",
                      legs=((pending[creator], -net), (available[creator], net)))

    loader.write(transactions)
