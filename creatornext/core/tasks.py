"""Thin tasks: load by id, call a service."""

from __future__ import annotations

from celery import shared_task
from django.db.models import F
from django.utils import timezone

from creatornext.core import emails, idempotency
from creatornext.core.models import Heartbeat


@shared_task
def record_heartbeat(source: str) -> None:
    now = timezone.now()
    updated = Heartbeat.objects.filter(source=source).update(last_seen=now, count=F("count") + 1)
    if not updated:
        Heartbeat.objects.get_or_create(source=source, defaults={"last_seen": now, "count": 1})


@shared_task(bind=True, max_retries=8)
def send_email(self, email_id: int) -> None:
    try:
        emails.email_send(email_id=email_id)
    except Exception as exc:
        if self.request.retries >= self.max_retries:
            emails.email_failed(email_id=email_id, error=repr(exc))
            raise
        # Back off 10 s, 20 s, 40 s … up to 10 minutes: a mail server outage loses nothing.
        countdown = min(600, 10 * 2**self.request.retries)
        raise self.retry(exc=exc, countdown=countdown) from exc


@shared_task
def send_emails(email_ids: list[int]) -> int:
    """Many emails in one task (a payout batch's chunk); failures wait for the sweeper."""
    return emails.emails_send(email_ids)


@shared_task
def emails_send_due() -> int:
    return emails.emails_send_due()


@shared_task
def idempotency_cleanup() -> int:
    return idempotency.idempotency_cleanup()
