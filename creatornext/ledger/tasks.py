from celery import shared_task

from creatornext.ledger import services


@shared_task
def holds_release_due() -> int:
    """Beat: pending cash whose holding period is over becomes available."""
    return services.holds_release_due()
