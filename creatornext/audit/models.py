"""Audit events: who did what to which object, when and why, with the state before and after.

Append-only: PostgreSQL refuses UPDATE and DELETE on the table (migration 0002), and the admin
is read-only. Actors are never deleted (accounts are pseudonymised), so the trail survives.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class AuditEvent(models.Model):
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                              on_delete=models.PROTECT, related_name="+")
    # "system" (a task), "staff", "user": how the actor acted; a task has no actor.
    actor_kind = models.CharField(max_length=10, default="user")
    action = models.CharField(max_length=80, db_index=True)  # e.g. "account.deleted"
    object_type = models.CharField(max_length=80)  # "app_label.model"
    object_id = models.CharField(max_length=64)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        indexes = [models.Index(fields=["object_type", "object_id", "created_at"])]
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.action} {self.object_type}#{self.object_id}"
