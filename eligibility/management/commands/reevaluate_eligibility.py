"""``manage.py reevaluate_eligibility``: run a full re-evaluation now, in this process, batch by batch."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand

from eligibility import services
from eligibility.models import ReevaluationRun


class Command(BaseCommand):
    help = ("Re-evaluate every creator with an enrolled or paused program now (the daily beat task "
            "does the same through Celery). Prints each batch.")

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=1000)

    def handle(self, *args, batch_size: int, **options):
        run = ReevaluationRun.objects.create(kind=ReevaluationRun.Kind.MANUAL)
        started = time.monotonic()
        while run.finished_at is None:
            run = services.reevaluation_step(run_id=run.pk, limit=batch_size, enqueue_next=False)
            self.stdout.write(f"batch {run.batches}: {run.creators_checked:,} creators checked, "
                              f"{run.changes:,} programs paused or resumed")
        self.stdout.write(f"Done in {time.monotonic() - started:.1f} s.")
