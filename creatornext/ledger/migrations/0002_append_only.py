from django.db import migrations

from creatornext.core.db import AppendOnly


class Migration(migrations.Migration):
    dependencies = [("ledger", "0001_initial")]

    operations = [AppendOnly("ledger_transaction"), AppendOnly("ledger_entry")]
