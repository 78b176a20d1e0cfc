"""Reads: marketplace search, profiles, shortlists.

Search (docs/decisions/0009-marketplace-search.md): one table, ``MarketplaceProfile``, with the
filters as columns (country, followers, average views, engagement, and the facet codes for
category, language and audience shares) and text over handle and bio in a generated tsvector,
keyset pagination over (ordering column, id), and only creators enrolled in ``marketplace`` *now*
shown (``listed``: eligibility's enrolments; on PostgreSQL the same answer is kept on each
profile's card by triggers, migration 0007, and with the columns a search without text walks in
``WALK_TABLE``, migration 0009).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.models import Exists, OuterRef, Q, QuerySet, TextField, Value
from django.db.models.functions import Concat, Lower

from creatornext.accounts.models import Brand, User
from creatornext.core.prepared import RecurringStatements, ServerStatement
from eligibility.selectors import enrolled_in
from marketplace import search_index, taxonomy
from marketplace.cursor import SEGMENTS, Position
from marketplace.models import MarketplaceProfile, Shortlist

PROGRAM = "marketplace"
COLUMNS = {"-followers": "followers", "-engagement_rate": "engagement_rate_bps",
           "-avg_views": "avg_views", "relevance": "followers"}
MAX_TERMS = 6
# Relevance (decision 0009): creators whose handle starts with the first search word, then those
# with a later handle word starting with it ("ana.cooks" for "cook"), then every other match (a
# bio word); followers decide within each tier.
TIERS = tuple(range(1, SEGMENTS + 1))
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
    def filtered(self) -> bool:
        """Any filter besides the text."""
        return bool(self.country or self.category or self.language) or any(
            v is not None for v in (self.min_followers, self.max_followers, self.min_avg_views,
                                    self.max_avg_views, self.min_engagement_rate_bps, self.audience_country,
                                    self.audience_gender, self.audience_age))

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


def _anywhere(term: str) -> str:
    """The term as a prefix of a bio word, of the handle's first word ("@") or of a later handle
    word ("#"): ``search_document`` (migration 0006)."""
    return f"({_quote(term)}:* | {_quote('@' + term)}:* | {_quote('#' + term)}:*)"


def _tsquery(terms: list[str], *, tier: int | None) -> str:
    """The text condition of a segment: every term anywhere; for a relevance ``tier`` (``TIERS``)
    the first term as that tier says. Tier 1 ("the handle starts with the first term") is
    written with LIKE (``_pg_segments``), so here it only carries the other terms."""
    rest = [_anywhere(t) for t in terms[1:]]
    if tier is None:
        return " & ".join([_anywhere(terms[0]), *rest])
    first, in_first, in_later = (_quote(terms[0]), _quote("@" + terms[0]), _quote("#" + terms[0]))
    head = {1: [], 2: [f"{in_later}:* & !{in_first}:*"],
            3: [f"{first}:* & !{in_first}:* & !{in_later}:*"]}[tier]
    return " & ".join(head + rest)


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


def _portable_segments(params: SearchParams) -> list[QuerySet[MarketplaceProfile]]:
    """The querysets a search walks in order (SQLite, the embedded default: the same filters and
    tiers with LIKE; correct, not built for scale): one, or for ``relevance`` the three ``TIERS``.
    Each is then ordered by (ordering column, id), both descending."""
    qs = _filtered(params).annotate(
        padded_facets=Concat(Value(" "), "facets", Value(" "), output_field=TextField()))
    for token in _facet_tokens(params):
        qs = qs.filter(padded_facets__contains=f" {token} ")
    terms = params.terms
    for term in terms:
        qs = qs.filter(Q(handle__icontains=term) | Q(bio__icontains=term))
    if not (params.effective_ordering == "relevance" and terms):
        return [qs]
    first = terms[0]
    starts = Q(handle__istartswith=first)
    later = Q(handle__icontains=f".{first}") | Q(handle__icontains=f"_{first}")
    return [qs.filter(starts), qs.filter(later).exclude(starts), qs.exclude(starts).exclude(later)]


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
        if params.terms and (snap := search_index.snapshot()) is not None and uses_index(params, snap):
            return _index_search(snap, params, position=position, page_size=page_size)
        return _pg_search(params, position=position, page_size=page_size)
    ordering = params.effective_ordering
    column = COLUMNS[ordering]
    segments = _portable_segments(params)
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


# --- PostgreSQL: the walk and the page's cards in one statement ---------------------------------

@dataclass(frozen=True)
class _Segment:
    """A segment's conditions, each SQL with ``{t}`` for the table alias. ``walk``: those the
    ordering's index can decide, or that pick an index of their own (columns, facet codes, the
    handle prefix); ``row``: those that need the table row (text, exact audience shares).
    ``index_filters``: a walk of the followers index (which carries country, average views,
    engagement and the facet codes: migration 0006) can drop rows without reading them — a
    filter, not a bound of the walk itself."""

    walk: tuple[tuple[str, Any], ...]
    row: tuple[tuple[str, Any], ...] = ()
    index_filters: bool = False


# A search asked again (by any member, on this connection) skips PostgreSQL's parse and planning:
# 0.1–0.5 ms of a search's 0.2–1.2 ms there (decision 0009). Pages after a cursor run plainly.
STATEMENTS = RecurringStatements("mkt_search")
_CODES: dict[tuple[str, str], int] = {}


def facet_codes(tokens: list[str]) -> list[int]:
    """The tokens' codes as ``facet_codes`` holds them (``mkt_facet_codes``, migration 0006),
    asked of the database once per token and process (the tokens are a finite set, ~7,500).
    Written as ``mkt_facet_codes(%s)`` in the walk, the function was run again each time the
    statement was planned: ~0.05–0.09 ms of PostgreSQL a filtered search (pgbench, 1M profiles)."""
    database = str(connection.settings_dict["NAME"])
    missing = [t for t in tokens if (database, t) not in _CODES]
    if missing:
        with connection.cursor() as cur:
            cur.execute("SELECT t, (mkt_facet_codes(t))[1] FROM unnest(%s::text[]) AS t", [missing])
            _CODES.update(((database, token), code) for token, code in cur.fetchall())
    return [_CODES[(database, t)] for t in tokens]


# The columns a search without text walks in followers order, with whether the profile is listed,
# in a narrow table of their own (migration 0009: the visibility-map look-ups of an index-only walk
# cost per heap page of the table walked).
WALK_TABLE = "marketplace_profilewalk"
HEAD = 3  # mkt_profile_handle_head: the handle's first letters, then followers (migration 0008)


def _handle_starts_with(term: str) -> list[tuple[str, Any]]:
    """Relevance tier 1's condition: the handle starts with ``term`` (letters and digits only, so
    no LIKE wildcards). A word of three or four letters — thousands of handles share such a
    prefix — walks ``mkt_profile_handle_head`` in followers order and stops at the page; any
    other is a range of ``mkt_profile_handle_prefix`` (index-only), then a sort of its matches."""
    if len(term) not in (HEAD, HEAD + 1):
        return [("lower({t}.handle) LIKE %s", term + "%")]
    head = [(f"left(lower({{t}}.handle), {HEAD}) = %s", term[:HEAD])]
    # The fourth letter as an equality too, not LIKE: next to the head's equality the planner
    # would take a LIKE for independent of it and combine two indexes' bitmaps.
    return head if len(term) == HEAD else [*head, (f"left(lower({{t}}.handle), {HEAD + 1}) = %s", term)]


def _pg_segments(params: SearchParams) -> list[_Segment]:
    """The conditions of each segment (one, or the three relevance ``TIERS``)."""
    walk: list[tuple[str, Any]] = []
    if params.country:
        walk.append(("{t}.country = %s", params.country))
    for sql, value in (("{t}.followers >= %s", params.min_followers),
                       ("{t}.followers <= %s", params.max_followers),
                       ("{t}.avg_views >= %s", params.min_avg_views),
                       ("{t}.avg_views <= %s", params.max_avg_views),
                       ("{t}.engagement_rate_bps >= %s", params.min_engagement_rate_bps)):
        if value is not None:
            walk.append((sql, value))
    tokens = _facet_tokens(params)
    if tokens:
        walk.append(("{t}.facet_codes @> %s::integer[]", facet_codes(tokens)))
    index_filters = bool(params.country or tokens) or any(
        v is not None for v in (params.min_avg_views, params.max_avg_views, params.min_engagement_rate_bps))
    row: list[tuple[str, Any]] = []
    for column, share in (("audience_countries", params.audience_country),
                          ("audience_genders", params.audience_gender),
                          ("audience_ages", params.audience_age)):
        # The tokens find rows at the step below the threshold; the JSON value decides exactly.
        if share is not None and share.min_pct % taxonomy.SHARE_STEP:
            row.append((f"({{t}}.{column} -> %s) >= %s::jsonb", (share.key, str(share.min_pct))))
    terms = params.terms
    if not terms:
        return [_Segment(tuple(walk), tuple(row), index_filters)]
    text = "{t}.search_document @@ %s::tsquery"
    if params.effective_ordering != "relevance":
        return [_Segment(tuple(walk), (*row, (text, _tsquery(terms, tier=None))), index_filters)]
    segments = []
    for tier in TIERS:
        tier_walk, tier_row = list(walk), list(row)
        if tier == 1:
            tier_walk += _handle_starts_with(terms[0])
        if tier != 1 or len(terms) > 1:
            tier_row.append((text, _tsquery(terms, tier=tier)))
        segments.append(_Segment(tuple(tier_walk), tuple(tier_row), index_filters))
    return segments


def _conditions(conditions: tuple[tuple[str, Any], ...] | list[tuple[str, Any]], alias: str,
                ) -> tuple[list[str], list[Any]]:
    sql, args = [], []
    for text, value in conditions:
        sql.append(text.format(t=alias))
        args += list(value) if isinstance(value, tuple) else [value]
    return sql, args


def _where(segment: _Segment, column: str, *, probe_rows: bool = False) -> tuple[str, list[Any]]:
    """The segment's WHERE clause over ``p`` (the profile table, or ``WALK_TABLE``, whose ``id``
    is the profile's). When the walk of the followers index can drop rows by itself (a facet or a
    column filter) and other conditions need the table row, those go into a probe of the profile
    row by primary key (``EXISTS``, alias ``x``): PostgreSQL walks
    the index without reading rows and reads only the rows that passed, where a single-table
    condition list would read a row for every index entry (PostgreSQL 15 filters an index scan's
    rows after reading them). ``audience_country=NG&audience_country_min_pct=65``: 2,150 rows
    read → 33; a rare combination of tokens and a followers bound 16 → 0.8 ms (decision 0009).
    ``probe_rows``: every row condition goes into the probe (``p`` is then ``WALK_TABLE``,
    which has none of their columns)."""
    walk, args = _conditions(segment.walk, "p")
    if segment.row and (probe_rows or (column == "followers" and segment.index_filters)):
        row, row_args = _conditions(segment.row, "x")
        walk.append("EXISTS (SELECT 1 FROM marketplace_marketplaceprofile x "  # noqa: S608
                    f"WHERE x.id = p.id AND {' AND '.join(row)})")
        return " AND ".join(walk), [*args, *row_args]
    row, row_args = _conditions(segment.row, "p")
    return " AND ".join([*walk, *row]) or "TRUE", [*args, *row_args]


def _pg_statement(segments: list[_Segment], indexes: list[int], column: str,
                  after: tuple[int, int] | None, forward: bool, batch: int,
                  *, listed_in_walk: bool = False) -> tuple[str, list[Any]]:
    """One statement for the next ``batch`` candidates of the segments ``indexes`` (in walking
    order; ``after`` is the (value, id) position in the first), in page order, each with whether
    search shows it and, if so, its card: rows (segment, id, value, listed, card).

    Each segment is a keyset walk of its own over one table (the profile's, or ``WALK_TABLE``
    for ``listed_in_walk`` in followers order); the page's few
    candidates then join ``marketplace_profilecard`` by primary key, which keeps each profile's
    card ready and whether it is listed (migrations 0005 and 0007, triggers on every table that
    decides it) — not an enrolment probe per candidate. A candidate without a card row (none
    should exist) comes back unlisted rather than not at all: the walk counts its candidates.

    ``listed_in_walk`` (one segment without text): the walk keeps listed profiles only, so it
    stops at ``batch`` listed ones instead of walking on for a margin of candidates that might not
    be (21 index matches instead of 26 for a page of 20: a filtered walk ~20 % shorter). In
    followers order it walks ``WALK_TABLE``'s index of listed profiles; in the other orders it
    joins the cards as it goes. Not for text: PostgreSQL may answer a text segment from the text
    index and a sort, and would then join a card to every match before sorting (`q=kintsugi`, 455)."""
    if listed_in_walk and len(indexes) != 1:
        raise ValueError("Listed profiles alone are walked for a single segment only")
    narrow = listed_in_walk and column == "followers"
    direction, cmp, strict = ("DESC", "<=", "<") if forward else ("ASC", ">=", ">")
    parts, args = [], []
    for index in indexes:
        clause, clause_args = _where(segments[index], column, probe_rows=narrow)
        if after is not None and index == indexes[0]:
            # "col <= v" is an index condition; the OR only sorts out ties on v.
            clause += f" AND p.{column} {cmp} %s AND (p.{column} {strict} %s OR p.id {strict} %s)"
            clause_args += [after[0], after[0], after[1]]
        order = f"ORDER BY p.{column} {direction}, p.id {direction} LIMIT %s"
        # Only names from COLUMNS and fixed SQL go into the text; every value is a parameter.
        if listed_in_walk and not narrow:
            return (f"SELECT {index} AS segment, p.id, p.{column} AS value, c.listed, c.card "  # noqa: S608
                    "FROM marketplace_marketplaceprofile p JOIN marketplace_profilecard c "
                    f"ON c.profile_id = p.id AND c.listed WHERE {clause} {order}"), [*clause_args, batch]
        table, listed = (WALK_TABLE, "p.listed AND ") if narrow else ("marketplace_marketplaceprofile", "")
        parts.append(f"SELECT {index} AS segment, p.id, p.{column} AS value FROM {table} p "  # noqa: S608
                     f"WHERE {listed}{clause} {order}")
        args += [*clause_args, batch]
    page_order = f"segment {'ASC' if forward else 'DESC'}, value {direction}, id {direction}"
    if len(parts) == 1:
        walk = parts[0]
    else:
        union = " UNION ALL ".join(f"({part})" for part in parts)
        walk = f"SELECT * FROM ({union}) u ORDER BY {page_order} LIMIT %s"  # noqa: S608
        args.append(batch)
    return (f"SELECT w.segment, w.id, w.value, c.listed, CASE WHEN c.listed THEN c.card END "  # noqa: S608
            f"FROM ({walk}) w LEFT JOIN marketplace_profilecard c ON c.profile_id = w.id "
            f"ORDER BY w.{page_order.replace(', ', ', w.')}"), args


def _statement_groups(count: int, start: int, forward: bool, *, handle_tier_alone: bool) -> list[list[int]]:
    """Which segments each statement walks, from segment ``start`` on in walking order.

    ``handle_tier_alone``: for a first word of up to four letters the handle tier walks an index
    in followers order and often fills the page by itself, and in a ``UNION ALL`` PostgreSQL
    would start the other tiers' walks as well (each must yield its first row before the merged
    order is known); it goes alone and the later tiers follow in a second statement only when
    needed. A longer word's handle tier is a short prefix range (few handles start with
    "kintsugi"), so the three tiers go in one statement: one round trip instead of two (a search
    for a bio word paid the second one every time; ~0.1 ms on one connection, more under load)."""
    groups = [list(range(count))]
    if count == len(TIERS) and handle_tier_alone:
        groups = [[0], [1, 2]]
    if not forward:
        groups = [list(reversed(g)) for g in reversed(groups)]
    at = next(i for i, g in enumerate(groups) if start in g)
    first = groups[at][groups[at].index(start):]
    return [first, *groups[at + 1:]]


def _pg_search(params: SearchParams, *, position: Position | None, page_size: int) -> SearchPage:
    ordering = params.effective_ordering
    column = COLUMNS[ordering]
    segments = _pg_segments(params)
    forward = position is None or position.forward
    start = 0 if position is None else min(position.segment, len(segments) - 1)
    after = None if position is None else (position.value, position.id)
    rows: list[tuple[int, int, int, str]] = []
    # Without text the walk keeps listed profiles only (``_pg_statement``); otherwise a few more
    # candidates than the page needs: some may not be listed (paused, opted out).
    terms = params.terms
    listed_in_walk = not terms
    margin = 0 if listed_in_walk else max(4, page_size // 4)
    batch = page_size + 1 + margin
    groups = _statement_groups(len(segments), start, forward,
                               handle_tier_alone=bool(terms) and len(terms[0]) <= HEAD + 1)
    with connection.cursor() as cur:
        while groups:
            sql, args = _pg_statement(segments, groups[0], column, after, forward, batch,
                                      listed_in_walk=listed_in_walk)
            STATEMENTS.execute(cur, sql, args, recurring=after is None)
            candidates = cur.fetchall()
            rows += [(seg, value, row_id, card) for seg, row_id, value, listed, card in candidates
                     if listed]
            if len(rows) > page_size:
                break
            if len(candidates) < batch:
                # These segments are done: the next statement starts the next ones afresh.
                groups.pop(0)
                after, batch = None, page_size + 1 - len(rows) + margin
                continue
            # Too many unlisted candidates: go on after the last one, with a larger batch.
            segment, last_id, value = candidates[-1][:3]
            group = groups[0]
            groups[0] = group[group.index(segment):]
            after, batch = (value, last_id), batch * 4
    return _page(ordering, rows[:page_size + 1], position, page_size)


# --- the search index (decision 0022) -----------------------------------------------------------

# A search with text and no filter goes to the index when its words are expected in fewer than
# this share of the profiles: PostgreSQL sorts every match of a rare word (443 bios for
# "kintsugi": 0.53–0.67 ms against the index's 0.40, in-process at 1M), but walks its followers
# order to the first page of a common one ("daily", in 61 % of bios: 0.30–0.38 ms, the index
# 0.36). Decision 0022.
INDEX_TEXT_SHARE = 0.01


def uses_index(params: SearchParams, snap: search_index.Snapshot) -> bool:
    """Whether the search index answers (it is on and built): text with any filter — PostgreSQL
    walks or sorts thousands of rows to find a common word among common filters (decision 0009,
    ``q=travel&category=food&…``: 10–16 ms against ~1 ms) — or rare text alone."""
    if not params.terms:
        return False
    return params.filtered or search_index.segment_query(params, None, snap)[1] < INDEX_TEXT_SHARE


# The page's cards by primary key, with whether search shows each profile now (a card is never
# deleted: profiles are not; migration 0005). Prepared once per connection: parsing and planning
# it cost more than running it.
_CARDS = ServerStatement("mkt_index_cards", "SELECT c.profile_id, c.listed, c.card FROM marketplace_profilecard c "
                         "WHERE c.profile_id = ANY(%s)", ["bigint[]"])


def _index_search(snap: search_index.Snapshot, params: SearchParams, *, position: Position | None,
                  page_size: int) -> SearchPage:
    """``_pg_search``'s page, its candidates found by the search index (``search_index.walk``,
    segment after segment) and their cards then read from PostgreSQL in one statement; a
    candidate no longer listed is passed over, and the walk goes on for more if the page is short."""
    ordering = params.effective_ordering
    column = COLUMNS[ordering]
    tiers: list[int | None] = list(TIERS) if ordering == "relevance" and params.terms else [None]
    forward = position is None or position.forward
    start = 0 if position is None else min(position.segment, len(tiers) - 1)
    todo = list(range(start, len(tiers))) if forward else list(range(start, -1, -1))
    after = position if position is not None and position.segment == start else None
    queries = {segment: search_index.segment_query(params, tiers[segment], snap) for segment in todo}
    rows: list[tuple[int, int, int, str]] = []
    # The index holds listed profiles only, so no margin: a candidate unlisted since the writer's
    # last pass (seconds) is rare, and costs a second, larger batch.
    batch = page_size + 1
    with connection.cursor() as cur:
        while todo and len(rows) <= page_size:
            found: list[tuple[int, int, int]] = []  # (segment, value, id) in walking order
            while todo and len(found) < batch:
                segment, want = todo[0], batch - len(found)
                hits = search_index.walk(snap, queries[segment], column, after, forward, want)
                found += [(segment, value, row_id) for value, row_id in hits]
                if len(hits) < want:
                    todo.pop(0)  # this segment is done: the next starts from its top
                    after = None
                else:
                    after = Position(ordering, segment, *hits[-1], forward)
            if not found:
                break
            _CARDS.execute(cur, [[row_id for _, _, row_id in found]])
            cards = {pid: card for pid, listed, card in cur.fetchall() if listed}
            rows += [(segment, value, row_id, cards[row_id]) for segment, value, row_id in found
                     if row_id in cards]
            batch *= 4  # too many candidates were no longer listed: ask for more at once
    return _page(ordering, rows[:page_size + 1], position, page_size)


# --- shortlists --------------------------------------------------------------------------------
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
