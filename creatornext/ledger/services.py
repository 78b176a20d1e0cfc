"""Posting to the ledger: the only code that writes transactions, entries and cached balances.

``post`` is atomic and idempotent: the same key returns the first transaction and writes nothing.
Balance rules are enforced by the database inside the UPDATE that changes the balance (and by CHECK
constraints as a backstop), never by "check then write". Cached accounts are locked in one global
order, ``(lock_rank, id)``, with the contended (creator-side) accounts last so they are held for the
shortest time; platform accounts keep no cached balance and are never locked.
"""

from __future__ import annotations

import functools
import itertools
import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from creatornext.core import config
from creatornext.core.prepared import ServerStatement
from creatornext.ledger.config import HOLD_DAYS
from creatornext.ledger.models import (
    COIN,
    DIAMOND,
    HOT_KINDS,
    MICRO_DIAMOND,
    OWNER_KINDS,
    Account,
    AccountKind,
    Entry,
    Hold,
    Transaction,
)
from creatornext.money import CURRENCIES, Money


class LedgerError(Exception):
    pass


class UnbalancedTransaction(LedgerError):
    pass


class InsufficientFunds(LedgerError):
    """A balance rule refused the posting (e.g. not enough coins). Nothing was written."""

    def __init__(self, account: Account) -> None:
        super().__init__(f"Insufficient balance in {account}.")
        self.account = account


@dataclass(frozen=True)
class Leg:
    account: Account
    amount: int  # signed; the asset is the account's


@dataclass
class Posting:
    key: str
    kind: str
    legs: Sequence[Leg]
    ref: str = ""
    memo: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)


# --- accounts ----------------------------------------------------------------------------------
def _rule_for(kind: str) -> str:
    if kind == AccountKind.DEBT:
        return Account.Rule.NON_POSITIVE
    if kind in OWNER_KINDS:
        return Account.Rule.NON_NEGATIVE
    return Account.Rule.ANY


def _check_asset(asset: str) -> None:
    if asset not in CURRENCIES and asset not in (COIN, DIAMOND, MICRO_DIAMOND):
        raise LedgerError(f"Unknown asset {asset!r}.")


def _new_account(owner_id: int, kind: str, asset: str) -> Account:
    """An owner's account as first created: empty, with its kind's balance rule and lock rank."""
    return Account(owner_id=owner_id, kind=kind, asset=asset, balance=0, rule=_rule_for(kind),
                   lock_rank=1 if kind in HOT_KINDS else 0)


def account_for(owner: Any, kind: str, asset: str) -> Account:
    """The owner's (a user or a user id) account of that kind and asset, created on first use."""
    if kind not in OWNER_KINDS:
        raise LedgerError(f"{kind} is a platform account kind.")
    _check_asset(asset)
    new = _new_account(getattr(owner, "pk", owner), kind, asset)
    account, _ = Account.objects.get_or_create(
        owner_id=new.owner_id, kind=kind, asset=asset,
        defaults={"balance": new.balance, "rule": new.rule, "lock_rank": new.lock_rank},
    )
    return account


def owner_accounts(pairs: Iterable[tuple[int, str]], kind: str) -> dict[tuple[int, str], Account]:
    """{(owner_id, asset): account} for many owners at once (two queries, not one per owner)."""
    pairs = set(pairs)
    found = {(a.owner_id, a.asset): a for a in Account.objects.filter(
        kind=kind, owner_id__in={o for o, _ in pairs}, asset__in={c for _, c in pairs})}
    missing = pairs - set(found)
    if missing:
        Account.objects.bulk_create([_new_account(o, kind, c) for o, c in missing], ignore_conflicts=True)
        found.update({(a.owner_id, a.asset): a for a in Account.objects.filter(
            kind=kind, owner_id__in={o for o, _ in missing}, asset__in={c for _, c in missing})})
    return {pair: found[pair] for pair in pairs}


def accounts_for(*wanted: tuple[Any, str, str]) -> list[Account]:
    """Several owners' accounts, ``(owner, kind, asset)`` each, in one query; created on first use.

    For postings only: the ids are remembered (like platform accounts, below), so the returned
    objects' ``balance`` may be stale; read balances through the selectors.
    """
    accounts = _owner_accounts_of(wanted, create=True)
    created = [a for a in accounts if a is not None]
    if len(created) != len(accounts):
        raise LedgerError(f"Accounts {wanted} were not created.")
    return created


def accounts_if_any(*wanted: tuple[Any, str, str]) -> list[Account | None]:
    """Like ``accounts_for``, creating nothing: None for each account that does not exist yet."""
    return _owner_accounts_of(wanted, create=False)


