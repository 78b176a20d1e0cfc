"""PostgreSQL only: the columns a search without text walks, in a narrow table of their own
(decision 0009, seventh pass, 2026-12-06).

A filtered search walks ``mkt_profile_followers`` index-only, and an index-only scan asks the
visibility map about each entry's heap page. The profile table is wide (~1.1 KB a row: 142,000
pages at one million profiles, five visibility-map pages), the walk visits its rows in followers
order, which is random in the heap, so four entries in five switch to another map page — a buffer
release and look-up each, on five pages every search shares: 3,325 buffer accesses for a walk of
4,086 entries, 102 on a copy of the walked columns in a table of their own (23,690 pages, one map
page). pgbench, that walk, prepared: 650–720 → 930–1,060 per second on one connection, 1,220–1,560
→ 2,000–2,320 on two.

``marketplace_profilewalk`` holds, per profile, ``id`` (the profile's), whether search shows it
(``listed``, the card's flag, migration 0007) and the walk's columns, copied by the triggers that
already keep the card: the card trigger on every profile insert and update (the row only when
one of its columns changed), and ``marketplace_relist`` / the program trigger when the flag moves.
Both tables are written under the card's row lock, card first. Its index holds listed profiles
only, so the walk stops at the page without looking at the cards.

A profile deleted, or the profile table truncated (test flushes), now takes its card and walk
rows with it: the walk must not find a profile that is gone.
"""

import importlib

from django.db import migrations

_M0005 = importlib.import_module("marketplace.migrations.0005_profile_cards")
_M0007 = importlib.import_module("marketplace.migrations.0007_listed_flag_on_cards")
CARD, _run = _M0005.CARD, _M0005._run

TABLE = """CREATE TABLE marketplace_profilewalk (
    id bigint PRIMARY KEY, listed boolean NOT NULL, followers bigint NOT NULL,
    avg_views bigint NOT NULL, engagement_rate_bps integer NOT NULL, country varchar(2) NOT NULL,
    facet_codes integer[] NOT NULL)"""
# Listed profiles only. Besides the walk in followers order, the ways in the planner takes on the
# profile table when a filter is selective and unrelated to followers (``min_avg_views=100000``:
# 44 profiles, read from the average-views index and sorted; without it the walk went through the
# whole followers index: 288 ms), with the codes' statistics as detailed. No parallel scans: a search reads one page, and a parallel walk
# under a LIMIT reads whole index portions in each worker before the merge can answer.
INDEXES = [
    "CREATE INDEX mkt_walk_followers ON marketplace_profilewalk (followers DESC, id DESC) "
    "INCLUDE (avg_views, engagement_rate_bps, country, facet_codes) WHERE listed",
    "CREATE INDEX mkt_walk_country ON marketplace_profilewalk (country, followers DESC, id DESC) WHERE listed",
    "CREATE INDEX mkt_walk_avg_views ON marketplace_profilewalk (avg_views DESC, id DESC) WHERE listed",
    "CREATE INDEX mkt_walk_engagement ON marketplace_profilewalk (engagement_rate_bps DESC, id DESC) "
    "WHERE listed",
    "CREATE INDEX mkt_walk_facets ON marketplace_profilewalk USING gin (facet_codes) WHERE listed",
    "ALTER TABLE marketplace_profilewalk SET (parallel_workers = 0)",
    # As on the profile table (migration 0006): rare codes' frequencies, which decide between the
    # walk and the codes' index (a code no listed profile has: walked through 967,066 entries).
    "ALTER TABLE marketplace_profilewalk ALTER COLUMN facet_codes SET STATISTICS 1000",
]

# Migration 0007's card function, which now also writes the walk row with the flag it wrote (the
# row only when something in it changed: a new bio leaves it alone).
CARD_WRITE = """CREATE OR REPLACE FUNCTION marketplace_profilecard_write() RETURNS trigger
    LANGUAGE plpgsql AS $$
    DECLARE shown boolean;
    BEGIN
        INSERT INTO marketplace_profilecard (profile_id, card, listed)
        SELECT p.id, <card>, marketplace_listed(p.creator_id) FROM (SELECT (NEW).*) p
        ON CONFLICT (profile_id) DO UPDATE
            SET card = EXCLUDED.card, listed = marketplace_listed(NEW.creator_id)
        RETURNING listed INTO shown;
        INSERT INTO marketplace_profilewalk AS w
            (id, listed, followers, avg_views, engagement_rate_bps, country, facet_codes)
        VALUES (NEW.id, shown, NEW.followers, NEW.avg_views, NEW.engagement_rate_bps, NEW.country,
                NEW.facet_codes)
        ON CONFLICT (id) DO UPDATE
            SET listed = EXCLUDED.listed, followers = EXCLUDED.followers,
                avg_views = EXCLUDED.avg_views, engagement_rate_bps = EXCLUDED.engagement_rate_bps,
                country = EXCLUDED.country, facet_codes = EXCLUDED.facet_codes
            WHERE (w.listed, w.followers, w.avg_views, w.engagement_rate_bps, w.country, w.facet_codes)
                IS DISTINCT FROM (EXCLUDED.listed, EXCLUDED.followers, EXCLUDED.avg_views,
                                  EXCLUDED.engagement_rate_bps, EXCLUDED.country, EXCLUDED.facet_codes);
        RETURN NULL;
    END $$"""

