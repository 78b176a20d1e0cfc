"""The row B-insert writes. The harness creates the table with raw SQL (``database.py``), so the
app's migrations never see it; the model exists so the baseline pays the ORM cost our views pay."""

from django.db import models


class BenchRow(models.Model):
    value = models.BigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        managed = False
        db_table = "bench_row"

    def __str__(self) -> str:
        return f"bench row {self.pk}"
