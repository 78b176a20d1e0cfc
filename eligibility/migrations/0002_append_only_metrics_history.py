from django.db import migrations

from creatornext.core.db import AppendOnly


class Migration(migrations.Migration):
    dependencies = [("eligibility", "0001_initial")]

    # The metrics history explains past decisions: the database refuses to rewrite it.
    operations = [AppendOnly("eligibility_metricssnapshot")]
