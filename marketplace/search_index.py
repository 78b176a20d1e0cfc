"""Marketplace search through an embedded search index (tantivy; decision 0022).

PostgreSQL answers most searches in well under a millisecond (decision 0009), but not a common word
together with common filters (``q=travel&category=food&audience_country=BR&…=40``): its indexes
hold each word's and filter's profiles in row order, so every plan either walks the followers
order past ~25,000 non-matches or gathers every match to sort it. A search engine's lists can be
intersected and collected by a fast field instead. This module keeps such an index of the listed
profiles, in a directory (``settings.MARKETPLACE_SEARCH_INDEX``), and answers the searches it is
asked (``selectors.search`` decides which) with the same pages and cursors as the PostgreSQL path.

- **What the index holds** (one document a listed profile): ``id``; the filters — ``country``, the
  ``tags`` (``c:food``, ``l:en``; each audience share exactly, ``ac:US:43``, whether there is one,
  ``ac:US``, and each 10 % step it reaches, ``ac:US:40+``: "at least 43 %" is ``ac:US:40+`` less
  the exact 40–42), followers, average views and engagement as numbers; the text — every prefix
  of every lexeme of the profile's ``search_document`` (migration 0006's own lexemes, so the words
  are split exactly as PostgreSQL splits them: bio words plain, the handle's first word ``@…``,
  its later words ``#…``) in ``words``, and unmarked in ``anyword`` (a search word anywhere: one
  term); the followers bands (``band``); and per ordering one key, ``value << 32 | id``, to order by
  and to continue after (the keyset cursor).
- **Only the cards are read from PostgreSQL**, by primary key, with whether search shows the
  profile now (``marketplace_profilecard.listed``): a stale index can delay or miss a change,
  never show a profile that is not listed.
- **One writer** (``catch_up``: the Celery task, and ``manage.py search_index``) follows the card
  table's ``changed_xid`` (migration 0011), under an advisory lock; web workers only read, and
  reload when the index's ``meta.json`` or mark file changes.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tantivy
from django.conf import settings
from django.db import connection, transaction

from marketplace import taxonomy
from marketplace.cursor import Position

KEYS = {"followers": "k_followers", "engagement_rate_bps": "k_engagement", "avg_views": "k_avg_views"}
LOW = 0xFFFF_FFFF  # a key's low 32 bits: the id; the high ones: the ordering value
MAX_PREFIX = 24  # longer words are indexed by their first 24 characters, and search words likewise
MARK_FILE = "creatornext-changes.json"  # how far this index has taken in the card changes (``catch_up``)
WRITER_LOCK = 0x6D6B7473  # pg_advisory_lock key of the one writer ("mkts")
# The writer's memory: a full build of 1M profiles fills it about twice, so the index starts as a
# few large segments (at 64 MB it was 9, and every search pays per segment). A pass of the changes
# since the last one writes a small segment whatever its heap, so it takes less.
WRITER_HEAP, WRITER_HEAP_PASS = 1_000_000_000, 100_000_000
_SHARES = (("ac", "audience_countries"), ("ag", "audience_genders"), ("aa", "audience_ages"))
# Followers bands: a document holds the term ``band:i`` when its followers reach the i-th
# threshold, the follower count of the top ``BAND_SHARES[i]`` of the profiles when the index was
# built (kept in the mark file; a rebuild measures again). Tantivy collects every match of a query
# to find the top of an ordering (~10 ms for a word in half the bios); in followers order the
# walk first asks within the narrowest band that should hold the page, where every match outranks
# every profile outside it: a full page from the band is the exact answer, a short one is asked
# again in the next wider band, and last without one (``walk``).
BAND_SHARES = (0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5)
BAND_MARGIN = 4  # a band is tried when it should hold this many times the rows asked for


def _schema() -> tantivy.Schema:
    b = tantivy.SchemaBuilder()
    b.add_unsigned_field("id", indexed=True, fast=True)
    for key in KEYS.values():
        b.add_unsigned_field(key, fast=True)
    for column in ("followers", "avg_views", "engagement"):
        b.add_unsigned_field(column, indexed=True, fast=True)
    for field in ("country", "tags", "words", "anyword", "band"):
        b.add_text_field(field, tokenizer_name="raw", index_option="basic")
    return b.build()


SCHEMA = _schema()


def directory() -> Path | None:
    """The index's directory, if the index is switched on (PostgreSQL only: it follows the card
    table, migration 0011)."""
    path = getattr(settings, "MARKETPLACE_SEARCH_INDEX", "")
    if not path or connection.vendor != "postgresql":
        return None
    return Path(path)


# --- reading ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Snapshot:
    """The index as last committed: its searcher, and the followers bands it was built with
    (thresholds, in ``BAND_SHARES`` order) over ``docs`` listed profiles."""

    searcher: tantivy.Searcher
    bands: tuple[int, ...]
    docs: int


_OPEN: dict[str, tuple[tantivy.Index, int, dict[str, Any]]] = {}
_OPEN_LOCK = threading.Lock()


def _open(path: Path) -> tantivy.Index:
    # Sorted by the followers key (when the index is made): each band's documents come first in
    # every segment, so a band's posting list is a short run of document ids.
    return tantivy.Index(SCHEMA, path=str(path), reuse=True, sort_by_field=KEYS["followers"],
                         sort_order=tantivy.Order.Desc)


def snapshot() -> Snapshot | None:
    """The index as last committed, or None if it is off or was never built. It is reopened when
    ``meta.json`` or the mark file changed (the writer committed, in any process)."""
    path = directory()
    if path is None:
        return None
    if getattr(settings, "MARKETPLACE_SEARCH_INDEX_SYNC", False):
        catch_up()  # read-your-writes: this process writes the index before it reads (tests)
    try:
        stamp = _mark_path(path).stat().st_mtime_ns + (path / "meta.json").stat().st_mtime_ns
    except FileNotFoundError:
        return None  # never built: PostgreSQL answers
    key = str(path)
    held = _OPEN.get(key)
    if held is None or held[1] != stamp:
        with _OPEN_LOCK:
            held = _OPEN.get(key)
            if held is None or held[1] != stamp:
                index = held[0] if held is not None else _open(path)
                if held is None:
                    index.config_reader(reload_policy="Manual")
                else:
                    index.reload()
                held = (index, stamp, json.loads(_mark_path(path).read_text()))
                _OPEN[key] = held
    mark = held[2]
    return Snapshot(held[0].searcher(), tuple(mark.get("bands", ())), int(mark.get("docs", 0)))


def key_of(value: int, row_id: int) -> int:
    """An ordering key: the value in the high 32 bits, the id in the low (both clamped)."""
    return min(max(value, 0), LOW) << 32 | min(max(row_id, 0), LOW)


def _term(field: str, value: str) -> tantivy.Query:
    return tantivy.Query.term_query(SCHEMA, field, value)


def segment_query(params: Any, tier: int | None, snap: Snapshot | None = None) -> tuple[tantivy.Query, float]:
    """A segment's conditions (``selectors.SearchParams``; ``tier``: a relevance tier, as in
    ``selectors._pg_segments``) as one query, with the share of documents expected to match it
    (from ``snap``'s term frequencies, taking the conditions for independent; 1 without one)."""
    must: list[tuple[tantivy.Query, float]] = []
    must_not: list[tantivy.Query] = []
    docs = max(snap.docs, 1) if snap is not None else 0

    def terms(field: str, values: list[str]) -> tuple[tantivy.Query, float]:
        query = (tantivy.Query.term_query(SCHEMA, field, values[0]) if len(values) == 1
                 else tantivy.Query.term_set_query(SCHEMA, field, values))
        if snap is None:
            return query, 1.0
        return query, min(1.0, sum(snap.searcher.doc_freq(field, v) for v in values) / docs)

    if params.country:
        must.append(terms("country", [params.country]))
    if params.category:
        must.append(terms("tags", [f"c:{params.category}"]))
    if params.language:
        must.append(terms("tags", [f"l:{params.language}"]))
    for field, low, high in (("followers", params.min_followers, params.max_followers),
                             ("avg_views", params.min_avg_views, params.max_avg_views),
                             ("engagement", params.min_engagement_rate_bps, None)):
        if low is not None or high is not None:
            if (high is not None and high < 0) or (low is not None and high is not None and low > high):
                return tantivy.Query.empty_query(), 0.0
            must.append((tantivy.Query.range_query(SCHEMA, field, tantivy.FieldType.Unsigned,
                                                   max(low or 0, 0), high), 1.0))  # share unknown
    for prefix, share in (("ac", params.audience_country), ("ag", params.audience_gender),
                          ("aa", params.audience_age)):
        if share is not None and share.min_pct > 0:
            if share.min_pct > 100:
                return tantivy.Query.empty_query(), 0.0
            # "At least 43 %": the step token of 40 %, less the exact shares 40–42 (``document``).
            step = share.min_pct // taxonomy.SHARE_STEP * taxonomy.SHARE_STEP
            if step:
                must.append(terms("tags", [f"{prefix}:{share.key}:{step}+"]))
            else:
                must.append(terms("tags", [f"{prefix}:{share.key}"]))  # any share above 0
            must_not += [tantivy.Query.term_query(SCHEMA, "tags", f"{prefix}:{share.key}:{pct}")
                         for pct in range(step, share.min_pct)]
    words = [t[:MAX_PREFIX] for t in params.terms]
    if words:
        first, rest = words[0], words[1:]
        if tier == 1:
            must.append(terms("words", ["@" + first]))
        elif tier == 2:
            must.append(terms("words", ["#" + first]))
            must_not.append(tantivy.Query.term_query(SCHEMA, "words", "@" + first))
        elif tier == 3:
            must.append(terms("words", [first]))
            must_not += [tantivy.Query.term_query(SCHEMA, "words", "@" + first),
                         tantivy.Query.term_query(SCHEMA, "words", "#" + first)]
        else:
            must.append(terms("anyword", [first]))
        must += [terms("anyword", [t]) for t in rest]
    share_expected = 1.0
    for _, part in must:
        share_expected *= part
    if not must:
        return tantivy.Query.all_query(), 1.0
    if len(must) == 1 and not must_not:
        return must[0][0], share_expected
    return tantivy.Query.boolean_query([*((tantivy.Occur.Must, q) for q, _ in must),
                                        *((tantivy.Occur.MustNot, q) for q in must_not)]), share_expected


def _both(*queries: tantivy.Query) -> tantivy.Query:
    return tantivy.Query.boolean_query([(tantivy.Occur.Must, q) for q in queries])


def walk(snap: Snapshot, query: tuple[tantivy.Query, float], column: str, after: Position | None,
         forward: bool, limit: int) -> list[tuple[int, int]]:
    """Up to ``limit`` (value, id) of the query's documents (``segment_query``'s) in the ordering's
    key order (descending forward), after ``after``'s (value, id) if given. Forward in followers
    order, first within the narrowest followers band expected to hold ``BAND_MARGIN`` × ``limit``
    matches, then wider ones, then without a band, until a full ``limit`` comes back."""
    condition, expected = query
    if expected == 0:
        return []  # a term no document holds (a relevance tier no handle is in): nothing to ask
    key = KEYS[column]
    if after is not None:
        at = key_of(after.value, after.id)
        if (forward and at == 0) or (not forward and at >= LOW << 32 | LOW):
            return []
        bound = tantivy.Query.range_query(SCHEMA, key, tantivy.FieldType.Unsigned,
                                          None if forward else at, at if forward else None,
                                          include_lower=forward, include_upper=not forward)
        condition = _both(condition, bound)
    order = tantivy.Order.Desc if forward else tantivy.Order.Asc
    if column == "followers" and forward:
        for band, (share, threshold) in enumerate(zip(BAND_SHARES, snap.bands, strict=False)):
            if share * snap.docs * expected < BAND_MARGIN * limit:
                continue  # too narrow to hold the page, as far as one can tell
            if after is not None and threshold > after.value:
                continue  # the band lies wholly before the position
            banded = _both(condition, tantivy.Query.term_query(SCHEMA, "band", str(band)))
            hits = snap.searcher.search(banded, limit, count=False, order_by_field=key, order=order).hits
            if len(hits) == limit:
                # Every match outside the band has fewer followers than every match in it.
                return [(k >> 32, k & LOW) for k, _ in hits]
    hits = snap.searcher.search(condition, limit, count=False, order_by_field=key, order=order).hits
    return [(k >> 32, k & LOW) for k, _ in hits]


# --- writing ------------------------------------------------------------------------------------
_ROWS = """SELECT c.profile_id, c.listed, p.followers, p.avg_views, p.engagement_rate_bps, p.country,
       p.categories, p.languages, p.audience_countries, p.audience_genders, p.audience_ages,
       tsvector_to_array(p.search_document)
FROM marketplace_profilecard c JOIN marketplace_marketplaceprofile p ON p.id = c.profile_id"""


# The follower counts at the top BAND_SHARES of the listed profiles, and how many there are.
_BANDS = """SELECT percentile_disc(%s::float8[]) WITHIN GROUP (ORDER BY p.followers DESC), count(*)
FROM marketplace_profilecard c JOIN marketplace_marketplaceprofile p ON p.id = c.profile_id WHERE c.listed"""


def _prefixes(lexeme: str) -> Iterable[str]:
    mark = 1 if lexeme[:1] in ("@", "#") else 0
    word = lexeme[: MAX_PREFIX + mark]
    return (word[:k] for k in range(mark + 1, len(word) + 1))


def _json(value: Any) -> Any:
    """A JSON column's value (Django's PostgreSQL backend hands a raw cursor jsonb as text)."""
    return json.loads(value) if isinstance(value, str) else value


def document(row: tuple[Any, ...], bands: Iterable[int] = ()) -> tantivy.Document:
    """A listed profile's document from a row of ``_ROWS`` (``bands``: the index's thresholds)."""
    (pid, _listed, followers, avg_views, engagement, country, categories, languages, *shares,
     lexemes) = row
    categories, languages, shares = _json(categories), _json(languages), [_json(v) for v in shares]
    doc = tantivy.Document()
    doc.add_unsigned("id", pid)
    for column, value in (("followers", followers), ("avg_views", avg_views), ("engagement", engagement)):
        doc.add_unsigned(column, max(value, 0))
    for column, value in (("followers", followers), ("engagement_rate_bps", engagement),
                          ("avg_views", avg_views)):
        doc.add_unsigned(KEYS[column], key_of(value, pid))
    if country:
        doc.add_text("country", country)
    tags = [f"c:{c}" for c in categories] + [f"l:{code}" for code in languages]
    for (prefix, _column), values in zip(_SHARES, shares, strict=True):
        for key, pct in (values or {}).items():
            # The exact share, whether there is one, and a token for each step it reaches (41 %:
            # 10+ … 40+), so "at least" is one term (and a few exclusions between steps).
            tags += [f"{prefix}:{key}:{int(pct)}", f"{prefix}:{key}"] if int(pct) > 0 else []
            tags += [f"{prefix}:{key}:{step}+" for step in range(taxonomy.SHARE_STEP, int(pct) + 1,
                                                                     taxonomy.SHARE_STEP)]
    for tag in tags:
        doc.add_text("tags", tag)
    prefixes = {p for lexeme in lexemes or () for p in _prefixes(lexeme)}
    for word in prefixes:
        doc.add_text("words", word)
    for word in {p.lstrip("@#") for p in prefixes}:  # a prefix of any word, handle or bio: one term
        doc.add_text("anyword", word)
    for band, threshold in enumerate(bands):
        if followers >= threshold:
            doc.add_text("band", str(band))
    return doc


def _mark_path(path: Path) -> Path:
    return path / MARK_FILE


def catch_up(*, progress: Callable[[int], None] | None = None, rebuild: bool = False,
             chunk: int = 5_000) -> int | None:
    """Take the card changes since the last call into the index (all cards the first time, or
    with ``rebuild``); the number of cards read, or None if the index is off or another writer
    holds the lock. ``progress(n)``: called after every chunk with the cards read so far."""
    path = directory()
    if path is None:
        return None
    with connection.cursor() as cur:
        cur.execute("SELECT pg_try_advisory_lock(%s)", [WRITER_LOCK])
        if not cur.fetchone()[0]:
            return None
    try:
        return _catch_up(path, progress, rebuild, chunk)
    finally:
        with connection.cursor() as cur:
            cur.execute("SELECT pg_advisory_unlock(%s)", [WRITER_LOCK])


def _catch_up(path: Path, progress: Callable[[int], None] | None, rebuild: bool, chunk: int) -> int:
    path.mkdir(parents=True, exist_ok=True)
    mark: dict[str, Any] = {}
    if not rebuild and _mark_path(path).exists():
        mark = json.loads(_mark_path(path).read_text())
    since = mark.get("changed_xid")
    writer = _open(path).writer(WRITER_HEAP if since is None else WRITER_HEAP_PASS, 1)
    read = 0
    outer = connection.in_atomic_block
    try:
        if since is None:
            writer.delete_all_documents()
        # One snapshot for the whole pass; every transaction below its xmin has ended, so the next
        # pass starts there and reads again only what may have been in flight (migration 0011).
        with transaction.atomic():
            with connection.cursor() as cur:
                if not outer:  # a caller's transaction (tests) has its own level
                    cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                cur.execute("SELECT pg_snapshot_xmin(pg_current_snapshot())::text")
                upto = cur.fetchone()[0]
                if since is None:  # a full build measures the followers bands afresh
                    cur.execute(_BANDS, [list(BAND_SHARES)])
                    thresholds, docs = cur.fetchone()
                    mark = {"bands": [int(t) for t in thresholds or ()], "docs": docs}
            bands = mark.get("bands", [])
            where, args = ("", []) if since is None else (" WHERE c.changed_xid >= %s::xid8", [since])
            with connection.chunked_cursor() as cur:
                cur.execute(_ROWS + where, args)  # nosec B608 (fixed SQL)
                while rows := cur.fetchmany(chunk):
                    if since is not None:  # each card's document goes, and comes back if listed
                        writer.delete_documents_by_query(
                            tantivy.Query.term_set_query(SCHEMA, "id", [row[0] for row in rows]))
                    for row in rows:
                        if row[1]:
                            writer.add_document(document(row, bands))
                    read += len(rows)
                    if progress is not None:
                        progress(read)
        writer.commit()
        writer.wait_merging_threads()
    except BaseException:
        writer.rollback()
        raise
    # After the commit: a crash in between only makes the next pass read these cards again.
    tmp = _mark_path(path).with_suffix(".tmp")
    tmp.write_text(json.dumps({**mark, "changed_xid": upto}))
    os.replace(tmp, _mark_path(path))
    return read
