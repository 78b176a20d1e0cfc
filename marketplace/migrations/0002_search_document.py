"""PostgreSQL only: the generated search document and its GIN index (decision 0009).

``search_document`` = the handle and its parts split at "." and "_", each as a lexeme marked "@"
(``@ana.cooks @ana @cooks``: handle words are their own lexemes, so "a handle word starts with x"
is an index lookup the planner can estimate), the bio's words through the ``simple``
configuration (creators write in many languages: no stemming, no stop words), and the facet
tokens taken verbatim (``array_to_tsvector``). It is a
stored generated column, so PostgreSQL keeps it in step with every write and no app code can
forget to. SQLite, the embedded default, has neither and searches with LIKE instead.
"""

from django.db import migrations

DOCUMENT = """
    array_to_tsvector(regexp_split_to_array('@' || regexp_replace(lower(handle), '[._]+', ' @', 'g'), ' ')
                      || ('@' || lower(handle)))
    || to_tsvector('simple'::regconfig, bio)
    || array_to_tsvector(array_remove(string_to_array(facets, ' '), ''))
"""

FORWARD = [
    f"ALTER TABLE marketplace_marketplaceprofile ADD COLUMN search_document tsvector "
    f"GENERATED ALWAYS AS ({DOCUMENT}) STORED",
    "CREATE INDEX mkt_profile_search ON marketplace_marketplaceprofile USING gin (search_document)",
    # Word frequencies decide between "walk an ordering index and filter" and "GIN, then sort":
    # a larger sample of the lexemes (default 100 → 1000) keeps rare words from looking common.
    "ALTER TABLE marketplace_marketplaceprofile ALTER COLUMN search_document SET STATISTICS 1000",
]
BACKWARD = [
    "DROP INDEX IF EXISTS mkt_profile_search",
    "ALTER TABLE marketplace_marketplaceprofile DROP COLUMN IF EXISTS search_document",
]


def _run(statements):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        for statement in statements:
            schema_editor.execute(statement)

    return run


class Migration(migrations.Migration):
    dependencies = [("marketplace", "0001_initial")]

    operations = [migrations.RunPython(_run(FORWARD), _run(BACKWARD))]
