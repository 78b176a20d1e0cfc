"""Reads: marketplace search, profiles, shortlists.

Search (docs/decisions/0009-marketplace-search.md): one table, ``MarketplaceProfile``, with the
filters as columns (country, followers, average views, engagement) or as tokens of one generated
tsvector with a GIN index (text over handle and bio, category, language, audience shares), keyset
pagination over (ordering column, id), and an EXISTS probe into eligibility's enrolments so only
creators enrolled in ``marketplace`` *now* are shown.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.models import BooleanField, Exists, ExpressionWrapper, OuterRef, Q, QuerySet, TextField, Value
from django.db.models.expressions import RawSQL
from django.db.models.functions import Concat, Lower

from creatornext.accounts.models import Brand, User
from creatornext.core.prepared import ServerStatement
from eligibility.selectors import enrolled_in
from marketplace import taxonomy
from marketplace.cursor import Position
from marketplace.models import MarketplaceProfile, Shortlist

PROGRAM = "marketplace"
COLUMNS = {"-followers": "followers", "-engagement_rate": "engagement_rate_bps",
           "-avg_views": "avg_views", "relevance": "followers"}
MAX_TERMS = 6
_WORD = re.compile(r"[^\W_]+")


@dataclass(frozen=True)
class Share:
    key: str
    min_pct: int


@dataclass(frozen=True)
class SearchParams:
    q: str = ""
    country: str = ""
    category: str = ""
    language: str = ""
    min_followers: int | None = None
    max_followers: int | None = None
    min_avg_views: int | None = None
    max_avg_views: int | None = None
    min_engagement_rate_bps: int | None = None
    audience_country: Share | None = None
    audience_gender: Share | None = None
    audience_age: Share | None = None
    ordering: str = ""

    @property
    def terms(self) -> list[str]:
        return _WORD.findall(self.q.lower())[:MAX_TERMS]

    @property
    def effective_ordering(self) -> str:
        """API.md: ``relevance`` by default when there is a query, else ``-followers``."""
        return self.ordering or ("relevance" if self.terms else "-followers")


@dataclass
class SearchPage:
    """A page of creator cards, each already JSON text in the API's shape (``card_json``)."""

    results: list[str]
    next: Position | None
    previous: Position | None
    ordering: str = ""


def card_json(profile: MarketplaceProfile) -> dict[str, Any]:
    """The card as ``api.CreatorCardOutput`` renders it, without the serializer machinery. The
    stored values already have their API shape (rates ``{"amount", "currency"}`` in minor units,
    shares whole numbers); tests check both, and the database's kept card (migration 0005), give the same."""
    updated = profile.metrics_updated_at
    stamp = None
    if updated is not None:
        stamp = updated.isoformat()
        stamp = stamp[:-6] + "Z" if stamp.endswith("+00:00") else stamp
    return {
        "handle": profile.handle, "display_name": profile.display_name,
        "bio": profile.bio, "country": profile.country, "categories": profile.categories,
        "languages": profile.languages, "followers": profile.followers,
        "avg_views": profile.avg_views, "engagement_rate_bps": profile.engagement_rate_bps,
        "audience": {"countries": profile.audience_countries, "genders": profile.audience_genders,
                     "ages": profile.audience_ages},
        "rates": {k: {"amount": v["amount"], "currency": v["currency"]} for k, v in profile.rates.items()},
        "metrics_updated_at": stamp,
    }


def _postgres() -> bool:
    return connection.vendor == "postgresql"


_LISTED: list[QuerySet[MarketplaceProfile]] = []


def listed() -> QuerySet[MarketplaceProfile]:
    """Profiles that search shows: the creator is enrolled in ``marketplace`` now (not paused,
    revoked or opted out) and the account is not deleted.

    The queryset is built once per process and cloned (resolving the EXISTS subquery costs more
    than the query itself); it holds no data, only the SQL to be.
    """
    if not _LISTED:
        enrolled = enrolled_in(PROGRAM).filter(creator_id=OuterRef("creator_id"),
                                               creator__user__deleted_at__isnull=True)
        _LISTED.append(MarketplaceProfile.objects.filter(Exists(enrolled)))
    return _LISTED[0].all()


