"""Database-level guarantees shared by apps: append-only tables.

``AppendOnly("app_table")`` is a migration operation that makes the database itself refuse
UPDATE and DELETE on a table (PostgreSQL and SQLite triggers), so no code path, admin action or
shell session can rewrite history. A correction is a new row.

SQLite alters most things by rebuilding the table, which drops its triggers: a migration that
alters an append-only table must end with ``AppendOnly(table, restore=True)`` (safe on
PostgreSQL too: the operation is idempotent), as ledger 0006 does after 0004 and 0005.
"""

from __future__ import annotations

from django.db import migrations


class AppendOnly(migrations.operations.base.Operation):
    reversible = True
    reduces_to_sql = True

    def __init__(self, table: str, restore: bool = False) -> None:
        """``restore``: put the triggers back after an alteration (undoing it removes nothing:
        the operation that first made the table append-only still stands)."""
        self.table = table
        self.restore = restore

    def state_forwards(self, app_label, state):
        pass

    def _names(self) -> tuple[str, str]:
        return f"{self.table}_append_only", f"{self.table}_refuse_change"

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        trigger, function = self._names()
        qn = schema_editor.quote_name
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(
                f"""CREATE OR REPLACE FUNCTION {function}() RETURNS trigger AS $$
                BEGIN
                    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
                        USING ERRCODE = 'restrict_violation';
                END; $$ LANGUAGE plpgsql""",
                params=None,  # the % in RAISE is not a query parameter
            )
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {trigger} ON {qn(self.table)}")
            schema_editor.execute(
                f"CREATE TRIGGER {trigger} BEFORE UPDATE OR DELETE ON {qn(self.table)} "
                f"FOR EACH ROW EXECUTE FUNCTION {function}()"
            )
            # TRUNCATE is left alone: it is a table owner's maintenance tool (the test suite
            # empties tables with it), never a code path of the application.
        elif schema_editor.connection.vendor == "sqlite":
            for op in ("UPDATE", "DELETE"):
                schema_editor.execute(
                    f"CREATE TRIGGER IF NOT EXISTS {trigger}_{op.lower()} BEFORE {op} ON {qn(self.table)} "
                    f"BEGIN SELECT RAISE(ABORT, '{self.table} is append-only: {op} refused'); END"
                )

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if self.restore:
            return
        trigger, function = self._names()
        qn = schema_editor.quote_name
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {trigger} ON {qn(self.table)}")
            schema_editor.execute(f"DROP FUNCTION IF EXISTS {function}()")
        elif schema_editor.connection.vendor == "sqlite":
            for op in ("update", "delete"):
                schema_editor.execute(f"DROP TRIGGER IF EXISTS {trigger}_{op}")

    def describe(self):
        return f"Make {self.table} append-only (refuse UPDATE/DELETE)"


def postgres_only(forward: list[str], backward: list[str]) -> migrations.RunPython:
    """A migration step of plain statements for PostgreSQL only (functions, triggers, statistics
    the embedded SQLite default does without), undone by ``backward``."""

    def run(statements: list[str]):
        def apply(apps, schema_editor) -> None:
            if schema_editor.connection.vendor != "postgresql":
                return
            for statement in statements:
                schema_editor.execute(statement)

        return apply

    return migrations.RunPython(run(forward), run(backward))