def _owner_accounts_of(wanted: Sequence[tuple[Any, str, str]], *, create: bool) -> list[Account | None]:
    """``accounts_for`` and ``accounts_if_any``."""
    keys = []
    for owner, kind, asset in wanted:
        if kind not in OWNER_KINDS:
            raise LedgerError(f"{kind} is a platform account kind.")
        _check_asset(asset)
        keys.append((connection.alias, str(connection.settings_dict["NAME"]),
                     getattr(owner, "pk", owner), kind, asset))
    found: dict[tuple, Account] = {key: _owner_accounts[key] for key in keys if key in _owner_accounts}
    if len(found) < len(keys):
        def look_up(missing: list[tuple]) -> None:
            # Three IN lists rather than one OR term per key (building those cost more than the
            # query); the few extra combinations it may match are dropped here.
            wanted_keys = set(missing)
            for account in Account.objects.filter(owner_id__in={k[2] for k in missing},
                                                  kind__in={k[3] for k in missing},
                                                  asset__in={k[4] for k in missing}):
                key = (*keys[0][:2], account.owner_id, account.kind, account.asset)
                if key in wanted_keys:
                    found[key] = account

        look_up([key for key in keys if key not in found])
        missing = [key for key in keys if key not in found]
        if missing and not create:
            return [found.get(key) for key in keys]
        if missing:  # first use: all created in one statement (a concurrent creator's rows win)
            Account.objects.bulk_create(
                [_new_account(owner, kind, asset) for _, _, owner, kind, asset in missing],
                ignore_conflicts=True)
            look_up(missing)
        learnt = {key: found[key] for key in keys}

        def remember() -> None:
            if len(_owner_accounts) > OWNER_ACCOUNTS_REMEMBERED:
                _owner_accounts.clear()
            _owner_accounts.update(learnt)
        transaction.on_commit(remember)
    return [found[key] for key in keys]


# Platform accounts are looked up on every posting but never change (no cached balance) and are
# never deleted (entries PROTECT them), so each process remembers them once they are committed:
# an id learnt inside a transaction that later rolls back is never remembered. Keyed by database
# too; cleared when the tables are flushed (tests, ``manage.py flush``: see apps.py).
_platform_accounts: dict[tuple[str, str, str, str], Account] = {}


# Owner accounts are never deleted either (entries PROTECT them; account deletion keeps them under a
# pseudonymous owner): the gift-send path remembers them the same way, up to a bound.
_owner_accounts: dict[tuple[str, str, int, str, str], Account] = {}
OWNER_ACCOUNTS_REMEMBERED = 100_000


def clear_account_cache(**_: Any) -> None:
    _platform_accounts.clear()
    _owner_accounts.clear()


def platform_account(kind: str, asset: str) -> Account:
    account = platform_account_if_any(kind, asset, create=True)
    assert account is not None
    return account


def platform_account_if_any(kind: str, asset: str, *, create: bool = False) -> Account | None:
    """The platform account, or None if it does not exist yet (``create``: made on first use)."""
    key = (connection.alias, str(connection.settings_dict["NAME"]), kind, asset)
    cached = _platform_accounts.get(key)
    if cached is not None:
        return cached
    if kind in OWNER_KINDS:
        raise LedgerError(f"{kind} is an owner account kind.")
    _check_asset(asset)
    if create:
        account, _ = Account.objects.get_or_create(owner=None, kind=kind, asset=asset,
                                                   defaults={"balance": None, "rule": Account.Rule.ANY})
    else:
        found = Account.objects.filter(owner=None, kind=kind, asset=asset).first()
        if found is None:
            return None
        account = found
    transaction.on_commit(lambda: _platform_accounts.setdefault(key, account))
    return account


# --- posting -----------------------------------------------------------------------------------
def _validate(posting: Posting) -> None:
    if len(posting.legs) < 2:
        raise UnbalancedTransaction("A transaction needs at least two entries.")
    sums: dict[str, int] = defaultdict(int)
    for leg in posting.legs:
        if isinstance(leg.amount, bool) or not isinstance(leg.amount, int) or leg.amount == 0:
            raise UnbalancedTransaction(f"Entry amounts are non-zero integers, not {leg.amount!r}.")
        sums[leg.account.asset] += leg.amount
    unbalanced = {asset: total for asset, total in sums.items() if total}
    if unbalanced:
        raise UnbalancedTransaction(f"Entries do not sum to zero: {unbalanced}.")


def _claim_key(posting: Posting, now: datetime) -> int | None:
    """Insert the transaction row, or return None if the key exists (a concurrent insert of the
    same key waits for the first to commit, then finds it)."""
    qn = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            # Only our own table name is interpolated; every value is a parameter.
            f"INSERT INTO {qn(Transaction._meta.db_table)} (key, kind, ref, memo, metadata, created_at) "  # noqa: S608
            "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (key) DO NOTHING RETURNING id",
            [posting.key, posting.kind, posting.ref, posting.memo,
             Transaction._meta.get_field("metadata").get_db_prep_value(posting.metadata, connection),
             now],
        )
        row = cursor.fetchone()
    return row[0] if row else None


_RULE_SQL = {
    Account.Rule.NON_NEGATIVE: (" AND balance + %s >= 0", True),
    Account.Rule.NON_POSITIVE: (" AND balance + %s <= 0", True),
    Account.Rule.ANY: ("", False),
}


