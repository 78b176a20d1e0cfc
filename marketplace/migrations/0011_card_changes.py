"""PostgreSQL only: each profile card says which transaction last wrote it (decision 0022).

The search index (``marketplace.search_index``) follows the cards: every change that can move a
profile in search — the profile's own columns, its metrics, whether it is listed — rewrites its
card row (migrations 0005 and 0007, triggers), so the card table is the one place to ask "what
changed since". ``changed_xid`` is the writing transaction's id (``pg_current_xact_id()``, set by
a trigger before every insert and update, whoever writes). The indexer reads the cards with
``changed_xid >= x`` and then moves ``x`` to the xmin of the snapshot it read with: every
transaction below that has ended (its rows were visible, or it rolled back), and any transaction
at or above it is read again next time, so a card committed late is never skipped — which an
increasing number drawn at write time (a sequence) could not promise.
"""

import importlib

from django.db import migrations

_run = importlib.import_module("marketplace.migrations.0005_profile_cards")._run  # PostgreSQL only

FORWARD = [
    "ALTER TABLE marketplace_profilecard ADD COLUMN changed_xid xid8 NOT NULL DEFAULT pg_current_xact_id()",
    """CREATE FUNCTION marketplace_profilecard_changed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            NEW.changed_xid := pg_current_xact_id();
            RETURN NEW;
        END $$""",
    "CREATE TRIGGER marketplace_profilecard_changed BEFORE INSERT OR UPDATE ON marketplace_profilecard "
    "FOR EACH ROW EXECUTE FUNCTION marketplace_profilecard_changed()",
    "CREATE INDEX mkt_card_changed ON marketplace_profilecard (changed_xid)",
]
BACKWARD = [
    "DROP TRIGGER IF EXISTS marketplace_profilecard_changed ON marketplace_profilecard",
    "DROP FUNCTION IF EXISTS marketplace_profilecard_changed()",
    "ALTER TABLE marketplace_profilecard DROP COLUMN IF EXISTS changed_xid",
]


class Migration(migrations.Migration):
    dependencies = [("marketplace", "0010_handle_heads_statistics")]

    operations = [migrations.RunPython(_run(FORWARD), _run(BACKWARD))]
