"""PostgreSQL only: each profile's search card kept ready as JSON text (decision 0009).

Building a card in SQL (``json_build_object`` over five jsonb columns and a formatted timestamp)
cost ~0.4 ms of PostgreSQL per page of 26 candidates, a third of a plain search's database time;
reading it ready costs ~0.03 ms. ``marketplace_profilecard`` holds one card per profile, written
by a trigger after every insert or update of the profile (the app, the metrics feed,
``profiles_sync`` and bulk loads alike), so no code path can leave a card stale. It is a table of
its own, not a column: the profile rows (~1.3 KB) would pass PostgreSQL's 2 KB compression
threshold with the card (~0.6 KB) and every filtered walk would pay for it. No foreign key: a
profile is never deleted on its own (a deleted account keeps its rows), test flushes truncate
the profile table alone, and search reads a card only for a profile id it has just found. A card
row left by a truncation is overwritten when its id is used again (``ON CONFLICT``).

The card is exactly what ``api.CreatorCardOutput`` renders (tests compare them): stored values
already have their API shape (rates ``{"amount", "currency"}``, shares whole numbers); the
timestamp as DRF writes it (ISO 8601 in UTC with "Z", microseconds only when there are some).
"""

from django.db import migrations

CARD = """json_build_object(
    'handle', p.handle, 'display_name', p.display_name, 'bio', p.bio, 'country', p.country,
    'categories', p.categories, 'languages', p.languages, 'followers', p.followers,
    'avg_views', p.avg_views, 'engagement_rate_bps', p.engagement_rate_bps,
    'audience', json_build_object('countries', p.audience_countries, 'genders', p.audience_genders,
                                  'ages', p.audience_ages),
    'rates', p.rates,
    'metrics_updated_at', to_char(p.metrics_updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS')
        || CASE WHEN mod(extract(microseconds FROM p.metrics_updated_at)::int, 1000000) = 0 THEN ''
                ELSE to_char(p.metrics_updated_at AT TIME ZONE 'UTC', '.US') END || 'Z')::text"""

# Fixed SQL only (no values): the card expression is put in with str.replace.
FUNCTION = """CREATE FUNCTION marketplace_profilecard_write() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO marketplace_profilecard (profile_id, card)
        SELECT p.id, <card> FROM (SELECT (NEW).*) p
        ON CONFLICT (profile_id) DO UPDATE SET card = EXCLUDED.card;
        RETURN NULL;
    END $$"""
BACKFILL = "INSERT INTO marketplace_profilecard (profile_id, card) SELECT p.id, <card> FROM marketplace_marketplaceprofile p"

FORWARD = [
    "CREATE TABLE marketplace_profilecard (profile_id bigint PRIMARY KEY, card text NOT NULL)",
    FUNCTION.replace("<card>", CARD),
    "CREATE TRIGGER marketplace_profilecard_write AFTER INSERT OR UPDATE "
    "ON marketplace_marketplaceprofile FOR EACH ROW EXECUTE FUNCTION marketplace_profilecard_write()",
    BACKFILL.replace("<card>", CARD),
]
BACKWARD = [
    "DROP TRIGGER IF EXISTS marketplace_profilecard_write ON marketplace_marketplaceprofile",
    "DROP FUNCTION IF EXISTS marketplace_profilecard_write()",
    "DROP TABLE IF EXISTS marketplace_profilecard",
]


def _run(statements):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        for statement in statements:
            schema_editor.execute(statement)

    return run


class Migration(migrations.Migration):
    dependencies = [("marketplace", "0004_followers_index_covers_column_filters")]

    operations = [migrations.RunPython(_run(FORWARD), _run(BACKWARD))]
