"""marketplace-search (TARGETS.md P4): brand members search 1,000,000 skewed marketplace profiles.

Every creator meets the marketplace gate; followers fall off Zipf-like from the top (ranks shuffled
over ids), so most creators sit in the long tail just above 10,000 followers and many share a
value (the cursor's tie-breaking matters). Bios draw words Zipf-skewed from a vocabulary, so the
commonest word is in about half the bios and the rarest in a few hundred. 97% of creators are
enrolled in the marketplace program, 2% paused, 1% opted out, 0.3% are deleted accounts: search
must skip all of those. Each query of the mix is its own measurement (its own p95), each compared
with B-json measured in the same rounds. The profile table's search indexes are dropped during the
bulk load and rebuilt from the migrated schema's definitions afterwards (as one would for any bulk
load).
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import time
from urllib.parse import urlencode

from bench import data
from bench.registry import Load, Request, latency_ratio_at_most, no_errors, workload
from bench.runner import REPO
from marketplace import cursor, taxonomy

NAME = "marketplace-search"
MEMBERS = 48
PAGE_50_AFTER = 49 * 20  # rows before page 50 at the default page size

# (name, query): each filter alone, 3-filter combinations, text on common and rare words, each
# ordering, and page 50 (its cursor is computed from the data, like a client that paged there).
QUERIES: list[tuple[str, dict]] = [
    ("all", {}),
    ("country-common", {"country": "US"}),
    ("country-rare", {"country": "TR"}),
    ("category-common", {"category": "lifestyle"}),
    ("category-rare", {"category": "automotive"}),
    ("language", {"language": "pt"}),
    ("followers-min", {"min_followers": 200_000}),
    ("followers-range", {"min_followers": 12_000, "max_followers": 12_500}),
    ("avg-views-min", {"min_avg_views": 100_000}),
    ("avg-views-range", {"min_avg_views": 4_000, "max_avg_views": 4_100}),
    ("engagement-min", {"min_engagement_rate_bps": 1_800}),
    ("aud-country", {"audience_country": "US", "audience_country_min_pct": 30}),
    ("aud-country-rare", {"audience_country": "NG", "audience_country_min_pct": 65}),
    ("aud-gender", {"audience_gender": "female", "audience_gender_min_pct": 75}),
    ("aud-age", {"audience_age": "45+", "audience_age_min_pct": 35}),
    ("combo-country-cat-lang", {"country": "US", "category": "beauty", "language": "en"}),
    ("combo-cat-age-eng", {"category": "gaming", "audience_age": "18-24", "audience_age_min_pct": 40,
                           "min_engagement_rate_bps": 500}),
    ("combo-lang-aud-followers", {"language": "es", "audience_country": "MX",
                                  "audience_country_min_pct": 45, "min_followers": 20_000}),
    ("text-common", {"q": "daily"}),
    ("text-rare", {"q": "kintsugi"}),
    ("text-handle-prefix", {"q": "kalo"}),
    ("text-common-by-followers", {"q": "daily", "ordering": "-followers"}),
    ("text-combo", {"q": "travel", "category": "food", "audience_country": "BR",
                    "audience_country_min_pct": 40}),
    ("order-engagement", {"ordering": "-engagement_rate"}),
    ("order-avg-views", {"ordering": "-avg_views"}),
    ("page-50", {}),  # -followers, with the cursor of page 50
]

COMMON_WORDS = ("daily", "life", "love", "fun", "vlog", "tips", "family", "music", "food", "travel",
                "style", "home", "friends", "weekend", "recipes", "fitness", "makeup", "games", "city",
                "dogs")
RARE_WORDS = ("kintsugi", "falconry", "bonsai", "origami", "calligraphy", "beekeeping")
CATEGORY_WEIGHTS = {c: w for c, w in zip(taxonomy.CATEGORIES, (
    3, 1, 9, 8, 6, 4, 9, 3, 7, 10, 9, 3, 12, 8, 3, 5, 5, 5, 6), strict=True)}
LANGUAGE_OF = {"US": "en", "GB": "en", "CA": "en", "NG": "en", "PH": "en", "IN": "en", "BR": "pt",
               "MX": "es", "ES": "es", "ID": "id", "DE": "de", "FR": "fr", "JP": "ja", "TR": "tr"}

PROFILE_COLUMNS = ("id", "creator_id", "handle", "display_name", "bio", "categories", "languages", "country", "rates",
                   "followers", "avg_views", "engagement_rate_bps", "audience_countries",
                   "audience_genders", "audience_ages", "metrics_updated_at", "facets", "created_at",
                   "updated_at")
ENROLLMENT_COLUMNS = ("id", "creator_id", "program_id", "status", "terms_version", "terms_accepted_at",
                      "staff_granted", "revoked_at", "rules_version", "decided_requirements",
                      "status_changed_at", "created_at", "updated_at")
# Built after the bulk load rather than row by row during it (as one would for any bulk load),
# each from its definition in the migrated schema.
REBUILT_INDEXES = ("mkt_profile_search", "mkt_profile_facets", "mkt_profile_handle_prefix",
                   "mkt_profile_handle_head", "mkt_profile_followers", "mkt_walk_followers",
                   "mkt_walk_country", "mkt_walk_avg_views", "mkt_walk_engagement", "mkt_walk_facets")


def _vocabulary(rng) -> list[str]:
    """Real words at the top ranks, synthetic ones in the tail, the rare words near the end."""
    words = list(COMMON_WORDS)
    seen = set(words) | set(RARE_WORDS)
    while len(words) < 2_000:
        word = data._name(rng).lower()
        if word not in seen:
            seen.add(word)
            words.append(word)
    for i, word in enumerate(RARE_WORDS):
        words.insert(1_900 + i * 15, word)
    return words


def _shares(rng, keys: list[str], total: int) -> dict[str, int]:
    weights = [rng.random() ** 2 for _ in keys]
    scale = total / (sum(weights) or 1)
    return {k: int(w * scale) for k, w in zip(keys, weights, strict=True) if int(w * scale)}


def _rows(ctx, program_id: int):
    """Yields (user, creator, enrollment, profile) rows for ctx.scale creators."""
    rng, r, n = ctx.rng, ctx.rng.random, ctx.scale
    vocabulary = _vocabulary(rng)
    words = data.ZipfSampler(len(vocabulary), s=1.0)
    ranks = list(range(1, n + 1))
    rng.shuffle(ranks)
    countries = rng.choices(data.COUNTRIES, data.COUNTRY_WEIGHTS, k=n)
    categories, category_weights = list(CATEGORY_WEIGHTS), list(CATEGORY_WEIGHTS.values())
    now = data.NOW
    for i in range(n):
        uid, rank, country = i + 1, ranks[i], countries[i]
        gone = r() < 0.003
        joined = now - dt.timedelta(seconds=int(r() * 1500 * 86400) + 40 * 86400)
        handle = f"deleted-{uid}" if gone else f"{data._name(rng)}{uid}"
        birth = None if gone else dt.date(1970 + int(r() * 35), 1 + int(r() * 12), 1 + int(r() * 28))
        user = data._user_row(uid, handle if gone else f"c{uid}", joined=joined, birth=birth, deleted=gone)
        followers = 10_000 + int(30_000_000 / rank**1.1) + int(r() * 3_000)
        creator = (uid, uid, handle, country, "" if gone else handle.title(), "", joined, followers,
                   followers * 3, 4 + int(r() * 40), joined - dt.timedelta(days=400), "personal",
                   "good", False, joined)
        roll = r()
        status = "enrolled" if roll < 0.97 else ("paused" if roll < 0.99 else "not_enrolled")
        enrollment = (uid, uid, program_id, status, "v1", joined, False, None, 1, "[]", joined, joined,
                      joined)
        bio = "" if gone else " ".join(vocabulary[words.rank(rng) - 1] for _ in range(5 + int(r() * 6)))
        cats = sorted(set(rng.choices(categories, category_weights, k=1 + int(r() * 3))))
        langs = [LANGUAGE_OF[country]] + (["en"] if LANGUAGE_OF[country] != "en" and r() < 0.3 else [])
        home = 30 + int(r() * 55)
        audience_countries = {country: home}
        if country != "US":
            audience_countries["US"] = int(r() * (100 - home) * 0.7)
        other = data.COUNTRIES[int(r() * len(data.COUNTRIES))]
        if other not in audience_countries:
            audience_countries[other] = int(r() * (100 - sum(audience_countries.values())) * 0.8)
        audience_countries = {k: v for k, v in audience_countries.items() if v}
        female = int(r() * 100)
        genders = {k: v for k, v in (("female", female), ("male", int((100 - female) * 0.97)),
                                     ("other", (100 - female) - int((100 - female) * 0.97))) if v}
        ages = _shares(rng, list(taxonomy.AGE_BUCKETS), 100)
        facets = taxonomy.facet_tokens(categories=cats, languages=langs,
                                       audience_countries=audience_countries,
                                       audience_genders=genders, audience_ages=ages)
        profile = (uid, uid, handle, creator[4], bio, json.dumps(cats), json.dumps(langs), country,
                   json.dumps({"video": {"amount": 5_000 + (followers // 100) * 100, "currency": "USD"}}),
                   followers, int(followers * (0.02 + r() * 0.4)), int(100 + 1_900 * r() ** 3),
                   json.dumps(audience_countries), json.dumps(genders), json.dumps(ages), now, facets,
                   joined, now)
        yield user, creator, enrollment, profile


def _load(ctx) -> None:
    program_id = ctx.sql("SELECT id FROM eligibility_program WHERE slug = 'marketplace'")[0][0]
    rebuilt = ctx.sql("SELECT indexname, indexdef FROM pg_indexes WHERE indexname = ANY(%s)",
                      [list(REBUILT_INDEXES)])
    for name, _ in rebuilt:
        ctx.sql(f"DROP INDEX {name}")
    users, creators, enrollments, profiles = [], [], [], []
    batch = 50_000

    def flush() -> None:
        ctx.copy("accounts_user", data.USER_COLUMNS, users)
        ctx.copy("accounts_creatorprofile", data.PROFILE_COLUMNS, creators)
        ctx.copy("eligibility_enrollment", ENROLLMENT_COLUMNS, enrollments)
        ctx.copy("marketplace_marketplaceprofile", PROFILE_COLUMNS, profiles)
        for rows in (users, creators, enrollments, profiles):
            rows.clear()

    for user, creator, enrollment, profile in _rows(ctx, program_id):
        users.append(user)
        creators.append(creator)
        enrollments.append(enrollment)
        profiles.append(profile)
        if len(users) >= batch:
            flush()
    flush()
    ctx.sql("SET maintenance_work_mem = '512MB'")
    for _, definition in rebuilt:
        ctx.sql(definition)
    for table in ("accounts_user", "accounts_creatorprofile", "eligibility_enrollment",
                  "marketplace_marketplaceprofile"):
        data.sync_identity(ctx.db, table)
        ctx.sql(f"VACUUM ANALYZE {table}")
    # The cards (and listed flags) and walk rows the profiles' trigger wrote during the load,
    # like the tables.
    for table in ("marketplace_profilecard", "marketplace_profilewalk"):
        ctx.sql(f"VACUUM ANALYZE {table}")


def _build_search_index(ctx) -> None:
    """The search index (decision 0022) built from the loaded cards, as ``manage.py search_index``
    does on a fresh deployment; the server's workers open it at their first text search."""
    clock = time.monotonic()
    subprocess.run([sys.executable, "manage.py", "search_index"], cwd=REPO, check=True,
                   env={**ctx.env, "DJANGO_SETTINGS_MODULE": "creatornext.settings"},
                   stdout=subprocess.DEVNULL)
    ctx.notes.append(f"Search index (decision 0022) built in {time.monotonic() - clock:.1f} s.")


