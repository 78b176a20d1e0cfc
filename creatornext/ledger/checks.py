"""Self-checks of the ledger, run by ``manage.py ledger_check`` and after every test scenario.

Each check is one aggregate query; each returns human-readable problems (empty when all is well).
"""

from __future__ import annotations

from django.db import connection

from creatornext.ledger.models import ESCROW_POSTING_PREFIX, Account, AccountKind, Entry, Transaction

CHECKS = {
    "transactions that do not sum to zero per asset": """
        SELECT e.transaction_id, e.asset, CAST(SUM(e.amount) AS BIGINT)
        FROM {entry} e GROUP BY e.transaction_id, e.asset HAVING SUM(e.amount) <> 0
        ORDER BY 1 LIMIT 50""",
    "transactions with fewer than two entries": """
        SELECT t.id, t.key, COUNT(e.id) FROM {txn} t LEFT JOIN {entry} e ON e.transaction_id = t.id
        GROUP BY t.id, t.key HAVING COUNT(e.id) < 2 ORDER BY 1 LIMIT 50""",
    "cached balances that differ from the sum of their entries": """
        SELECT a.id, a.kind, a.asset, a.balance, CAST(COALESCE(s.total, 0) AS BIGINT)
        FROM {account} a LEFT JOIN (SELECT account_id, SUM(amount) AS total FROM {entry}
                                    GROUP BY account_id) s ON s.account_id = a.id
        WHERE a.balance IS NOT NULL AND a.balance <> COALESCE(s.total, 0) ORDER BY 1 LIMIT 50""",
    "entries whose asset or owner differ from their account's": """
        SELECT e.id, e.account_id FROM {entry} e JOIN {account} a ON a.id = e.account_id
        WHERE e.asset <> a.asset OR e.owner_id IS DISTINCT FROM a.owner_id ORDER BY 1 LIMIT 50""",
    "accounts that break their balance rule": """
        SELECT a.id, a.kind, a.balance FROM {account} a
        WHERE (a.rule = 'non_negative' AND a.balance < 0) OR (a.rule = 'non_positive' AND a.balance > 0)
        ORDER BY 1 LIMIT 50""",
    # escrow_held finds a collaboration's escrow through the partial index of escrow postings.
    "escrow entries of postings whose kind is not an escrow kind": """
        SELECT e.id, t.kind FROM {entry} e JOIN {account} a ON a.id = e.account_id
        JOIN {txn} t ON t.id = e.transaction_id
        WHERE a.kind = '{escrow}' AND substr(t.kind, 1, {prefix_length}) <> '{prefix}' ORDER BY 1 LIMIT 50""",
}


def ledger_check() -> list[str]:
    qn = connection.ops.quote_name
    names = {"entry": qn(Entry._meta.db_table), "txn": qn(Transaction._meta.db_table),
             "account": qn(Account._meta.db_table),
             # Fixed names of our own, not input: safe to write into the SQL.
             "escrow": AccountKind.ESCROW.value, "prefix": ESCROW_POSTING_PREFIX,
             "prefix_length": len(ESCROW_POSTING_PREFIX)}
    problems = []
    with connection.cursor() as cursor:
        for name, sql in CHECKS.items():
            cursor.execute(sql.format(**names))
            rows = cursor.fetchall()
            problems += [f"{name}: {row}" for row in rows]
    return problems
