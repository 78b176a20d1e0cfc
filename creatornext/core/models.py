"""Platform plumbing: worker/beat heartbeats and the outgoing email queue."""

from __future__ import annotations

from django.db import models


class Heartbeat(models.Model):
    """The last time a task from ``source`` ran on a worker (proves broker + worker + beat work)."""

    source = models.CharField(max_length=32, primary_key=True)
    last_seen = models.DateTimeField()
    count = models.PositiveBigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.source} @ {self.last_seen:%Y-%m-%d %H:%M:%S}"


class OutboundEmail(models.Model):
    """An email rendered inside the caller's transaction and sent by a task after commit.

    Kept as a row so that nothing is lost if the worker is down: the send task is retried and a
    crash leaves the row ``queued`` for the sweeper.
    """

    class Status(models.TextChoices):
        QUEUED = "queued"
        SENT = "sent"
        FAILED = "failed"

    template = models.CharField(max_length=100)
    to = models.JSONField()
    subject = models.CharField(max_length=255)
    body_text = models.TextField()
    body_html = models.TextField(blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["status", "created_at"])]

    def __str__(self) -> str:
        return f"{self.template} → {', '.join(self.to)} ({self.status})"
