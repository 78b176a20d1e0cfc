"""Thin tasks: call a service."""

from __future__ import annotations

from celery import shared_task

from marketplace import services


@shared_task
def profiles_sync() -> int:
    """Beat, every 10 minutes: refresh the search copies of handles and followers."""
    return services.profiles_sync()
