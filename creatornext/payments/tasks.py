from celery import shared_task

from creatornext.payments import webhooks


@shared_task
def process_webhook_event(event_pk: int) -> str:
    return webhooks.webhook_event_process(event_pk=event_pk).status


@shared_task
def webhook_events_retry_due() -> int:
    """Beat: retry failed events whose backoff has passed, and events no worker picked up."""
    return webhooks.webhook_events_retry_due()