def listed_profile(handle: str) -> MarketplaceProfile | None:
    return (listed().select_related("creator").annotate(handle_ci=Lower("creator__handle"))
            .filter(handle_ci=handle.lower()).first())


def is_listed(profile: MarketplaceProfile) -> bool:
    return listed().filter(pk=profile.pk).exists()


def _share_tokens(prefix: str, share: Share) -> list[str]:
    step = share.min_pct // taxonomy.SHARE_STEP * taxonomy.SHARE_STEP
    return [f"={prefix}:{share.key}:{step}"] if step else []


def _quote(lexeme: str) -> str:
    return "'" + lexeme.replace("'", "''") + "'"


def _facet_tokens(params: SearchParams) -> list[str]:
    tokens = []
    if params.category:
        tokens.append(f"=c:{params.category}")
    if params.language:
        tokens.append(f"=l:{params.language}")
    for prefix, share in (("ac", params.audience_country), ("ag", params.audience_gender),
                          ("aa", params.audience_age)):
        if share is not None:
            tokens += _share_tokens(prefix, share)
    return tokens


def _tsquery(tokens: list[str], terms: list[str], *, first_in_handle: bool | None) -> str:
    """One tsquery: the facet tokens, then every term as a prefix of a bio word or a handle word
    ("@"-marked lexemes). ``first_in_handle`` True: the first term must also start a handle word;
    False: it must not; None: no condition (one tier)."""
    parts = [_quote(t) for t in tokens]
    anywhere = [f"({_quote(t)}:* | {_quote('@' + t)}:*)" for t in terms]
    if terms and first_in_handle is not None:
        in_handle = f"{_quote('@' + terms[0])}:*"
        # In the handle tier the first term's "anywhere" is implied; leaving it out spares GIN the
        # posting list of a common word.
        anywhere[0] = in_handle if first_in_handle else f"{anywhere[0]} & !{in_handle}"
    return " & ".join(parts + anywhere)


def _matches(tsquery: str) -> RawSQL:
    return RawSQL('"marketplace_marketplaceprofile"."search_document" @@ %s::tsquery', (tsquery,),
                  output_field=BooleanField())


def _filtered(params: SearchParams) -> QuerySet[MarketplaceProfile]:
    """Every filter but the text query (the column filters, and the exact share rechecks)."""
    qs = listed()
    if params.country:
        qs = qs.filter(country=params.country)
    for lookup, value in (("followers__gte", params.min_followers),
                          ("followers__lte", params.max_followers),
                          ("avg_views__gte", params.min_avg_views),
                          ("avg_views__lte", params.max_avg_views),
                          ("engagement_rate_bps__gte", params.min_engagement_rate_bps)):
        if value is not None:
            qs = qs.filter(**{lookup: value})
    for column, share in (("audience_countries", params.audience_country),
                          ("audience_genders", params.audience_gender),
                          ("audience_ages", params.audience_age)):
        # The tokens find rows at the step below the threshold; the JSON value decides exactly.
        if share is not None and share.min_pct % taxonomy.SHARE_STEP:
            qs = qs.filter(**{f"{column}__{share.key}__gte": share.min_pct})
    return qs


def _portable_segments(params: SearchParams, base: QuerySet[MarketplaceProfile],
                       relevance: bool) -> list[QuerySet[MarketplaceProfile]]:
    """SQLite (the embedded default): the same filters with LIKE; correct, not built for scale."""
    qs = base.annotate(padded_facets=Concat(Value(" "), "facets", Value(" "), output_field=TextField()))
    for token in _facet_tokens(params):
        qs = qs.filter(padded_facets__contains=f" {token} ")
    terms = params.terms
    for term in terms:
        qs = qs.filter(Q(handle__icontains=term) | Q(bio__icontains=term))
    if not relevance:
        return [qs]
    first = terms[0]
    in_handle = (Q(handle__istartswith=first) | Q(handle__icontains=f".{first}")
                 | Q(handle__icontains=f"_{first}"))
    return [qs.filter(in_handle), qs.exclude(in_handle)]


