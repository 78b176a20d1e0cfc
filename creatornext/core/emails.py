"""Templated email: ``emails/<name>/subject.txt``, ``body.txt`` and (optional) ``body.html``.

``email_queue`` is the one service every app calls. It renders now (inside the caller's
transaction, so the email says what was true when the event happened), stores the message and
sends it from a Celery task once the transaction commits.

Nothing is lost when that task never runs (a worker killed between the commit and the publish, a
broker outage): ``emails_send_due``, a beat job, sends every email still queued a few minutes
after it was written. Bulk senders (a payout batch) pass ``publish=False`` and hand their emails
to one ``send_emails`` task per chunk instead of one task each.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.db.models import F
from django.template import TemplateDoesNotExist
from django.template.loader import render_to_string
from django.utils import timezone

from creatornext.core.models import OutboundEmail

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 8  # the send task's retries; the sweeper gives up after as many failed sweeps
SWEEP_AFTER = timedelta(minutes=2)  # an email's own task has had its chance by then


def email_queue(*, to: Sequence[str], template: str, context: Mapping[str, Any],
                publish: bool = True) -> OutboundEmail:
    ctx = {"site_url": settings.SITE_URL, **context}
    subject = " ".join(render_to_string(f"emails/{template}/subject.txt", ctx).split())
    body_text = render_to_string(f"emails/{template}/body.txt", ctx)
    try:
        body_html: str = render_to_string(f"emails/{template}/body.html", ctx)
    except TemplateDoesNotExist:
        body_html = ""
    email = OutboundEmail.objects.create(
        template=template, to=list(to), subject=subject, body_text=body_text, body_html=body_html
    )
    if publish:
        from creatornext.core.tasks import send_email  # tasks import this module

        transaction.on_commit(lambda: send_email.delay(email.pk))
    return email


def _message(email: OutboundEmail, connection=None) -> EmailMultiAlternatives:
    message = EmailMultiAlternatives(subject=email.subject, body=email.body_text,
                                     from_email=settings.DEFAULT_FROM_EMAIL, to=email.to, connection=connection)
    if email.body_html:
        message.attach_alternative(email.body_html, "text/html")
    return message


def email_send(*, email_id: int) -> OutboundEmail:
    """Send one queued email. Safe to run twice: a sent email is not sent again."""
    with transaction.atomic():
        email = OutboundEmail.objects.select_for_update(no_key=True).get(pk=email_id)
        if email.status == OutboundEmail.Status.SENT:
            return email
        email.attempts += 1
        _message(email).send()
        email.status = OutboundEmail.Status.SENT
        email.sent_at = timezone.now()
        email.last_error = ""
        email.save(update_fields=["attempts", "status", "sent_at", "last_error"])
    return email


def email_failed(*, email_id: int, error: str) -> None:
    OutboundEmail.objects.filter(pk=email_id).exclude(status=OutboundEmail.Status.SENT).update(
        status=OutboundEmail.Status.FAILED, last_error=error[:2000]
    )


def emails_send(email_ids: Iterable[int]) -> int:
    """Send these emails (those still queued): together over one mail connection, or, if that
    fails, one by one, where a failure is counted on its row and left for the sweeper (after
    ``MAX_ATTEMPTS`` it is marked failed). Returns how many were sent.

    Together: the rows are locked (SKIP LOCKED: one a single-email task holds is that task's) and
    marked sent in the transaction that sends them. A crash after the mail server took them and
    before the commit sends them again, as it would a single email: email is at-least-once."""
    email_ids = list(email_ids)
    try:
        return _send_together(email_ids)
    except Exception as exc:  # one bad message or a mail-server hiccup: find which, one by one
        log.warning("Sending %d emails together failed (%r); sending them one by one", len(email_ids), exc)
    sent = 0
    for email_id in email_ids:
        try:
            email = email_send(email_id=email_id)
        except Exception as exc:  # one bad address or a mail-server hiccup must not stop the rest
            log.warning("Email %s not sent: %r", email_id, exc)
            OutboundEmail.objects.filter(pk=email_id, status=OutboundEmail.Status.QUEUED).update(
                attempts=F("attempts") + 1, last_error=repr(exc)[:2000])
            OutboundEmail.objects.filter(pk=email_id, status=OutboundEmail.Status.QUEUED,
                                         attempts__gte=MAX_ATTEMPTS).update(status=OutboundEmail.Status.FAILED)
            continue
        sent += email.status == OutboundEmail.Status.SENT
    return sent


def _send_together(email_ids: list[int]) -> int:
    from django.core.mail import get_connection

    with transaction.atomic():
        emails = list(OutboundEmail.objects.select_for_update(skip_locked=True, no_key=True)
                      .filter(pk__in=email_ids, status=OutboundEmail.Status.QUEUED))
        if not emails:
            return 0
        with get_connection() as connection:
            connection.send_messages([_message(e, connection) for e in emails])
        OutboundEmail.objects.filter(pk__in=[e.pk for e in emails]).update(
            status=OutboundEmail.Status.SENT, sent_at=timezone.now(), last_error="", attempts=F("attempts") + 1)
    return len(emails)


def emails_send_due(*, now=None, limit: int = 500) -> int:
    """The sweeper: send emails still queued ``SWEEP_AFTER`` after they were written (their task
    was lost, or they were queued with ``publish=False`` by a run that died before handing them on).
    Sending twice is impossible: ``email_send`` locks the row and skips a sent one."""
    now = now or timezone.now()
    due = list(OutboundEmail.objects.filter(status=OutboundEmail.Status.QUEUED,
                                            created_at__lt=now - SWEEP_AFTER)
               .order_by("pk").values_list("pk", flat=True)[:limit])
    return emails_send(due)
