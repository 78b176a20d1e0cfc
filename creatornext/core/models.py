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


class IdempotencyRecord(models.Model):
    """A stored 2xx response for an ``Idempotency-Key`` (API.md, Conventions).

    Scoped to the caller and the endpoint. The row is inserted in the same transaction as the
    request's effects, so a refused or failed request leaves nothing behind, and a concurrent
    duplicate waits on the unique index until the first commits, then replays it.
    """

    # No index of its own: the unique (user, endpoint, key) index leads with it, and every money
    # request writes this table.
    user = models.ForeignKey("accounts.User", on_delete=models.CASCADE, related_name="+", db_index=False)
    endpoint = models.CharField(max_length=200)  # "api:tip-list POST"
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64)  # sha256 of the canonical JSON body
    response_status = models.PositiveSmallIntegerField(null=True)
    # Text, not jsonb: jsonb reorders keys, and a replay must be byte-for-byte the same.
    response_body = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "endpoint", "key"], name="idempotency_key_once"),
        ]

    def __str__(self) -> str:
        return f"{self.endpoint} {self.key}"


class Setting(models.Model):
    """A staff-editable platform number (a limit, a rate, a period). Definitions and defaults live
    in code (``creatornext.core.config.register``); a row exists once staff look at or change it.
    Every change is an audit event; records made under a setting store the value they used."""

    key = models.CharField(max_length=100, primary_key=True)
    value = models.JSONField()
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey("accounts.User", null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="+")

    def __str__(self) -> str:
        return f"{self.key} = {self.value}"


class StaffApproval(models.Model):
    """The two-person rule (PRODUCT.md §7): a staff decision that moves more than a threshold waits
    here until a second, different staff member makes the same decision. At most one request is
    pending per subject; the decision itself runs only when the second member confirms."""

    class Status(models.TextChoices):
        PENDING = "pending"
        CONFIRMED = "confirmed"
        WITHDRAWN = "withdrawn"

    action = models.CharField(max_length=64)  # what will happen, e.g. "redemption.approve"
    subject = models.CharField(max_length=64)  # what it happens to, e.g. "redemption:12"
    amount = models.BigIntegerField()  # minor units the decision moves
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    requested_by = models.ForeignKey("accounts.User", on_delete=models.PROTECT, related_name="+")
    reason = models.TextField()
    requested_at = models.DateTimeField(auto_now_add=True)
    decided_by = models.ForeignKey("accounts.User", null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["subject"], condition=models.Q(status="pending"),
                                               name="one_pending_approval_per_subject")]

    def __str__(self) -> str:
        return f"{self.action} {self.subject} ({self.status})"
