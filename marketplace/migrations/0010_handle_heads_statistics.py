"""PostgreSQL only: the planner learns that a handle's first four letters decide its first three
(decision 0009, seventh pass, 2026-12-06).

Relevance's handle tier for a four-letter word is ``left(lower(handle), 3) = 'kal' AND
left(lower(handle), 4) = 'kalo'`` (migration 0008). PostgreSQL took the two for independent and
multiplied their selectivities: 10,290 × 0.5 % ≈ 53 handles for 4,962 at one million profiles.
With a filter beside them it then expected a handful of matches, and ANDed the head index's
bitmap with the filter's index instead of walking the head index in followers order:
``q=kalo&country=US`` read the 297,000 US entries, 82 ms; ``q=kalo&category=food`` 36 ms;
``q=kalo&min_avg_views=2000`` 23 ms. Functional-dependency statistics on the two expressions
(PostgreSQL 14+) give the right estimate, and the plans follow: 0.66, 0.85 and 0.26 ms, while a
rare filter (``q=kalo&audience_country=NG&…=65``) keeps the bitmap, as it should (~5 ms either
way). Built by the next ANALYZE (autovacuum's, or the bench loader's).
"""

import importlib

from django.db import migrations

_run = importlib.import_module("marketplace.migrations.0005_profile_cards")._run  # PostgreSQL only

FORWARD = [
    "CREATE STATISTICS mkt_profile_handle_heads (dependencies) "
    "ON (left(lower(handle), 3)), (left(lower(handle), 4)) FROM marketplace_marketplaceprofile",
]
BACKWARD = ["DROP STATISTICS IF EXISTS mkt_profile_handle_heads"]


class Migration(migrations.Migration):
    dependencies = [("marketplace", "0009_profile_walk")]

    operations = [migrations.RunPython(_run(FORWARD), _run(BACKWARD))]
