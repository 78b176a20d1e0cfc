"""Thin Celery tasks: load by id, call a service. All are safe to run twice, concurrently too
(``acks_late`` + ``reject_on_worker_lost`` are the project defaults)."""

from celery import shared_task

from creatornext.core import config
from creatornext.payouts import batches, reconciliation, services
from creatornext.payouts.config import RUN_PARTS


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True)
def payout_batch_run(self, batch_id: int, part: int = 0, parts: int | None = None) -> str:
    """Run a batch; the first call splits it into ``payouts.run_parts`` parts, one task each on
    the queue this one came from, so that every worker process pays its share (one process's
    threads are bound by its GIL)."""
    if parts is None:
        parts = config.get(RUN_PARTS)
        queue = (self.request.delivery_info or {}).get("routing_key")
        for other in range(1, parts):
            payout_batch_run.apply_async((batch_id,), {"part": other, "parts": parts}, queue=queue)
    return batches.payout_batch_run(batch_id=batch_id, part=part, parts=parts).stage


@shared_task(acks_late=True, reject_on_worker_lost=True)
def payouts_run_due() -> list[int]:
    """Beat: gather waiting withdrawals into a batch and run every unfinished batch."""
    return batches.payouts_run_due()


@shared_task(acks_late=True, reject_on_worker_lost=True)
def payouts_sweep() -> list[int]:
    """Beat: resume claimed-but-unfinished items and stuck batches."""
    return batches.payouts_sweep()


@shared_task
def withdrawals_auto() -> int:
    """Beat: automatic weekly withdrawals."""
    return services.withdrawals_auto()


@shared_task
def reconcile_daily() -> int:
    """Beat: compare our records with the provider's; staff get every mismatch."""
    return reconciliation.reconcile().mismatch_count
