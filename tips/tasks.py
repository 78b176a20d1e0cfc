from datetime import timedelta

from celery import shared_task
from django.utils import timezone

from tips import services


@shared_task
def tips_daily_digest() -> int:
    """Beat, daily: yesterday's (UTC) tips-received email for every creator who got tips."""
    return services.tips_daily_digest(day=timezone.now().date() - timedelta(days=1))