def _claim_keys(postings: Sequence[Posting], now: datetime) -> dict[str, int]:
    """Insert many transaction rows; return {key: id} for those this call inserted."""
    qn = connection.ops.quote_name
    prep = Transaction._meta.get_field("metadata").get_db_prep_value
    ids: dict[str, int] = {}
    for start in range(0, len(postings), 1000):
        chunk = postings[start:start + 1000]
        values = ", ".join(["(%s, %s, %s, %s, %s, %s)"] * len(chunk))
        params: list[Any] = []
        for p in chunk:
            params += [p.key, p.kind, p.ref, p.memo, prep(p.metadata, connection), now]
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {qn(Transaction._meta.db_table)} (key, kind, ref, memo, metadata, created_at) "  # noqa: S608
                f"VALUES {values} ON CONFLICT (key) DO NOTHING RETURNING key, id", params)
            ids.update(dict(cursor.fetchall()))
    return ids


def _apply_balance(account: Account, delta: int) -> int:
    """Add ``delta`` to a cached balance if the account's rule allows; return the new balance.

    The rule is part of the UPDATE itself, so two concurrent debits can never both pass a check
    that only one of them can afford: the second waits for the row lock and re-evaluates.
    """
    condition, needs_param = _RULE_SQL[Account.Rule(account.rule)]
    qn = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {qn(Account._meta.db_table)} SET balance = balance + %s "  # noqa: S608
            f"WHERE id = %s{condition} RETURNING balance",
            [delta, account.pk, *([delta] if needs_param else [])],
        )
        row = cursor.fetchone()
    if row is None:
        raise InsufficientFunds(account)
    return row[0]


def _balances_after(legs: Sequence[Leg], finals: dict[int, int]) -> list[int | None]:
    """Each leg's account balance right after it: the final balance walked back over later legs."""
    running = dict(finals)
    after: list[int | None] = [None] * len(legs)
    for i in range(len(legs) - 1, -1, -1):
        pk = legs[i].account.pk
        if pk in running:
            after[i] = running[pk]
            running[pk] -= legs[i].amount
    return after


REFUSED = "LD001"  # SQLSTATE of ledger_refuse (ledger migration 0009)
_OWN_REASONS = ("posted", "entries")  # with "refused:i" and "missing:name": the posting's own


