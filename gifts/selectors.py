from __future__ import annotations

import functools
import threading
import time
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
from creatornext.core.prepared import PreparedQuery, ServerStatement
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
        # PostgreSQL: the settings' version, so the send reads its settings from the cache only on
        # a change (and a remembered send's guard sees a change of settings).
        postgres_only = {}
        if connection.vendor == "postgresql":
            postgres_only = {
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


_NEXT_ID = "nextval(pg_get_serial_sequence('gifts_giftsend', 'id'))"

# The send path is the platform's hottest: its facts are one query, compiled once and planned by
# PostgreSQL once per connection (core.prepared; planning it cost more than running it).
_FACTS = {"video": _gift_send_facts("video"), "live_stream": _gift_send_facts("live_stream")}


def _arguments(fan: User, token: str | None, handle: str, gift: int, video: int | None,
               live_stream: int | None) -> tuple[str, dict[str, Any]]:
    target = "video" if video is not None else "live_stream"
    return target, {"fan": fan.pk, "token": token or "", "handle": handle_key(handle), "gift": gift,
                    "target": video if video is not None else live_stream or 0}


def gift_send_facts(*, fan: User, token: str | None, handle: str, gift: int, video: int | None,
                    live_stream: int | None) -> dict[str, Any] | None:
    """The creator with ``handle`` and everything a gift send to them checks, in one query. None:
    no such creator. Keys: the creator's ``id``, ``user_id``, ``handle``; ``gift_*`` (the active
    catalog gift; ``gift_coins`` None if there is none); ``target_found`` and ``video_kind`` or
    ``stream_ended_at`` (the creator's public video, or their stream); ``blocked``,
    ``wallet_locked``; ``token_confirmed`` (``token``, if given, is the fan's and they are active)
    and ``fan_date_of_birth``; ``enrolled`` (in video-gifts or live-gifts, by the target); on PostgreSQL
    also ``send_id`` (drawn for the send: ``next_send_id``), ``settings_version``
    (``config.VERSION_SQL``) and ``facts_digest`` (what ``remember_send_facts`` keeps them under)."""
    target, arguments = _arguments(fan, token, handle, gift, video, live_stream)
    if connection.vendor != "postgresql":
        facts = _FACTS[target].first(**arguments)
        return None if facts is None else _unpacked(facts, target)
    if "\x00" in arguments["handle"] + arguments["token"]:
        return None  # PostgreSQL text never holds NUL: nothing can match (psycopg2 would raise)
    compiled = _FACTS[target].compiled()
    with connection.cursor() as cursor:
        _guard_statements(target)[0].execute(cursor, compiled.params(arguments))
        row = cursor.fetchone()
    if row is None:
        return None
    facts = dict(zip(compiled.names, compiled.convert(row[:-1]), strict=True))
    return {**_unpacked(facts, target), "facts_digest": row[-1], "send_id": next_send_id()}


def _unpacked(facts: dict[str, Any], target: str) -> dict[str, Any]:
    """The facts row with the gift's and the target's JSON objects as keys of their own."""
    item, to = facts.pop("gift") or {}, facts.pop("target")
    return {**facts, "gift_coins": item.get("coins"), "gift_name": item.get("name"), "gift_icon": item.get("icon"),
            "target_found": to is not None, **({"video_kind": (to or {}).get("kind")} if target == "video"
                                               else {"stream_ended_at": (to or {}).get("ended_at")})}


# --- PostgreSQL: a send's facts remembered, and checked again inside its own write -------------
# A fan sending again to the same stream (a burst) needs the same facts. The process remembers
# them after a send that succeeded, with a digest PostgreSQL made of them (md5 of the row's text),
# and the next send plans with them and sends, in the same message as its posting and so in the
# same transaction, a guard that runs the facts query again and refuses (``ledger_refuse``) unless
# the digest is the same: one round trip instead of two, and the facts are checked in the very
# transaction that writes (decision 0021). A changed fact (a block, a wallet lock, the token gone,
# the stream ended, a setting) fails the guard, which undoes the posting; the send is then
# planned afresh and refused or written as it would have been.
_KNOWN: dict[tuple[Any, ...], tuple[dict[str, Any], str]] = {}
_KNOWN_MAX = 4_096
_LOCK = threading.Lock()


@functools.cache
def _guard_statements(target: str) -> tuple[ServerStatement, ServerStatement]:
    """The facts query with its digest (``gift_send_facts``), and the guard."""
    facts = _FACTS[target].compiled()
    qn = connection.ops.quote_name
    digest = f"md5(ROW({', '.join(f'q.{qn(name)}' for name in facts.names)})::text)"
    # Only the compiled query's own text and its column names go into the text.
    with_digest = f"SELECT q.*, {digest} FROM ({facts.sql}) q"  # noqa: S608  # nosec B608
    guard = (f"SELECT CASE WHEN (SELECT {digest} FROM ({facts.sql}) q) = %s "  # noqa: S608  # nosec B608
             "THEN true ELSE ledger_refuse('facts') END")
    return (ServerStatement(f"gift_send_facts_digest_{target}", with_digest, facts.types),
            ServerStatement(f"gift_send_guard_{target}", guard, [*facts.types, "text"]))


def _known_key(target: str, arguments: dict[str, Any]) -> tuple[Any, ...]:
    return (str(connection.settings_dict["NAME"]), target, *arguments.values())


def remember_send_facts(facts: dict[str, Any], **send: Any) -> None:
    """After a send written with ``facts`` (``gift_send_facts``'s, PostgreSQL): keep them for the
    next send of the same fan, token, creator, gift and target (``send``: those arguments)."""
    digest = facts.get("facts_digest")
    if digest is None:
        return
    kept = {k: v for k, v in facts.items() if k not in ("send_id", "facts_digest", "guard")}
    with _LOCK:
        if len(_KNOWN) >= _KNOWN_MAX:
            for old in list(_KNOWN)[: _KNOWN_MAX // 2]:
                _KNOWN.pop(old, None)
        _KNOWN[_known_key(*_arguments(**send))] = (kept, digest)


def known_send_facts(**send: Any) -> dict[str, Any] | None:
    """The remembered facts of such a send (``remember_send_facts``), with a new ``send_id`` and
    the ``guard`` to send before its posting (``PostingStatement.run``'s ``before``); or None."""
    target, arguments = _arguments(**send)
    known = _KNOWN.get(_known_key(target, arguments))
    if known is None:
        return None
    facts, digest = known
    guard = (_guard_statements(target)[1], [*_FACTS[target].compiled().params(arguments), digest])
    return {**facts, "send_id": next_send_id(), "guard": guard}


def forget_send_facts(**send: Any) -> None:
    with _LOCK:
        _KNOWN.pop(_known_key(*_arguments(**send)), None)


# A send's id, drawn before its row is written (so its posting and the response stored with its
# key can name it in the same statement), a few at a time and used within a second of being drawn:
# ids follow time within a process, and across processes closely enough for the live feed's cursor
# (``FEED_SETTLE``) and for lists ordered by id.
_IDS: list[int] = []
_IDS_DRAWN: list[Any] = [None, 0.0]  # (database, when)
ID_BLOCK, ID_BLOCK_SECONDS = 16, 1.0


def next_send_id() -> int:
    """PostgreSQL: an id for a new gift send."""
    database = str(connection.settings_dict["NAME"])
    with _LOCK:
        if not _IDS or _IDS_DRAWN[0] != database or time.monotonic() - _IDS_DRAWN[1] > ID_BLOCK_SECONDS:
            with connection.cursor() as cursor:
                cursor.execute(f"SELECT {_NEXT_ID} FROM generate_series(1, %s) ORDER BY 1", [ID_BLOCK])  # noqa: S608  # nosec B608
                _IDS[:] = [row[0] for row in cursor.fetchall()]
            _IDS_DRAWN[:] = [database, time.monotonic()]
        return _IDS.pop(0)


# A send's id is drawn a moment before the send commits, and concurrent sends commit out of id
# order (they queue for the creator's balance row): a cursor at the newest id seen could pass a
# smaller one that commits just after, which its follower would then never get. The cursor passes
# only gifts older than this, by when every gift with a smaller id has committed (or never will).
FEED_SETTLE = timedelta(seconds=5)


def stream_feed(stream: LiveStream, *, after: int | None = None) -> tuple[list[dict[str, Any]], int, bool]:
    """A page of a stream's gifts (at most 50, newest first), the next cursor, and whether more
    may follow at once.

    Without ``after``: the newest gifts (a page opening on a stream). With ``after`` (following):
    the *oldest* gifts newer than it, so a follower gets every gift, page by page, however fast
    they arrive — the newest 50 would skip whatever came between two polls in a burst. The cursor
    is the newest of them older than ``FEED_SETTLE`` (else ``after``): the younger ones come again
    on the next call (followers de-duplicate by id), so a late commit below them is not missed.
    ``more``: the page was full, so the follower may ask again at once (if its cursor moved)."""
    sends = GiftSend.objects.select_related("fan", "gift").filter(live_stream=stream)
    if after is None:
        page = list(sends.order_by("-pk")[:FEED_PAGE])
    else:
        page = list(sends.filter(pk__gt=after).order_by("pk")[:FEED_PAGE])[::-1]
    items = [{"id": s.pk, "fan": s.fan.username, "gift": s.gift.name, "icon": static(s.gift.icon),
              "quantity": s.quantity, "diamonds": s.diamonds_credited, "created_at": s.created_at}
             for s in page]
    settled = timezone.now() - FEED_SETTLE
    cursor = max([after or 0] + [s.pk for s in page if s.created_at <= settled])
    if after is None and page and cursor == 0:
        # A busy stream's newest page, none settled yet: follow from just below it (what came
        # before it is history the viewer did not ask for), not from the stream's first gift.
        cursor = page[-1].pk - 1
    return items, cursor, after is not None and len(page) == FEED_PAGE


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