def search_segments(params: SearchParams) -> list[QuerySet[MarketplaceProfile]]:
    """The querysets a search walks in order: one, or for ``relevance`` two tiers (a word of the
    handle starts with the first search word; then every other match). Each is then ordered by
    (ordering column, id), both descending."""
    base = _filtered(params)
    relevance = params.effective_ordering == "relevance" and bool(params.terms)
    if not _postgres():
        return _portable_segments(params, base, relevance)
    tokens, terms = _facet_tokens(params), params.terms
    if not (tokens or terms):
        return [base]
    if not relevance:
        return [base.filter(_matches(_tsquery(tokens, terms, first_in_handle=None)))]
    return [base.filter(_matches(_tsquery(tokens, terms, first_in_handle=flag)))
            for flag in (True, False)]


def _after(qs: QuerySet, column: str, position: Position) -> QuerySet:
    # "col <= v" is an index condition; the OR only sorts out ties on v.
    if position.forward:
        return qs.filter(**{f"{column}__lte": position.value}).filter(
            Q(**{f"{column}__lt": position.value}) | Q(id__lt=position.id))
    return qs.filter(**{f"{column}__gte": position.value}).filter(
        Q(**{f"{column}__gt": position.value}) | Q(id__gt=position.id))


def search(params: SearchParams, *, position: Position | None, page_size: int) -> SearchPage:
    """One page of search results, keyset-paginated: no OFFSET, so page 50 costs what page 1 does."""
    if _postgres():
        return _pg_search(params, position=position, page_size=page_size)
    ordering = params.effective_ordering
    column = COLUMNS[ordering]
    segments = search_segments(params)
    forward = position is None or position.forward
    start = 0 if position is None else min(position.segment, len(segments) - 1)
    order = [f"-{column}", "-id"] if forward else [column, "id"]
    walk = range(start, len(segments)) if forward else range(start, -1, -1)
    rows: list[tuple[int, MarketplaceProfile]] = []
    for index in walk:
        qs = segments[index]
        if position is not None and index == position.segment:
            qs = _after(qs, column, position)
        need = page_size + 1 - len(rows)
        rows += [(index, p) for p in qs.order_by(*order)[:need]]
        if len(rows) > page_size:
            break
    return _page(ordering, [(i, getattr(p, column), p.pk, json.dumps(card_json(p))) for i, p in rows],
                 position, page_size)


def _page(ordering: str, rows: list[tuple[int, int, int, Any]], position: Position | None,
          page_size: int) -> SearchPage:
    """The page and its links from up to page_size + 1 rows (segment, value, id, item) in walking
    order (backwards for a ``previous`` link)."""
    forward = position is None or position.forward
    more = len(rows) > page_size
    rows = rows[:page_size]
    if not forward:
        rows.reverse()

    def at(row: tuple[int, int, int, Any], ahead: bool) -> Position:
        return Position(ordering, row[0], row[1], row[2], ahead)

    if forward:
        nxt = at(rows[-1], True) if more else None
        prev = at(rows[0], False) if (position is not None and rows) else None
    else:
        prev = at(rows[0], False) if more else None
        nxt = at(rows[-1], True) if rows else None
    return SearchPage([row[3] for row in rows], nxt, prev, ordering)


# --- PostgreSQL: the walk, then the page's cards (kept ready by the database) -------------------

_ENROLLED: list[tuple[str, tuple]] = []


def _enrolled_sql() -> tuple[str, tuple]:
    """A boolean SQL expression: the creator of profile ``p`` is enrolled in ``marketplace`` now
    and the account is not deleted. eligibility's ``enrolled_in`` defines "enrolled"; its SQL is
    compiled once per process.

    Written as a scalar subquery ("the enrolment's account is not deleted" IS TRUE; at most one
    enrolment per creator and program), not EXISTS: PostgreSQL plans an EXISTS in a select list
    twice (per row and hashed), which cost 0.3 ms of planning a search, as much as running it."""
    if not _ENROLLED:
        probe = (enrolled_in(PROGRAM).filter(creator_id=RawSQL('"p"."creator_id"', ()))
                 .annotate(alive=ExpressionWrapper(Q(creator__user__deleted_at__isnull=True),
                                                   output_field=BooleanField()))
                 .values("alive"))
        sql, sql_params = probe.query.sql_with_params()
        _ENROLLED.append((f"(({sql}) IS TRUE)", tuple(sql_params)))
    return _ENROLLED[0]