class GuardRefused(Exception):
    """The caller's statement sent before a posting (``PostingStatement.run``'s ``before``) refused
    with ``ledger_refuse(reason)``: nothing was written."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _refusal(exc: DatabaseError) -> str | None:
    """The reason ``ledger_refuse`` gave, if it is what failed the statement."""
    cause = exc.__cause__
    if getattr(cause, "pgcode", None) != REFUSED:
        return None
    diag = getattr(cause, "diag", None)
    return str(getattr(diag, "message_primary", "") or "")


@dataclass
class PostingStatement:
    """A posting as the common table expressions of one PostgreSQL statement
    (``posting_statement``), for ``post_once`` and for a hot path that writes its own rows in the
    same statement (the gift send: its row, and the request's idempotency record). ``run`` it."""

    posting: Posting
    ctes: Sequence[str]
    params: list[Any]
    accounts: list[Account]

    def run(self, cursor: Any, also: Sequence[tuple[str, list[Any]]] = (),
            before: tuple[ServerStatement, list[Any]] | None = None) -> int | None:
        """Run the statement: the posting's expressions, then ``also``, each ``(sql, params)`` with
        sql ``name AS (…)`` writing exactly one row (it may refer to ``e``, the entries, or to an
        earlier one). Returns the transaction's id, or None if the key was posted before (then
        nothing was written, ``also`` included). Raises ``InsufficientFunds`` for the first account
        whose rule refused, ``LedgerError`` if an entry or an ``also`` row is missing.

        Inside a transaction block the caller's atomic block rolls back what the statement wrote
        before a refusal. Outside one (autocommit) the statement is its own transaction and checks
        itself: ``ledger_refuse`` (ledger migration 0009) fails it, so nothing of it stays.

        ``before``: a caller's statement sent first in the same message (``ServerStatement.execute``),
        in the same transaction; when it calls ``ledger_refuse(reason)`` nothing is written and
        ``GuardRefused(reason)`` is raised (the gift send's check of the facts it planned with).
        """
        names = [sql.split(" ", 1)[0] for sql, _ in also]
        if not all(name.isidentifier() for name in names):
            raise ValueError("Each expression is 'name AS (…)'")
        ctes = ", ".join([*self.ctes, *(text for text, _ in also)])
        params = [*self.params, *(p for _, params in also for p in params)]
        legs = len(self.posting.legs)
        if not connection.in_atomic_block:
            return self._run_alone(cursor, ctes, params, names, before)
        balances = [f"b{i}" for i in range(len(self.accounts))]
        counts = [f"(SELECT count(*) FROM {name})" for name in [*balances, *names]]  # noqa: S608  # nosec B608
        # Only generated aliases and the callers' own fixed SQL: every value is a parameter.
        sql = f"WITH {ctes} SELECT (SELECT id FROM t), (SELECT count(*) FROM e), {', '.join(counts) or 'NULL'}"  # noqa: S608  # nosec B608
        try:
            run_prepared(cursor, sql, params, legs=legs, before=before)
        except DatabaseError as exc:
            reason = _refusal(exc)
            if reason is None or before is None:
                raise
            raise GuardRefused(reason) from exc  # this statement does not refuse itself here
        txn_id, entries, *written = cursor.fetchone()
        if txn_id is None:
            return None
        for account, count in zip(self.accounts, written, strict=False):
            if not count:
                raise InsufficientFunds(account)
        extra = written[len(self.accounts):] if names else []
        if entries != legs or any(count != 1 for count in extra):
            raise LedgerError(f"Posting {self.posting.key}: {entries} of {legs} entries "
                              f"and {extra} of its other rows written.")
        return txn_id

    def _run_alone(self, cursor: Any, ctes: str, params: list[Any], names: list[str],
                   before: tuple[ServerStatement, list[Any]] | None) -> int | None:
        """The statement as its own transaction, refusing itself (``run``)."""
        # Only generated aliases and counts: "refused:i" names the first balance rule that refused.
        balances = [(f"EXISTS (SELECT FROM b{i})", f"refused:{i}") for i in range(len(self.accounts))]  # nosec B608
        entries = f"(SELECT count(*) FROM e) = {len(self.posting.legs)}"  # noqa: S608  # nosec B608
        rows = [(f"(SELECT count(*) FROM {name}) = 1", f"missing:{name}") for name in names]  # noqa: S608  # nosec B608
        checks = [("EXISTS (SELECT FROM t)", "posted"), *balances, (entries, "entries"), *rows]
        guard = " ".join(f"WHEN NOT {condition} THEN ledger_refuse('{reason}')" for condition, reason in checks)
        # The callers' rows are counted before the checks (the select list is evaluated in order),
        # so each is written, or fails (a duplicate idempotency key), before a refusal: a duplicate
        # of a send whose coins are now spent meets the key, and replays, instead of being refused.
        written = "".join(f"{condition}, " for condition, _ in rows)
        # Only generated aliases, counts and the callers' own fixed SQL: every value is a parameter.
        sql = f"WITH {ctes} SELECT (SELECT id FROM t), {written}CASE {guard} ELSE true END"  # noqa: S608  # nosec B608
        try:
            run_prepared(cursor, sql, params, legs=len(self.posting.legs), before=before)
        except DatabaseError as exc:
            reason = _refusal(exc)
            if reason is None:
                raise
            if before is not None and reason not in _OWN_REASONS and not reason.startswith(("refused:", "missing:")):
                raise GuardRefused(reason) from exc
            if reason == "posted":
                return None
            if reason.startswith("refused:"):
                raise InsufficientFunds(self.accounts[int(reason.split(":")[1])]) from exc
            raise LedgerError(f"Posting {self.posting.key}: {reason}") from exc
        return cursor.fetchone()[0]


# Postings of more legs (batches, settlements) are rare, and each shape of them rarer: plainly.
_STATEMENTS: dict[str, ServerStatement] = {}
_STATEMENT_NUMBERS = itertools.count()
PREPARED_LEGS = 8


def run_prepared(cursor: Any, sql: str, params: list[Any], *, legs: int,
                 before: tuple[ServerStatement, list[Any]] | None = None) -> None:
    """Run ``sql`` (a posting's statement, or a hot path's statement around one) as a statement
    PostgreSQL plans once per connection and text, for postings of at most ``PREPARED_LEGS``
    (``before``: ``ServerStatement.execute``)."""
    if legs > PREPARED_LEGS:
        if before is not None:
            raise ValueError(f"A statement before a posting of more than {PREPARED_LEGS} legs")
        cursor.execute(sql, params)
        return
    statement = _STATEMENTS.get(sql)
    if statement is None:
        statement = _STATEMENTS.setdefault(sql, ServerStatement(f"ledger_post_{next(_STATEMENT_NUMBERS)}", sql))
    statement.execute(cursor, params, before=before)


def _balance_changes(posting: Posting) -> tuple[list[Account], dict[int, int]]:
    """The accounts with a cached balance that the posting changes, in lock order; each one's change."""
    deltas: dict[int, int] = defaultdict(int)
    for leg in posting.legs:
        deltas[leg.account.pk] += leg.amount
    return [a for a in lock_order(leg.account for leg in posting.legs) if deltas[a.pk]], deltas


@functools.lru_cache(maxsize=256)
def _posting_ctes(rules: tuple[Account.Rule, ...], legs: int) -> tuple[str, ...]:
    """The text of a posting's expressions for its shape: the rules of the accounts it updates (in
    lock order) and its number of legs. Made once per shape and process (``posting_statement``)."""
    qn = connection.ops.quote_name
    account_table, entry_table = qn(Account._meta.db_table), qn(Entry._meta.db_table)
    # Only our own table names and generated aliases go into the text; every value is a parameter.
    ctes = [f"t AS (INSERT INTO {qn(Transaction._meta.db_table)} "  # noqa: S608  # nosec B608
            "(key, kind, ref, memo, metadata, created_at) VALUES (%s::varchar, %s::varchar, %s::varchar, "
            "%s::text, %s::jsonb, %s::timestamptz) ON CONFLICT (key) DO NOTHING RETURNING id)"]
    previous = "t"
    for i, rule in enumerate(rules):
        ctes.append(f"b{i} AS (UPDATE {account_table} SET balance = balance + %s::bigint "  # noqa: S608  # nosec B608
                    f"WHERE id = %s::bigint{_RULE_SQL[rule][0]} AND EXISTS (SELECT FROM {previous}) "
                    "RETURNING id, balance)")
        previous = f"b{i}"
    rows = ", ".join(["(%s::bigint, %s::varchar, %s::bigint, %s::bigint, %s::bigint, %s::timestamptz)"] * legs)
    balances = " UNION ALL ".join(f"SELECT id, balance FROM b{i}" for i in range(len(rules)))  # noqa: S608  # nosec B608
    joined = f" LEFT JOIN ({balances}) b ON b.id = v.a" if rules else ""
    after = "b.balance - v.later" if rules else "NULL::bigint"
    ctes.append(f"e AS (INSERT INTO {entry_table} "  # noqa: S608  # nosec B608
                "(transaction_id, account_id, asset, owner_id, amount, balance_after, created_at) "
                f"SELECT t.id, v.a, v.asset, v.o, v.amount, {after}, v.created_at "
                f"FROM t CROSS JOIN (VALUES {rows}) AS v(a, asset, o, amount, later, created_at){joined} "
                f"WHERE EXISTS (SELECT FROM {previous}) RETURNING 1)")
    return tuple(ctes)


def posting_statement(posting: Posting, now: datetime) -> PostingStatement:
    """PostgreSQL: the whole posting as the expressions of one statement.

    The transaction row (``ON CONFLICT (key) DO NOTHING``: ``t``), then each cached balance of
    ``accounts`` (already in lock order) updated under its rule (``b0``, ``b1``, …), each update
    waiting for the one before it (``EXISTS`` over its ``RETURNING``: PostgreSQL runs that
    first), so rows are locked in the global order and a refused rule stops the chain; the
    entries (``e``) only if every update passed. A leg of an updated account gets its
    ``balance_after`` (the final balance less the account's later legs); the others (platform
    accounts, which keep no cached balance) NULL. One round trip and one plan a connection,
    instead of one statement per account and one for the key (decision 0010).
    """
    _validate(posting)
    accounts, deltas = _balance_changes(posting)
    # The metadata as JSON text (cast by the statement): the JSONField's own adapter cost ~4 % of a
    # gift send's Python. The field has no encoder of its own, so the text is the same.
    params: list[Any] = [posting.key, posting.kind, posting.ref, posting.memo, json.dumps(posting.metadata), now]
    for account in accounts:
        delta = deltas[account.pk]
        params += [delta, account.pk, *([delta] if _RULE_SQL[Account.Rule(account.rule)][1] else [])]
    updated = {a.pk for a in accounts}
    later: dict[int, int] = defaultdict(int)  # what each account's legs after this one add
    tail: list[list[Any]] = []
    for leg in reversed(posting.legs):
        pk = leg.account.pk
        tail.append([pk, leg.account.asset, leg.account.owner_id, leg.amount,
                     later[pk] if pk in updated else None, now])
        later[pk] += leg.amount
    for row in reversed(tail):
        params += row
    ctes = _posting_ctes(tuple(Account.Rule(a.rule) for a in accounts), len(posting.legs))
    return PostingStatement(posting, ctes, params, list(accounts))


def lock_order(accounts: Iterable[Account]) -> list[Account]:
    unique = {a.pk: a for a in accounts if a.balance is not None}
    return sorted(unique.values(), key=lambda a: (a.lock_rank, a.pk))


def post(posting: Posting) -> Transaction:
    """Post one balanced transaction atomically; the same key returns the first one."""
    return post_once(posting)[0]


def post_once(posting: Posting, *, savepoint: bool = True) -> tuple[Transaction, bool]:
    """Like ``post``, and say whether this call wrote it (False: the key was already posted).

    ``savepoint=False`` is for callers already inside their own ``atomic`` block that let every
    exception from here propagate out of it (one round trip less each way).
    """
    with transaction.atomic(savepoint=savepoint):
        now = timezone.now()
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                txn_id = posting_statement(posting, now).run(cursor)  # validates the posting
        else:
            _validate(posting)
            txn_id = _claim_key(posting, now)
            if txn_id is not None:
                ordered, deltas = _balance_changes(posting)
                balances = {a.pk: _apply_balance(a, deltas[a.pk]) for a in ordered}
                after = _balances_after(posting.legs, balances)
                Entry.objects.bulk_create([
                    Entry(transaction_id=txn_id, account=leg.account, asset=leg.account.asset,
                          owner_id=leg.account.owner_id, amount=leg.amount, balance_after=after[i],
                          created_at=now)
                    for i, leg in enumerate(posting.legs)
                ])
        if txn_id is None:
            return Transaction.objects.get(key=posting.key), False
        return Transaction(pk=txn_id, key=posting.key, kind=posting.kind, ref=posting.ref,
                           memo=posting.memo, metadata=posting.metadata, created_at=now), True


def _insert_entries(rows: list[tuple[int, int, str, int | None, int, int | None]], now: datetime) -> None:
    """Insert many entries: on PostgreSQL one ``INSERT … SELECT FROM unnest(arrays)`` per 10,000
    rows (no model instances: they cost more than the database does here)."""
    if connection.vendor != "postgresql":
        Entry.objects.bulk_create([
            Entry(transaction_id=t, account_id=a, asset=asset, owner_id=o, amount=amount,
                  balance_after=after, created_at=now) for t, a, asset, o, amount, after in rows],
            batch_size=2000)
        return
    qn = connection.ops.quote_name
    with connection.cursor() as cursor:
        for start in range(0, len(rows), 10_000):
            columns = list(zip(*rows[start:start + 10_000], strict=True))
            cursor.execute(
                f"INSERT INTO {qn(Entry._meta.db_table)} "  # noqa: S608
                "(transaction_id, account_id, asset, owner_id, amount, balance_after, created_at) "
                "SELECT t, a, asset, o, amount, after, %s FROM unnest(%s::bigint[], %s::bigint[], "
                "%s::varchar[], %s::bigint[], %s::bigint[], %s::bigint[]) AS v(t, a, asset, o, amount, after)",
                [now, *(list(c) for c in columns)])


def _set_balances(changed: dict[int, int]) -> None:
    """Set many cached balances (rows already locked by this transaction)."""
    if not changed:
        return
    if connection.vendor != "postgresql":
        Account.objects.bulk_update([Account(pk=pk, balance=b) for pk, b in changed.items()], ["balance"],
                                    batch_size=2000)
        return
    qn = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {qn(Account._meta.db_table)} AS acct SET balance = v.balance "  # noqa: S608
            "FROM unnest(%s::bigint[], %s::bigint[]) AS v(id, balance) WHERE acct.id = v.id",
            [list(changed), list(changed.values())])


