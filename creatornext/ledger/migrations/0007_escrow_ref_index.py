from django.db import migrations, models


class Migration(migrations.Migration):
    """What one collaboration holds in the shared escrow account, found by ref (decision 0011):
    only escrow postings are indexed, so tips and gift sends write no more than before."""

    dependencies = [
        ('ledger', '0006_append_only_again'),
    ]

    operations = [
        migrations.AddIndex(
            model_name='transaction',
            index=models.Index(condition=models.Q(('kind__startswith', 'escrow_')), fields=['ref'], name='ledger_transaction_escrow_ref'),
        ),
    ]
