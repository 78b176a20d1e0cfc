"""Show the plans of marketplace searches: the very SQL the API runs, through EXPLAIN.

    manage.py marketplace_explain "country=US&category=food" "q=daily" --analyze

Each argument is a search's query string (as the API takes it). The command runs the search
through the same code as ``GET /api/v1/marketplace/creators/``, captures its SELECTs and prints
``EXPLAIN`` (with ``--analyze``: ``ANALYZE, BUFFERS``) for each. PostgreSQL only. Evidence for
docs/decisions/0009-marketplace-search.md.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.test.utils import CaptureQueriesContext


class Command(BaseCommand):
    help = "EXPLAIN the SQL of marketplace searches (query strings as the API takes them)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("queries", nargs="+")
        parser.add_argument("--analyze", action="store_true", help="EXPLAIN (ANALYZE, BUFFERS)")
        parser.add_argument("--summary", action="store_true",
                            help="one line per query: time, and whether any plan scans a searched table")

    def handle(self, *args: str, queries: list[str], analyze: bool, summary: bool, **options) -> None:
        from marketplace import selectors
        from marketplace.api import run_search
        if connection.vendor != "postgresql":
            raise CommandError("EXPLAIN evidence is for PostgreSQL.")
        explain = "EXPLAIN (ANALYZE, BUFFERS) " if analyze else "EXPLAIN "
        for query in queries:
            # The statements themselves, not their PREPARE/EXECUTE (selectors.STATEMENTS).
            with selectors.STATEMENTS.plainly(), CaptureQueriesContext(connection) as captured:
                run_search(dict(parse_qsl(query, keep_blank_values=True)))
            # Each statement of the walk (with the page's cards: selectors._pg_statement).
            tables = ("marketplace_marketplaceprofile", selectors.WALK_TABLE)
            selects = [q["sql"] for q in captured.captured_queries
                       if q["sql"].startswith("SELECT") and any(t in q["sql"] for t in tables)]
            plans = []
            with connection.cursor() as cursor:
                for sql in selects:
                    cursor.execute(explain + sql)
                    plans.append("\n".join(row[0] for row in cursor.fetchall()))
            seq = any(f"Seq Scan on {t}" in p for p in plans for t in tables)
            if summary:
                times = [line.split("Execution Time:")[1].strip() for p in plans
                         for line in p.splitlines() if "Execution Time:" in line]
                self.stdout.write(f"{query or '(no filter)'} | {len(selects)} | "
                                  f"{' + '.join(times) or '—'} | {'SEQ SCAN' if seq else 'no'}")
                continue
            self.stdout.write(f"### `{query or '(no filter)'}`\n")
            for plan in plans:
                self.stdout.write("```\n" + plan + "\n```\n")