@dataclass(frozen=True)
class _Segment:
    where: str
    params: tuple


def _pg_segments(params: SearchParams) -> list[_Segment]:
    """The WHERE clause of each segment (one, or two relevance tiers) over profile ``p``."""
    where: list[str] = []
    args: list[Any] = []
    if params.country:
        where.append("p.country = %s")
        args.append(params.country)
    for sql, value in (("p.followers >= %s", params.min_followers),
                       ("p.followers <= %s", params.max_followers),
                       ("p.avg_views >= %s", params.min_avg_views),
                       ("p.avg_views <= %s", params.max_avg_views),
                       ("p.engagement_rate_bps >= %s", params.min_engagement_rate_bps)):
        if value is not None:
            where.append(sql)
            args.append(value)
    for column, share in (("audience_countries", params.audience_country),
                          ("audience_genders", params.audience_gender),
                          ("audience_ages", params.audience_age)):
        # The tokens find rows at the step below the threshold; the JSON value decides exactly.
        if share is not None and share.min_pct % taxonomy.SHARE_STEP:
            where.append(f"(p.{column} -> %s) >= %s::jsonb")
            args += [share.key, str(share.min_pct)]
    tokens, terms = _facet_tokens(params), params.terms
    relevance = params.effective_ordering == "relevance" and bool(terms)
    flags: tuple[bool | None, ...] = (True, False) if relevance else (None,)
    segments = []
    for flag in flags:
        clause, clause_args = list(where), list(args)
        if tokens or terms:
            clause.append("p.search_document @@ %s::tsquery")
            clause_args.append(_tsquery(tokens, terms, first_in_handle=flag))
        segments.append(_Segment(" AND ".join(clause) or "TRUE", tuple(clause_args)))
    return segments


def _pg_statement(segments: list[_Segment], column: str, start: int, after: tuple[int, int] | None,
                  forward: bool, batch: int) -> tuple[str, list[Any]]:
    """One statement for the next ``batch`` candidates (segment, id, value) from segment
    ``start`` on (after the (value, id) position in it), in page order: each segment a keyset walk
    of its own (UNION ALL runs the next one only if the earlier ones ran out). It reads the
    profile table alone: whether each candidate is listed, and its card, come after
    (``cards_statement``), for the few candidates of the page only, not for every row a filter
    or a sort looks at."""
    direction, cmp, strict = ("DESC", "<=", "<") if forward else ("ASC", ">=", ">")
    order = list(range(start, len(segments))) if forward else list(range(start, -1, -1))
    parts, args = [], []
    for index in order:
        segment = segments[index]
        clause, clause_args = segment.where, list(segment.params)
        if after is not None and index == start:
            # "col <= v" is an index condition; the OR only sorts out ties on v.
            clause += f" AND p.{column} {cmp} %s AND (p.{column} {strict} %s OR p.id {strict} %s)"
            clause_args += [after[0], after[0], after[1]]
        # Only names from COLUMNS and fixed SQL go into the text; every value is a parameter.
        parts.append(f"SELECT {index} AS segment, p.id, p.{column} AS value FROM "  # noqa: S608
                     f"marketplace_marketplaceprofile p WHERE {clause} "
                     f"ORDER BY p.{column} {direction}, p.id {direction} LIMIT %s")
        args += [*clause_args, batch]
    if len(parts) == 1:
        return parts[0], args
    page_order = f"segment {'ASC' if forward else 'DESC'}, value {direction}, id {direction}"
    union = " UNION ALL ".join(f"({part})" for part in parts)
    return f"SELECT * FROM ({union}) u ORDER BY {page_order} LIMIT %s", [*args, batch]  # noqa: S608


_CARDS: list[ServerStatement] = []


