"""Thin tasks: load by id, call a service."""

from __future__ import annotations

from celery import shared_task

from eligibility import services


@shared_task
def reevaluation_daily() -> int:
    """Beat, hourly: starts the day's run once (UTC day) and resumes a stalled one."""
    return services.reevaluation_daily().pk


@shared_task(acks_late=True, reject_on_worker_lost=True)
def reevaluation_step(run_id: int) -> None:
    """One batch of a run; queues the next. Safe to deliver twice (the run row is locked)."""
    services.reevaluation_step(run_id=run_id)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def metrics_import_run(import_id: int) -> None:
    """A CSV uploaded in the admin. Safe to deliver twice (only a queued import starts)."""
    from eligibility.imports import run_metrics_import

    run_metrics_import(import_id)