# Migration 0007's flag updates; the walk rows then follow their cards' flags (same transaction,
# after the cards' row locks).
RELIST = """
CREATE OR REPLACE FUNCTION marketplace_relist(creator bigint) RETURNS void LANGUAGE plpgsql VOLATILE AS $$
    BEGIN
        UPDATE marketplace_profilecard c SET listed = marketplace_listed(p.creator_id)
        FROM marketplace_marketplaceprofile p WHERE p.creator_id = creator AND c.profile_id = p.id;
        UPDATE marketplace_profilewalk w SET listed = c.listed
        FROM marketplace_marketplaceprofile p JOIN marketplace_profilecard c ON c.profile_id = p.id
        WHERE p.creator_id = creator AND w.id = p.id AND w.listed IS DISTINCT FROM c.listed;
    END $$
"""
ON_PROGRAM = """
CREATE OR REPLACE FUNCTION marketplace_listed_on_program() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE marketplace_profilecard c SET listed = marketplace_listed(p.creator_id)
        FROM marketplace_marketplaceprofile p WHERE c.profile_id = p.id;
        UPDATE marketplace_profilewalk w SET listed = c.listed FROM marketplace_profilecard c
        WHERE c.profile_id = w.id AND w.listed IS DISTINCT FROM c.listed;
        RETURN NULL;
    END $$
"""
ON_DELETE = """
CREATE FUNCTION marketplace_profile_removed() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'TRUNCATE' THEN
            TRUNCATE marketplace_profilewalk, marketplace_profilecard;
        ELSE
            DELETE FROM marketplace_profilewalk WHERE id = OLD.id;
            DELETE FROM marketplace_profilecard WHERE profile_id = OLD.id;
        END IF;
        RETURN NULL;
    END $$
"""
BACKFILL = ("INSERT INTO marketplace_profilewalk "
            "(id, listed, followers, avg_views, engagement_rate_bps, country, facet_codes) "
            "SELECT p.id, c.listed, p.followers, p.avg_views, p.engagement_rate_bps, p.country, "
            "p.facet_codes FROM marketplace_marketplaceprofile p "
            "JOIN marketplace_profilecard c ON c.profile_id = p.id")

FORWARD = [
    # Cards of profiles that no longer exist (left by truncations before this migration).
    "DELETE FROM marketplace_profilecard c WHERE NOT EXISTS "
    "(SELECT 1 FROM marketplace_marketplaceprofile p WHERE p.id = c.profile_id)",
    TABLE, BACKFILL, *INDEXES,
    CARD_WRITE.replace("<card>", CARD), RELIST, ON_PROGRAM, ON_DELETE,
    "CREATE TRIGGER marketplace_profile_deleted AFTER DELETE ON marketplace_marketplaceprofile "
    "FOR EACH ROW EXECUTE FUNCTION marketplace_profile_removed()",
    "CREATE TRIGGER marketplace_profile_truncated AFTER TRUNCATE ON marketplace_marketplaceprofile "
    "FOR EACH STATEMENT EXECUTE FUNCTION marketplace_profile_removed()",
]
BACKWARD = [
    "DROP TRIGGER IF EXISTS marketplace_profile_truncated ON marketplace_marketplaceprofile",
    "DROP TRIGGER IF EXISTS marketplace_profile_deleted ON marketplace_marketplaceprofile",
    "DROP FUNCTION IF EXISTS marketplace_profile_removed()",
    _M0007.CARD_WRITE.replace("<card>", CARD),
    _M0007.RELIST.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1),
    _M0007.ON_PROGRAM.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1),
    "DROP TABLE IF EXISTS marketplace_profilewalk",
]


class Migration(migrations.Migration):
    dependencies = [("marketplace", "0008_handle_head_index")]

    operations = [migrations.RunPython(_run(FORWARD), _run(BACKWARD))]
