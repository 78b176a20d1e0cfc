"""PRODUCT.md §1's default programs, rules (with the KR and JP overrides) and first terms."""

from django.db import migrations


def seed(apps, schema_editor):
    from eligibility.defaults import seed_defaults

    seed_defaults(apps)


class Migration(migrations.Migration):
    dependencies = [("eligibility", "0002_append_only_metrics_history")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