def _members(ctx) -> list[data.Fan]:
    members = data.load_fans(ctx, MEMBERS, first_user_id=ctx.scale + 1)
    brand_id = ctx.sql("INSERT INTO accounts_brand (name, slug, verified_at, created_at) "
                       "VALUES ('Bench Brand', 'bench-brand', now(), now()) RETURNING id")[0][0]
    ctx.copy("accounts_brandmembership", ("brand_id", "user_id", "role", "created_at"),
             ((brand_id, m.user_id, "owner" if i == 0 else "manager", data.NOW)
              for i, m in enumerate(members)))
    return members


def _page_50_cursor(ctx) -> str:
    """Where a client that paged 49 times through the default search (-followers) stands."""
    followers, row_id = ctx.sql(
        "SELECT m.followers, m.id FROM marketplace_marketplaceprofile m "
        "JOIN eligibility_enrollment e ON e.creator_id = m.creator_id AND e.status = 'enrolled' "
        "JOIN accounts_creatorprofile c ON c.id = m.creator_id "
        "JOIN accounts_user u ON u.id = c.user_id AND u.deleted_at IS NULL "
        "ORDER BY m.followers DESC, m.id DESC OFFSET %s LIMIT 1", [PAGE_50_AFTER - 1])[0]
    return cursor.encode(cursor.Position("-followers", 0, followers, row_id, True))


