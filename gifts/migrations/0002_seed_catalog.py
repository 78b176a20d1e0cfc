from django.db import migrations


def seed(apps, schema_editor):
    from gifts.defaults import seed_catalog

    seed_catalog(apps.get_model("gifts", "CoinPack"), apps.get_model("gifts", "Gift"))


class Migration(migrations.Migration):
    dependencies = [("gifts", "0001_initial")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
