"""Thin Celery tasks: load by id, call a service. All are safe to run twice, concurrently too
(``acks_late`` + ``reject_on_worker_lost`` are the project defaults)."""

from celery import shared_task

from creatornext.payouts import batches, reconciliation, services


@shared_task(acks_late=True, reject_on_worker_lost=True)
def payout_batch_run(batch_id: int) -> str:
    return batches.payout_batch_run(batch_id=batch_id).stage


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
