"""PostgreSQL only: filters a walk reads without the table, and the handle's first word apart
(decision 0009, fourth pass, 2026-12-06).

- ``facet_codes``: the facet tokens (``=c:food =l:en =ac:US:40 ...``) as integers
  (``hashtext`` of each token; ``mkt_facet_codes``), a stored generated column with a GIN index of
  its own, and carried by the default ordering's index (``INCLUDE``): a walk filtered by
  category, language or audience share is an index-only scan and reads no 2.6 KB table rows
  (those filters were tokens of ``search_document`` before, which only the table row holds). The
  hash is exact for the tokens that can exist: ``tests/marketplace/test_search.py`` hashes every
  possible token on the test database and finds no two alike.
- ``search_document`` keeps the text only (handle and bio words; the tokens moved to
  ``facet_codes``) and marks the handle's first word ``@`` and its later words ``#``
  (``@ana #cooks``), so relevance has three tiers an index can each serve: the handle starts
  with the word (the new ``mkt_profile_handle_prefix``, an index-only range scan: thousands of
  creators share a handle prefix; it carries ``handle`` itself because PostgreSQL rechecks the
  LIKE from the column, not from the indexed expression), a later handle word starts with it,
  then the bio.

One ``ALTER TABLE`` (the table is rewritten once). Generated columns cannot change their
expression in PostgreSQL 15, so ``search_document`` is dropped and added again.
"""

from django.db import migrations

FACET_CODES = """
CREATE FUNCTION mkt_facet_codes(facets text) RETURNS integer[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT coalesce(array_agg(hashtext(token)), '{}')
    FROM unnest(string_to_array(facets, ' ')) AS token WHERE token <> ''
$$
"""

DOCUMENT = """
    array_to_tsvector(regexp_split_to_array('@' || regexp_replace(lower(handle), '[._]+', ' #', 'g'), ' '))
    || to_tsvector('simple'::regconfig, bio)
"""
OLD_DOCUMENT = """
    array_to_tsvector(regexp_split_to_array('@' || regexp_replace(lower(handle), '[._]+', ' @', 'g'), ' ')
                      || ('@' || lower(handle)))
    || to_tsvector('simple'::regconfig, bio)
    || array_to_tsvector(array_remove(string_to_array(facets, ' '), ''))
"""
TABLE = "marketplace_marketplaceprofile"
TEXT_INDEX = f"CREATE INDEX mkt_profile_search ON {TABLE} USING gin (search_document)"
FACETS_INDEX = f"CREATE INDEX mkt_profile_facets ON {TABLE} USING gin (facet_codes)"
HANDLE_INDEX = (f"CREATE INDEX mkt_profile_handle_prefix ON {TABLE} "
                "(lower(handle) text_pattern_ops) INCLUDE (handle, followers, id)")
FOLLOWERS_INDEX = (f"CREATE INDEX mkt_profile_followers ON {TABLE} (followers DESC, id DESC) "
                   "INCLUDE (avg_views, engagement_rate_bps, country, facet_codes)")
OLD_FOLLOWERS_INDEX = (f"CREATE INDEX mkt_profile_followers ON {TABLE} (followers DESC, id DESC) "
                       "INCLUDE (avg_views, engagement_rate_bps, country)")

FORWARD = [
    FACET_CODES,
    "DROP INDEX mkt_profile_search",
    "DROP INDEX mkt_profile_followers",
    f"ALTER TABLE {TABLE} DROP COLUMN search_document, "
    f"ADD COLUMN search_document tsvector GENERATED ALWAYS AS ({DOCUMENT}) STORED, "
    "ADD COLUMN facet_codes integer[] GENERATED ALWAYS AS (mkt_facet_codes(facets)) STORED",
    TEXT_INDEX,
    FACETS_INDEX,
    HANDLE_INDEX,
    FOLLOWERS_INDEX,
    # Larger samples (a per-column statistics target, not a planner setting): rare words and
    # rare tokens must not look common when the planner chooses between walking and GIN.
    f"ALTER TABLE {TABLE} ALTER COLUMN search_document SET STATISTICS 1000",
    f"ALTER TABLE {TABLE} ALTER COLUMN facet_codes SET STATISTICS 1000",
]
BACKWARD = [
    "DROP INDEX IF EXISTS mkt_profile_handle_prefix",
    "DROP INDEX IF EXISTS mkt_profile_facets",
    "DROP INDEX IF EXISTS mkt_profile_search",
    "DROP INDEX IF EXISTS mkt_profile_followers",
    f"ALTER TABLE {TABLE} DROP COLUMN facet_codes, DROP COLUMN search_document, "
    f"ADD COLUMN search_document tsvector GENERATED ALWAYS AS ({OLD_DOCUMENT}) STORED",
    "DROP FUNCTION mkt_facet_codes(text)",
    TEXT_INDEX,
    OLD_FOLLOWERS_INDEX,
    f"ALTER TABLE {TABLE} ALTER COLUMN search_document SET STATISTICS 1000",
]


def _run(statements):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        for statement in statements:
            schema_editor.execute(statement)

    return run


class Migration(migrations.Migration):
    dependencies = [("marketplace", "0005_profile_cards")]

    operations = [migrations.RunPython(_run(FORWARD), _run(BACKWARD))]
