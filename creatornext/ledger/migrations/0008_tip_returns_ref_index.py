from django.db import migrations, models


class Migration(migrations.Migration):
    """What a tip's refunds and disputes took back, read by the tip's ref: only those postings are
    indexed (like 0007's escrow postings), so tips and gift sends write no more than before."""

    dependencies = [
        ('ledger', '0007_escrow_ref_index'),
    ]

    operations = [
        migrations.AddIndex(
            model_name='transaction',
            index=models.Index(condition=models.Q(('kind__in', ('tip_refund', 'tip_dispute', 'tip_dispute_won'))), fields=['ref'], name='ledger_txn_tip_returns_ref'),
        ),
    ]