def post_many(postings: Sequence[Posting]) -> int:
    """Bulk path for batches (hold releases, imports): one database transaction, a handful of
    statements for the whole batch. All or nothing; keys already posted are skipped. Returns the
    number of transactions written."""
    for posting in postings:
        _validate(posting)
    if not postings:
        return 0
    if len({p.key for p in postings}) != len(postings):
        raise LedgerError("Duplicate keys in one batch.")
    with transaction.atomic():
        return len(_post_batch(postings, locked=None)[0])


def _post_batch(postings: Sequence[Posting], *, locked: dict[int, int] | None
                ) -> tuple[dict[str, int], datetime]:
    """``post_many``'s statements (validated postings, inside the caller's transaction): claim the
    keys, lock the cached accounts (unless the caller holds them: ``locked`` is their balances),
    insert the entries, set the balances. Returns {key: transaction id} of the postings this call
    wrote, and their creation time."""
    now = timezone.now()
    ids = _claim_keys(postings, now)
    fresh = [p for p in postings if p.key in ids]
    if not fresh:
        return ids, now
    accounts = {leg.account.pk: leg.account for p in fresh for leg in p.legs}
    start = _lock(accounts.values()) if locked is None else locked
    running = {pk: start[pk] for pk in accounts if pk in start}
    rows: list[tuple[int, int, str, int | None, int, int | None]] = []
    for p in fresh:
        txn_id = ids[p.key]
        for leg in p.legs:
            pk = leg.account.pk
            balance_after = None
            if pk in running:
                running[pk] += leg.amount
                balance_after = running[pk]
            rows.append((txn_id, pk, leg.account.asset, leg.account.owner_id, leg.amount, balance_after))
    for pk, final in running.items():
        account = accounts[pk]
        if (account.rule == Account.Rule.NON_NEGATIVE and final < 0) or (
                account.rule == Account.Rule.NON_POSITIVE and final > 0):
            raise InsufficientFunds(account)
    _insert_entries(rows, now)
    _set_balances({pk: final for pk, final in running.items() if final != start[pk]})
    return ids, now


