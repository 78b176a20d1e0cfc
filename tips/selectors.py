from __future__ import annotations

from django.db.models import QuerySet

from creatornext.accounts.models import CreatorProfile, User
from creatornext.payments.models import PaymentStatus
from tips.models import Tip


def tips_of(user: User, direction: str) -> QuerySet[Tip]:
    base = Tip.objects.select_related("payment", "creator", "fan")
    if direction == "received":
        return base.filter(creator__user=user).order_by("-pk")
    return base.filter(fan=user).order_by("-pk")


def tip_visible_to(user: User, tip_id: int) -> Tip | None:
    """The tip if ``user`` sent or received it (anyone else: None, answered as 404)."""
    return (Tip.objects.select_related("payment", "creator", "fan")
            .filter(pk=tip_id).filter(fan=user).first()
            or Tip.objects.select_related("payment", "creator", "fan")
            .filter(pk=tip_id, creator__user=user).first())


def supporters(creator: CreatorProfile) -> QuerySet[Tip]:
    """Recent public supporters: succeeded, non-anonymous tips, newest first."""
    return (Tip.objects.select_related("fan")
            .filter(creator=creator, anonymous=False, payment__status=PaymentStatus.SUCCEEDED,
                    fan__deleted_at__isnull=True)
            .order_by("-pk"))
