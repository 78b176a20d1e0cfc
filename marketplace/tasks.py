"""Thin tasks: call a service."""

from __future__ import annotations

from celery import shared_task

from marketplace import services


@shared_task
def profiles_sync() -> int:
    """Beat, every 10 minutes: refresh the search copies of handles and followers."""
    return services.profiles_sync()


@shared_task(ignore_result=True)
def search_index_catch_up() -> int | None:
    """Beat, every few seconds: the search index takes in the profile cards changed since
    (decision 0022). None: the index is off, or another writer is at it."""
    from marketplace import search_index

    return search_index.catch_up()


@shared_task
def invitations_expire() -> int:
    """Beat, hourly: open invitations past their 7 days expire."""
    from marketplace import campaigns

    return campaigns.invitations_expire()


@shared_task
def collaborations_unfunded_cancel() -> int:
    """Beat, hourly: accepted collaborations not funded within 7 days are cancelled."""
    from marketplace import escrow

    return escrow.unfunded_cancel_due()


@shared_task(acks_late=True, reject_on_worker_lost=True)
def collaborations_auto_approve() -> int:
    """Beat, hourly: submissions unanswered for 7 days are approved and escrow released."""
    from marketplace import escrow

    return escrow.auto_approve_due()