def reverse(*, original: Transaction, key: str, memo: str = "") -> Transaction:
    """A new transaction with every entry of ``original`` negated (the correction path)."""
    legs = [Leg(e.account, -e.amount) for e in original.entries.select_related("account")]
    return post(Posting(key=key, kind="reversal", legs=legs, ref=f"txn:{original.pk}", memo=memo,
                        metadata={"reverses": original.pk}))


# --- creator cash: income with holds and debt netting, and takes ----------------------------
def _lock(accounts: Iterable[Account]) -> dict[int, int]:
    """Lock cached accounts in the global order (lock_rank, id); return their current balances."""
    ordered = lock_order(accounts)
    rows = (Account.objects.select_for_update(no_key=True).filter(pk__in=[a.pk for a in ordered])
            .order_by("lock_rank", "pk").values_list("pk", "balance"))
    return {pk: balance or 0 for pk, balance in rows}


@dataclass(frozen=True)
class Income:
    """Cash credited to a creator (``creator_income``). ``source_legs`` say where the money comes
    from (they sum to ``-amount`` in its currency)."""

    key: str
    kind: str
    owner: Any  # a user or a user id
    amount: Money
    source_legs: Sequence[Leg]
    ref: str = ""
    memo: str = ""
    metadata: dict[str, Any] | None = None
    hold_days: int | None = None  # None: the ``ledger.hold_days`` setting