def cards_statement() -> ServerStatement:
    """Whether each of some profiles is listed, and its card: (id, listed, card JSON text). The
    card is the one ``marketplace_profilecard`` keeps ready: a trigger rewrites it whenever the
    profile is written (migration 0005, the card exactly as ``api.CreatorCardOutput`` renders it).

    A prepared statement (planned once per connection): its plan is the same whatever the ids
    (primary-key lookups, one enrolment probe each), and planning the probe cost as much as
    running it on a page of rows (docs/decisions/0009)."""
    if not _CARDS:
        enrolled, _ = _enrolled_sql()
        _CARDS.append(ServerStatement(
            "marketplace_cards",
            f"SELECT p.id, {enrolled} AS listed, c.card "  # noqa: S608 (fixed SQL, no values)
            "FROM marketplace_marketplaceprofile p "
            "JOIN marketplace_profilecard c ON c.profile_id = p.id WHERE p.id = ANY(%s)"))
    return _CARDS[0]


def _pg_search(params: SearchParams, *, position: Position | None, page_size: int) -> SearchPage:
    ordering = params.effective_ordering
    column = COLUMNS[ordering]
    segments = _pg_segments(params)
    forward = position is None or position.forward
    start = 0 if position is None else min(position.segment, len(segments) - 1)
    after = None if position is None else (position.value, position.id)
    rows: list[tuple[int, int, int, str]] = []
    # A few more candidates than the page needs: some may not be listed (paused, opted out).
    batch = page_size + 1 + max(4, page_size // 4)
    cards = cards_statement()
    with connection.cursor() as cur:
        while True:
            sql, args = _pg_statement(segments, column, start, after, forward, batch)
            cur.execute(sql, args)
            candidates = cur.fetchall()
            if candidates:
                cards.execute(cur, [*_enrolled_sql()[1], [row_id for _, row_id, _ in candidates]])
                drawn = {row_id: card for row_id, listed, card in cur.fetchall() if listed}
                rows += [(seg, value, row_id, drawn[row_id]) for seg, row_id, value in candidates
                         if row_id in drawn]
            if len(rows) > page_size or len(candidates) < batch:
                break
            # Too many unlisted candidates: go on after the last one, with a larger batch.
            start, value, last_id = candidates[-1][0], candidates[-1][2], candidates[-1][1]
            after, batch = (value, last_id), batch * 4
    return _page(ordering, rows[:page_size + 1], position, page_size)


# --- shortlists --------------------------------------------------------------------------------
def is_brand_member(user: User) -> bool:
    if not user.is_authenticated:
        return False
    # Plain SQL: every search asks this, and building the ORM query cost more than running it.
    with connection.cursor() as cur:
        cur.execute("SELECT 1 FROM accounts_brandmembership WHERE user_id = %s LIMIT 1", [user.pk])
        return cur.fetchone() is not None


def brand_of_member(user: User, brand_id: int) -> Brand | None:
    return Brand.objects.filter(pk=brand_id, memberships__user=user).first()


def shortlists_of(user: User, *, brand_id: int | None = None) -> QuerySet[Shortlist]:
    """Shortlists of the brands the user is a member of (never another brand's)."""
    qs = Shortlist.objects.filter(brand__memberships__user=user).select_related("brand")
    if brand_id is not None:
        qs = qs.filter(brand_id=brand_id)
    return qs


def shortlist_for(user: User, shortlist_id: int) -> Shortlist | None:
    """The shortlist if the user is a member of its brand; None otherwise (the API answers 404)."""
    return shortlists_of(user).filter(pk=shortlist_id).first()


def shortlist_entries(shortlist: Shortlist) -> list[dict]:
    """The shortlist's creators, newest first, each with its marketplace card and whether the
    creator is still in search (a creator who left it stays on the list, marked)."""
    entries = list(shortlist.entries.select_related("creator").order_by("-added_at", "-id"))
    creator_ids = [e.creator_id for e in entries]
    profiles = {p.creator_id: p for p in MarketplaceProfile.objects.filter(creator_id__in=creator_ids)}
    visible = set(listed().filter(creator_id__in=creator_ids).values_list("creator_id", flat=True))
    return [{"entry": e, "creator": e.creator, "profile": profiles.get(e.creator_id),
             "listed": e.creator_id in visible} for e in entries]
