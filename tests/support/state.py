"""The "nothing changed" harness: a snapshot of everything a refused action must not touch.

Row counts of every table, plus any extra probes that later parts register (ledger balances,
for example) with ``register_probe``. Compare two snapshots, or use the ``nothing_changed``
fixture around the refused call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import connection

_PROBES: dict[str, Callable[[], Any]] = {}


def register_probe(name: str, probe: Callable[[], Any]) -> None:
    """Add a value (e.g. every ledger balance) to every snapshot."""
    _PROBES[name] = probe


def row_counts() -> dict[str, int]:
    tables = sorted(connection.introspection.table_names(include_views=False))
    if not tables:
        return {}
    qn = connection.ops.quote_name
    # One round trip for every table: SELECT (SELECT count(*) FROM a), (SELECT count(*) FROM b)...
    sql = "SELECT " + ", ".join(f"(SELECT COUNT(*) FROM {qn(t)})" for t in tables)
    with connection.cursor() as cursor:
        cursor.execute(sql)
        counts = cursor.fetchone()
    return dict(zip(tables, counts, strict=True))


def snapshot() -> dict[str, Any]:
    state: dict[str, Any] = {"rows": row_counts()}
    for name, probe in _PROBES.items():
        state[name] = probe()
    return state


def diff(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    changes = []
    for table in sorted(set(before["rows"]) | set(after["rows"])):
        b, a = before["rows"].get(table), after["rows"].get(table)
        if b != a:
            changes.append(f"table {table}: {b} → {a} rows")
    for name in sorted((set(before) | set(after)) - {"rows"}):
        if before.get(name) != after.get(name):
            changes.append(f"{name}: {before.get(name)!r} → {after.get(name)!r}")
    return changes