def _split_income(owed: int, amount: int) -> tuple[int, int]:
    """Income pays the creator's debt first (netting): (to debt, to pending)."""
    to_debt = min(max(owed, 0), amount)
    return to_debt, amount - to_debt


def _income_legs(income: Income, debt: Account, pending: Account, owed: int) -> tuple[Posting, int]:
    """The posting of ``income`` for a creator who owes ``owed``; and what goes to pending."""
    to_debt, to_pending = _split_income(owed, income.amount.amount)
    legs = list(income.source_legs)
    if to_debt:
        legs.append(Leg(debt, to_debt))
    if to_pending:
        legs.append(Leg(pending, to_pending))
    return Posting(key=income.key, kind=income.kind, legs=legs, ref=income.ref, memo=income.memo,
                   metadata={**(income.metadata or {}), "netted_debt": to_debt}), to_pending


def _income_hold(income: Income, txn_id: int, created_at: datetime, to_pending: int, setting_days: int) -> Hold:
    """The hold on what ``income`` put in pending; ``setting_days`` is ``ledger.hold_days`` (read
    once per batch by the caller), for an income without ``hold_days`` of its own."""
    # The hold stores its release time: a later change of the setting never moves it.
    days = income.hold_days if income.hold_days is not None else setting_days
    return Hold(owner_id=getattr(income.owner, "pk", income.owner), currency=income.amount.currency,
                amount=to_pending, transaction_id=txn_id, release_at=created_at + timedelta(days=days))


def creator_income(*, key: str, kind: str, owner: Any, amount: Money, source_legs: Sequence[Leg],
                   ref: str = "", memo: str = "", metadata: dict[str, Any] | None = None,
                   hold_days: int | None = None) -> Transaction:
    """Credit ``amount`` of cash to a creator: debt first (netting), the rest to pending on hold.

    ``source_legs`` say where the money comes from (they sum to ``-amount`` in its currency).
    """
    return creator_income_of(Income(key=key, kind=kind, owner=owner, amount=amount, source_legs=source_legs,
                                    ref=ref, memo=memo, metadata=metadata, hold_days=hold_days))


def creator_income_of(income: Income) -> Transaction:
    """``creator_income`` of an ``Income``."""
    if income.amount.amount <= 0:
        raise LedgerError("Income must be positive.")
    # No "already posted?" look-up first: a replay takes the locks, then post_once finds the key
    # and returns the first transaction (no hold is created twice).
    owner, currency = income.owner, income.amount.currency
    debt, pending = accounts_for((owner, AccountKind.DEBT, currency), (owner, AccountKind.PENDING, currency))
    with transaction.atomic():
        balances = _lock([debt, pending, *[leg.account for leg in income.source_legs]])
        posting, to_pending = _income_legs(income, debt, pending, owed=-balances[debt.pk])
        txn, created = post_once(posting, savepoint=False)
        if created and to_pending:
            _income_hold(income, txn.pk, txn.created_at, to_pending, config.get(HOLD_DAYS)).save()
    return txn


def creator_income_many(incomes: Sequence[Income]) -> None:
    """``creator_income`` for many credits in one transaction and a handful of statements (the
    webhook drain's batches): every creator's accounts locked at once in the global order, each
    creator's debt netted first in the order given (running balances), then ``post_many``'s
    statements and one insert of the holds.

    All or nothing, and only for new keys: if any key is already posted the whole call raises
    LedgerError and writes nothing, and the caller credits one by one (``creator_income`` returns
    the first transaction of a replay), so the rules for replays live in one place."""
    if not incomes:
        return
    if any(income.amount.amount <= 0 for income in incomes):
        raise LedgerError("Income must be positive.")
    if len({income.key for income in incomes}) != len(incomes):
        raise LedgerError("Duplicate keys in one batch.")
    wanted = sorted({(getattr(i.owner, "pk", i.owner), kind, i.amount.currency)
                     for i in incomes for kind in (AccountKind.DEBT, AccountKind.PENDING)})
    accounts = dict(zip(wanted, accounts_for(*wanted), strict=True))
    with transaction.atomic():
        running = _lock([*accounts.values(), *[leg.account for i in incomes for leg in i.source_legs]])
        start = dict(running)
        postings, to_pending = [], []
        for income in incomes:
            owner, currency = getattr(income.owner, "pk", income.owner), income.amount.currency
            debt = accounts[(owner, AccountKind.DEBT, currency)]
            pending = accounts[(owner, AccountKind.PENDING, currency)]
            posting, pends = _income_legs(income, debt, pending, owed=-running[debt.pk])
            _validate(posting)
            for leg in posting.legs:
                if leg.account.pk in running:
                    running[leg.account.pk] += leg.amount
            postings.append(posting)
            to_pending.append(pends)
        ids, now = _post_batch(postings, locked=start)
        if len(ids) != len(postings):
            raise LedgerError(f"{len(postings) - len(ids)} of {len(postings)} incomes were already posted.")
        days = config.get(HOLD_DAYS)
        Hold.objects.bulk_create([_income_hold(income, ids[posting.key], now, pends, days)
                                  for income, posting, pends in zip(incomes, postings, to_pending, strict=True)
                                  if pends])


