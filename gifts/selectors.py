from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db import connection
from django.db.models import Count, Exists, OuterRef, QuerySet, Subquery, Sum
from django.db.models.expressions import RawSQL
from django.db.models.functions import JSONObject
from django.templatetags.static import static
from django.utils import timezone

from creatornext.accounts.authentication import token_confirmed
from creatornext.accounts.models import Block, User
from creatornext.accounts.selectors import creators_with_handle_key, handle_key
from creatornext.core import config
from creatornext.core.prepared import PreparedQuery
from eligibility.selectors import enrolled_in
from gifts.models import Gift, GiftSend, LiveStream, Video, WalletLock

FEED_PAGE = 50


def _gift_send_facts(target: str):
    """The builder of a gift send's facts query, for sends to a video or to a live stream."""
    def build(a: dict[str, Any]) -> QuerySet:
        # Each row read once, in one subquery (a JSON object of its columns), with no ORDER BY:
        # PostgreSQL's work on this query is a large share of a send's under load (decision 0021).
        item = Gift.objects.filter(pk=a["gift"], active=True).order_by()
        to: QuerySet[Video] | QuerySet[LiveStream]
        if target == "video":
            to = Video.objects.filter(pk=a["target"], creator=OuterRef("pk"), public=True).order_by()
            found = JSONObject(kind="kind")
        else:
            to = LiveStream.objects.filter(pk=a["target"], creator=OuterRef("pk")).order_by()
            found = JSONObject(ended_at="ended_at")
        # PostgreSQL: the send's id, drawn here so its row and its posting can be one statement,
        # and the settings' version, so the send reads its settings from the cache only on a change.
        postgres_only = {}
        if connection.vendor == "postgresql":
            postgres_only = {
                "send_id": RawSQL("nextval(pg_get_serial_sequence('gifts_giftsend', 'id'))", []),
                "settings_version": RawSQL(config.VERSION_SQL, []),  # noqa: S611  # nosec B611 (a constant)
            }
        return creators_with_handle_key(a["handle"]).annotate(
            gift=Subquery(item.annotate(j=JSONObject(coins="coins", name="name", icon="icon")).values("j")[:1]),
            target=Subquery(to.annotate(j=found).values("j")[:1]),
            blocked=Exists(Block.objects.filter(creator=OuterRef("pk"), fan_id=a["fan"])),
            wallet_locked=Exists(WalletLock.objects.filter(fan_id=a["fan"])),
            # The fan as of this send: the token that authenticated it still theirs and they still
            # active (``TokenAuthentication(remember=True)``), and their date of birth.
            token_confirmed=token_confirmed(a["token"], a["fan"]),
            fan_date_of_birth=Subquery(User.objects.filter(pk=a["fan"]).values("date_of_birth")[:1]),
            enrolled=Exists(enrolled_in(Video.PROGRAM if target == "video" else LiveStream.PROGRAM)
                            .filter(creator_id=OuterRef("pk"))), **postgres_only,
        ).values("id", "user_id", "handle", "gift", "target", "blocked", "wallet_locked", "token_confirmed",
                 "fan_date_of_birth", "enrolled", *postgres_only)
    return PreparedQuery(build, server=f"gift_send_facts_{target}", fan=int, token=str, handle=str,
                         gift=int, target=int)


# The send path is the platform's hottest: its facts are one query, compiled once and planned by
# PostgreSQL once per connection (core.prepared; planning it cost more than running it).
_FACTS = {"video": _gift_send_facts("video"), "live_stream": _gift_send_facts("live_stream")}


def gift_send_facts(*, fan: User, token: str | None, handle: str, gift: int, video: int | None,
                    live_stream: int | None) -> dict[str, Any] | None:
    """The creator with ``handle`` and everything a gift send to them checks, in one query. None:
    no such creator. Keys: the creator's ``id``, ``user_id``, ``handle``; ``gift_*`` (the active
    catalog gift; ``gift_coins`` None if there is none); ``target_found`` and ``video_kind`` or
    ``stream_ended_at`` (the creator's public video, or their stream); ``blocked``,
    ``wallet_locked``; ``token_confirmed`` (``token``, if given, is the fan's and they are active)
    and ``fan_date_of_birth``; ``enrolled`` (in video-gifts or live-gifts, by the target); on PostgreSQL
    also ``send_id`` (drawn for the send) and ``settings_version`` (``config.VERSION_SQL``)."""
    target = "video" if video is not None else "live_stream"
    facts = _FACTS[target].first(fan=fan.pk, token=token or "", handle=handle_key(handle), gift=gift,
                                 target=video if video is not None else live_stream or 0)
    if facts is None:
        return None
    item, to = facts.pop("gift") or {}, facts.pop("target")
    return {**facts, "gift_coins": item.get("coins"), "gift_name": item.get("name"), "gift_icon": item.get("icon"),
            "target_found": to is not None, **({"video_kind": (to or {}).get("kind")} if target == "video"
                                               else {"stream_ended_at": (to or {}).get("ended_at")})}


# A send's id is drawn a moment before the send commits, and concurrent sends commit out of id
# order (they queue for the creator's balance row): a cursor at the newest id seen could pass a
# smaller one that commits just after, which its follower would then never get. The cursor passes
# only gifts older than this, by when every gift with a smaller id has committed (or never will).
FEED_SETTLE = timedelta(seconds=5)


def stream_feed(stream: LiveStream, *, after: int = 0) -> tuple[list[dict[str, Any]], int]:
    """The newest gifts of a stream (at most 50), newer than ``after``; and the next cursor: the
    newest of them older than ``FEED_SETTLE`` (else ``after``), so the younger ones come again
    on the next call (followers de-duplicate by id) and a late commit below them is not missed."""
    sends = list(GiftSend.objects.select_related("fan", "gift").filter(live_stream=stream, pk__gt=after)
                 .order_by("-pk")[:FEED_PAGE])
    items = [{"id": s.pk, "fan": s.fan.username, "gift": s.gift.name, "icon": static(s.gift.icon),
              "quantity": s.quantity, "diamonds": s.diamonds_credited, "created_at": s.created_at}
             for s in sends]
    settled = timezone.now() - FEED_SETTLE
    return items, max([after] + [s.pk for s in sends if s.created_at <= settled])


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
