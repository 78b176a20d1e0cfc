from celery import shared_task

from creatornext.payments import webhooks


@shared_task(bind=True)
def process_webhook_events(self) -> int:
    """Apply stored events (webhooks.webhook_events_wake queues this); hand over to a new task when
    the time slice ends with events left. Run inline (eager: tests, the embedded default without a
    broker) it does not linger: the caller waits for it."""
    done, more = webhooks.webhook_events_drain(linger=0.0 if self.request.is_eager else webhooks.DRAIN_LINGER)
    if more:
        process_webhook_events.delay()
    return done


@shared_task
def process_webhook_event(event_pk: int) -> str:
    """One event by id: what the web process queued before drains existed (messages still in the
    broker at a deploy); nothing queues it now."""
    return webhooks.webhook_event_process(event_pk=event_pk).status


@shared_task
def webhook_events_retry_due() -> int:
    """Beat: retry failed events whose backoff has passed, and events no worker picked up."""
    return webhooks.webhook_events_retry_due()
