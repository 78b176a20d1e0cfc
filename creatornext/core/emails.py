"""Templated email: ``emails/<name>/subject.txt``, ``body.txt`` and (optional) ``body.html``.

``email_queue`` is the one service every app calls. It renders now (inside the caller's
transaction, so the email says what was true when the event happened), stores the message and
sends it from a Celery task once the transaction commits.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template import TemplateDoesNotExist
from django.template.loader import render_to_string
from django.utils import timezone

from creatornext.core.models import OutboundEmail


def email_queue(*, to: Sequence[str], template: str, context: Mapping[str, Any]) -> OutboundEmail:
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
    from creatornext.core.tasks import send_email  # tasks import this module

    transaction.on_commit(lambda: send_email.delay(email.pk))
    return email


def email_send(*, email_id: int) -> OutboundEmail:
    """Send one queued email. Safe to run twice: a sent email is not sent again."""
    with transaction.atomic():
        email = OutboundEmail.objects.select_for_update().get(pk=email_id)
        if email.status == OutboundEmail.Status.SENT:
            return email
        email.attempts += 1
        message = EmailMultiAlternatives(
            subject=email.subject,
            body=email.body_text,
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=email.to,
        )
        if email.body_html:
            message.attach_alternative(email.body_html, "text/html")
        message.send()
        email.status = OutboundEmail.Status.SENT
        email.sent_at = timezone.now()
        email.last_error = ""
        email.save(update_fields=["attempts", "status", "sent_at", "last_error"])
    return email


def email_failed(*, email_id: int, error: str) -> None:
    OutboundEmail.objects.filter(pk=email_id).exclude(status=OutboundEmail.Status.SENT).update(
        status=OutboundEmail.Status.FAILED, last_error=error[:2000]
    )