def creator_cash_take(*, key: str, kind: str, owner: Any, amount: Money, sink_legs: Sequence[Leg],
                      ref: str = "", memo: str = "", metadata: dict[str, Any] | None = None,
                      hold_transaction: Transaction | None = None) -> Transaction:
    """Take ``amount`` back from a creator (a refund, a dispute): from pending, then available,
    and whatever is missing becomes explicit debt. ``sink_legs`` receive the money (sum ``+amount``).

    Pending money taken back is removed from holds (the given transaction's hold first, then the
    newest), so a later release never frees another tip's money early.
    """
    if amount.amount <= 0:
        raise LedgerError("A take must be positive.")
    existing = Transaction.objects.filter(key=key).first()
    if existing is not None:
        return existing
    currency = amount.currency
    pending = account_for(owner, AccountKind.PENDING, currency)
    available = account_for(owner, AccountKind.AVAILABLE, currency)
    debt = account_for(owner, AccountKind.DEBT, currency)
    with transaction.atomic():
        balances = _lock([pending, available, debt, *[leg.account for leg in sink_legs]])
        remaining = amount.amount
        from_pending = min(remaining, balances[pending.pk])
        remaining -= from_pending
        from_available = min(remaining, balances[available.pk])
        remaining -= from_available
        legs = list(sink_legs)
        for account, taken in ((pending, from_pending), (available, from_available), (debt, remaining)):
            if taken:
                legs.append(Leg(account, -taken))
        txn, created = post_once(Posting(
            key=key, kind=kind, legs=legs, ref=ref, memo=memo,
            metadata={**(metadata or {}), "from_pending": from_pending,
                      "from_available": from_available, "to_debt": remaining}))
        if created and from_pending:
            _reduce_holds(owner, currency, from_pending, hold_transaction)
    return txn


def _reduce_holds(owner: Any, currency: str, amount: int, first: Transaction | None) -> None:
    holds = list(Hold.objects.select_for_update(no_key=True)
                 .filter(owner=owner, currency=currency, released_at__isnull=True)
                 .order_by("-release_at", "-pk"))
    if first is not None:
        holds.sort(key=lambda h: h.transaction_id != first.pk)
    for hold in holds:
        if amount <= 0:
            break
        left = hold.amount - hold.cancelled_amount
        cut = min(left, amount)
        if cut:
            hold.cancelled_amount += cut
            amount -= cut
            if hold.cancelled_amount == hold.amount:
                hold.released_at = timezone.now()
            hold.save(update_fields=["cancelled_amount", "released_at"])


def holds_release_due(*, now: datetime | None = None, batch_size: int = 500) -> int:
    """Move matured pending cash to available. Idempotent (keys ``hold:<id>:release``); safe to
    run concurrently (SKIP LOCKED). Returns how many holds were released."""
    now = now or timezone.now()
    released = 0
    while True:
        with transaction.atomic():
            holds = list(Hold.objects.select_for_update(skip_locked=True, no_key=True)
                         .filter(released_at__isnull=True, release_at__lte=now)
                         .order_by("release_at", "pk")[:batch_size])
            if not holds:
                return released
            wanted = {(h.owner_id, h.currency) for h in holds}
            pending_of = owner_accounts(wanted, AccountKind.PENDING)
            available_of = owner_accounts(wanted, AccountKind.AVAILABLE)
            postings = []
            for hold in holds:
                amount = hold.amount - hold.cancelled_amount
                if amount > 0:
                    pending = pending_of[(hold.owner_id, hold.currency)]
                    available = available_of[(hold.owner_id, hold.currency)]
                    postings.append(Posting(key=f"hold:{hold.pk}:release", kind="hold_release",
                                            legs=[Leg(pending, -amount), Leg(available, amount)],
                                            ref=f"hold:{hold.pk}"))
                hold.released_at = now
            post_many(postings)
            Hold.objects.bulk_update(holds, ["released_at"])
            released += len(holds)
