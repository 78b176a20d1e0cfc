"""PostgreSQL only: ``ledger_refuse(reason)``, which fails the statement that calls it.

A posting written as one statement outside any transaction block (the gift send: its own
transaction, no BEGIN and COMMIT round trips) cannot be rolled back after it returns, so it
checks itself: its last expression calls this when a balance rule refused, an entry or a row is
missing, or the key was posted before, and the whole statement is undone
(``ledger.services.PostingStatement.run``; SQLSTATE ``LD001``, the reason as the message).
"""

from django.db import migrations

from creatornext.core.db import postgres_only

FORWARD = [
    """CREATE FUNCTION ledger_refuse(reason text) RETURNS boolean LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION USING ERRCODE = 'LD001', MESSAGE = reason;
    END $$""",
]
BACKWARD = ["DROP FUNCTION IF EXISTS ledger_refuse(text)"]


class Migration(migrations.Migration):
    dependencies = [("ledger", "0008_tip_returns_ref_index")]

    operations = [postgres_only(FORWARD, BACKWARD)]
