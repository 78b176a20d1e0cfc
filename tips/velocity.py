"""Velocity holds on tips (PRODUCT.md §7: velocity limits, holds on new income, a review queue).

A tip that takes its fan past ``tips.velocity_tips_per_hour`` or ``tips.velocity_amount_per_hour``
is accepted like any other (the fan has paid), but the creator's credit waits in pending with a
hold that does not end by itself (``HELD_DAYS``): only staff release it (the Tips admin, filter
"Held for review", action "Release velocity hold"). Releasing only moves the hold's end back to
the normal one (capture + ``ledger.hold_days``), so the usual hold still applies and the existing
release job moves the money; refunds and disputes of a held tip take from pending as for any tip.
Nothing here posts to the ledger.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db import transaction
from django.db.models import CharField, Count, Exists, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Concat
from django.utils import timezone

from creatornext.audit.services import audit_record
from creatornext.core import config
from creatornext.core.prepared import PreparedQuery
from creatornext.ledger.config import HOLD_DAYS
from creatornext.ledger.models import Hold
from creatornext.payments.models import PaymentStatus
from tips.config import VELOCITY_AMOUNT, VELOCITY_COUNT
from tips.models import Tip

HELD_DAYS = 36_500  # "until staff release it": a hold no release job reaches


PAID = [PaymentStatus.SUCCEEDED, PaymentStatus.REFUNDED, PaymentStatus.DISPUTED]


def _with_hour(tips: QuerySet) -> QuerySet:
    """What crediting each of ``tips`` needs: ``pk``, ``anonymous``, ``creator__user_id`` and its
    fan's hour up to it (``recent_count``, ``recent_total``): paid tips, refunded and disputed ones
    too, and this tip by its id (on the confirmation path its row does not point at its payment
    yet). The hour ends at the tip's own creation, not at the credit: a payment that succeeds hours
    later (a late webhook, 3-D Secure finished the next day) is judged by what the fan had done
    when they tipped, and still finds itself in the window. So the answer does not depend on the
    order in which payments succeed: a batch of the drain that moves several of one fan's tips
    together judges each as one by one in any order would. The (fan, created_at) index."""
    recent = (Tip.objects.filter(Q(payment__status__in=PAID) | Q(pk=OuterRef("pk")),
                                 fan_id=OuterRef("fan_id"), currency=OuterRef("currency"),
                                 created_at__gte=OuterRef("created_at") - timedelta(hours=1),
                                 created_at__lte=OuterRef("created_at"))
              .order_by().values("fan_id"))  # one group: this fan
    return tips.annotate(
        recent_count=Subquery(recent.annotate(n=Count("pk")).values("n")[:1]),
        recent_total=Subquery(recent.annotate(total=Sum("amount")).values("total")[:1]),
    ).values("pk", "anonymous", "creator__user_id", "recent_count", "recent_total")


# Every tip's credit reads these (the webhook drain's hottest query): compiled once, planned by
# PostgreSQL once per connection (core.prepared: planning cost ~4x running it).
_CREDIT_FACTS = PreparedQuery(lambda a: _with_hour(Tip.objects.filter(pk=a["tip"])),
                              server="tip_credit_facts", tip=int)


def credit_facts(tip_id: int) -> dict[str, Any]:
    """What crediting tip ``tip_id`` needs (``_with_hour``)."""
    facts = _CREDIT_FACTS.first(tip=int(tip_id))
    if facts is None:
        raise Tip.DoesNotExist(f"No tip {tip_id}.")
    return facts


def credit_facts_many(tip_ids: list[int]) -> dict[int, dict[str, Any]]:
    """``credit_facts`` of many tips in one query, by tip id (Tip.DoesNotExist if one is missing)."""
    found = {row["pk"]: row for row in _with_hour(Tip.objects.filter(pk__in=tip_ids))}
    if len(found) != len(set(tip_ids)):
        raise Tip.DoesNotExist(f"No tips {sorted(set(tip_ids) - set(found))}.")
    return found


def limits() -> tuple[int, int]:
    """The hourly velocity: (tips, total in minor units); read once per batch."""
    count, amount = config.get_many(VELOCITY_COUNT, VELOCITY_AMOUNT)
    return count, amount


def over_velocity(facts: dict[str, Any], hourly: tuple[int, int]) -> bool:
    """Has the tip's fan passed the hourly velocity (``hourly``: ``limits()``) with this tip?
    (``facts`` from credit_facts.)"""
    count, amount = hourly
    return facts["recent_count"] > count or facts["recent_total"] > amount


def _held(tip_key) -> QuerySet[Hold]:
    return Hold.objects.filter(transaction__key=tip_key, released_at__isnull=True,
                               transaction__metadata__velocity_held=True,
                               release_at__gt=timezone.now() + timedelta(days=3650))


def held_tips(queryset: QuerySet) -> QuerySet:
    """The review queue: tips whose credit waits for staff."""
    key = Concat(Value("tip:"), OuterRef("pk"), Value(":captured"), output_field=CharField())
    return queryset.filter(Exists(_held(key)))


def velocity_release(*, tip, actor, reason: str) -> bool:
    """Staff release a held tip's credit to the normal hold. False if it was not held."""
    with transaction.atomic():
        hold = _held(f"tip:{tip.pk}:captured").select_for_update(no_key=True).select_related("transaction").first()
        if hold is None:
            return False
        # The normal hold in force when the tip was captured (kept on its transaction; older
        # transactions without it: the setting now).
        days = (hold.transaction.metadata or {}).get("hold_days", config.get(HOLD_DAYS))
        hold.release_at = hold.transaction.created_at + timedelta(days=days)
        hold.save(update_fields=["release_at"])
        audit_record(actor=actor, action="tip.velocity_released", obj=tip, reason=reason,
                     after={"release_at": hold.release_at.isoformat(), "amount": hold.amount})
    return True
