from django.db import migrations

from creatornext.core.db import AppendOnly


class Migration(migrations.Migration):
    """SQLite (the embedded default) rebuilt ledger_entry in 0004 and ledger_transaction in 0005 to
    alter their indexes, and a rebuilt table has lost its triggers: make both append-only again.
    On PostgreSQL the triggers were never lost; re-creating them changes nothing."""

    dependencies = [("ledger", "0005_transaction_no_pattern_indexes")]

    operations = [AppendOnly("ledger_transaction", restore=True), AppendOnly("ledger_entry", restore=True)]
