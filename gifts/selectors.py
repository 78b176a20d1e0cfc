from __future__ import annotations

from typing import Any

from django.db.models import Count, Sum
from django.templatetags.static import static

from gifts.models import GiftSend, LiveStream

FEED_PAGE = 50


def stream_feed(stream: LiveStream, *, after: int = 0) -> tuple[list[dict[str, Any]], int]:
    """The newest gifts of a stream (at most 50), newer than ``after``; and the next cursor."""
    sends = list(GiftSend.objects.select_related("fan", "gift").filter(live_stream=stream, pk__gt=after)
                 .order_by("-pk")[:FEED_PAGE])
    items = [{"id": s.pk, "fan": s.fan.username, "gift": s.gift.name, "icon": static(s.gift.icon),
              "quantity": s.quantity, "diamonds": s.diamonds_credited, "created_at": s.created_at}
             for s in sends]
    return items, max([after] + [s.pk for s in sends])


def stream_summary(stream: LiveStream) -> dict[str, Any]:
    sends = GiftSend.objects.filter(live_stream=stream)
    per_gift = [{"gift": row["gift__name"], "quantity": row["quantity"], "diamonds": row["diamonds"]}
                for row in sends.values("gift__name").annotate(quantity=Sum("quantity"),
                                                               diamonds=Sum("diamonds_credited"))
                .order_by("-diamonds")]
    top = [{"fan": row["fan__username"], "coins": row["coins"]}
           for row in sends.values("fan__username").annotate(coins=Sum("coins_spent"), n=Count("id"))
           .order_by("-coins")[:10]]
    return {"diamonds": sum(g["diamonds"] for g in per_gift), "per_gift": per_gift, "top_gifters": top}
