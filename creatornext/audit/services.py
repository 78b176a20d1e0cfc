"""The one way to write an audit event. Every app calls ``audit_record`` inside its transaction."""

from __future__ import annotations

from typing import Any

from django.db import models

from creatornext.audit.models import AuditEvent


def audit_record(
    *,
    actor: Any,
    action: str,
    obj: models.Model,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    reason: str = "",
    actor_kind: str | None = None,
) -> AuditEvent:
    """Record that ``actor`` (a user, or None for the system) did ``action`` to ``obj``."""
    is_user = actor is not None and getattr(actor, "is_authenticated", False)
    if actor_kind is None:
        actor_kind = ("staff" if actor.is_staff else "user") if is_user else "system"
    return AuditEvent.objects.create(
        actor=actor if is_user else None,
        actor_kind=actor_kind,
        action=action,
        object_type=obj._meta.label_lower,
        object_id=str(obj.pk),
        before=before,
        after=after,
        reason=reason,
    )
