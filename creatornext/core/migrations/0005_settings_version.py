"""PostgreSQL only: a version of the settings table that hot paths can read for almost nothing.

``core.config.get_many(version=…)`` keeps the values a process read at a version until the version
changes (the gift send selects it in its facts query instead of asking the shared cache). Every
statement that writes ``core_setting`` (insert, update, delete, truncate) sets the version to the
next value of a sequence, in its own transaction, so a reader sees a new version exactly when it
sees the new rows; the sequence never goes back (not even when the table is emptied), so no
version is ever reused. A digest of the rows cost ~0.08 ms of PostgreSQL a send; this is one row
read by its primary key.
"""

from django.db import migrations

from creatornext.core.db import postgres_only

FORWARD = [
    "CREATE SEQUENCE core_settings_version_seq",
    "CREATE TABLE core_settings_version (id smallint PRIMARY KEY CHECK (id = 1), version bigint NOT NULL)",
    "INSERT INTO core_settings_version (id, version) VALUES (1, nextval('core_settings_version_seq'))",
    """CREATE FUNCTION core_settings_version_bump() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO core_settings_version (id, version) VALUES (1, nextval('core_settings_version_seq'))
        ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version;
        RETURN NULL;
    END $$""",
    "CREATE TRIGGER core_setting_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON core_setting "
    "FOR EACH STATEMENT EXECUTE FUNCTION core_settings_version_bump()",
]
BACKWARD = [
    "DROP TRIGGER IF EXISTS core_setting_version ON core_setting",
    "DROP FUNCTION IF EXISTS core_settings_version_bump()",
    "DROP TABLE IF EXISTS core_settings_version",
    "DROP SEQUENCE IF EXISTS core_settings_version_seq",
]


class Migration(migrations.Migration):
    dependencies = [("core", "0004_idempotency_user_unindexed")]

    operations = [postgres_only(FORWARD, BACKWARD)]