@workload(
    NAME,
    "P4: GET /api/v1/marketplace/creators/ over 1,000,000 skewed profiles; 26 queries (each filter "
    "alone, 3-filter combinations, text on common and rare words, each ordering, page 50), each "
    "authenticated as one of 48 brand members; each query's p95 against B-json's.",
    baselines=["B-json"],
    checks=[*(latency_ratio_at_most(name, "B-json", 3, percentile=95) for name, _ in QUERIES),
            no_errors("B-json", *(name for name, _ in QUERIES))],
    scale=1_000_000,
    smoke_scale=3_000,
    server_env={"MARKETPLACE_SEARCH_INDEX": "search-index"},  # under the server's CREATORNEXT_VAR_DIR
)
def marketplace_search(ctx) -> dict[str, Load]:
    _load(ctx)
    _build_search_index(ctx)
    members = _members(ctx)
    queries = dict(QUERIES)
    queries["page-50"] = {"cursor": _page_50_cursor(ctx)}
    counts = ctx.sql("SELECT status, count(*) FROM eligibility_enrollment GROUP BY status ORDER BY 1")
    top = ctx.sql("SELECT max(followers), percentile_disc(0.5) WITHIN GROUP (ORDER BY followers) "
                  "FROM marketplace_marketplaceprofile")[0]
    ctx.notes.append(
        f"Data: {ctx.scale:,} creators with marketplace profiles (enrolments: "
        f"{', '.join(f'{s} {c:,}' for s, c in counts)}); followers max {top[0]:,}, median {top[1]:,}; "
        f"{MEMBERS} brand members with tokens. Queries: "
        + "; ".join(f"{name} `{urlencode(q) or '(none)'}`" for name, q in queries.items()) + ".")
    size = max(200, ctx.plan_size // len(queries))
    who = data.spread(members, size, ctx.rng)
    return {name: Load([Request("GET", f"/api/v1/marketplace/creators/?{urlencode(query)}",
                                token=member.token) for member in who])
            for name, query in queries.items()}
