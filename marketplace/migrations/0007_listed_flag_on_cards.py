"""PostgreSQL only: each profile's card also says whether search shows the profile (decision
0009, fifth pass, 2026-12-06).

Search drew a page's cards with a probe per candidate — the creator's ``marketplace`` enrolment,
the creator and the account (three index look-ups each, 26 candidates a page): 0.28 ms of
PostgreSQL against 0.08 ms for the cards alone (pgbench, one connection, 1M profiles), and a
statement of its own. ``marketplace_profilecard.listed`` now holds the probe's answer, kept by
triggers on every table the answer depends on, so the walk and the cards are one statement and
the cards are primary-key reads.

The rule is eligibility's (``eligibility.selectors.enrolled_in``: the creator's enrolment in the
``marketplace`` program has status ``enrolled``) and the account's (not deleted); it is written
once here in SQL, ``marketplace_listed``, and ``tests/marketplace/test_listed_flag.py`` holds it
equal to the ORM probe (``selectors.listed``) through every change that can move it. Who writes:

- a profile insert or update: the card trigger (migration 0005) writes the flag with the card;
- an enrolment inserted, deleted, or changing status, program or creator;
- an account whose ``deleted_at`` changes (the trigger first takes the creator's row lock, as
  ``account_delete`` does next, so a profile being created at that moment — under the same lock,
  ``marketplace.services`` — is either seen or sees the deletion);
- a creator whose user changes; a program whose slug changes (every card: never done in practice).

Concurrent writers: each flag is computed by a VOLATILE function after the card row is locked
(``UPDATE``, or ``ON CONFLICT DO UPDATE``), so in READ COMMITTED it reads the other writer's
committed change, never the snapshot from before the wait. Enrolment changes and profile
writes also both hold the creator's row lock (``eligibility.services``, ``marketplace.services``).
"""

import importlib

from django.db import migrations

# Migration 0005's card expression, trigger function (put back on the way down) and runner.
_M0005 = importlib.import_module("marketplace.migrations.0005_profile_cards")
CARD = _M0005.CARD
_run = _M0005._run

# PL/pgSQL, not SQL: PostgreSQL 15 plans an SQL function's query again on every call from a
# trigger (no plan cache across calls: ~0.3 ms a profile written, a bulk load of 1M profiles ran
# at ~1,000 rows/s), where PL/pgSQL keeps its plans for the session.
LISTED = """
CREATE FUNCTION marketplace_listed(creator bigint) RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
    BEGIN
        RETURN EXISTS (
            SELECT 1 FROM eligibility_enrollment e
            JOIN eligibility_program g ON g.id = e.program_id
            JOIN accounts_creatorprofile c ON c.id = e.creator_id
            JOIN accounts_user u ON u.id = c.user_id
            WHERE e.creator_id = creator AND g.slug = 'marketplace' AND e.status = 'enrolled'
              AND u.deleted_at IS NULL);
    END $$
"""

RELIST = """
CREATE FUNCTION marketplace_relist(creator bigint) RETURNS void LANGUAGE plpgsql VOLATILE AS $$
    BEGIN
        UPDATE marketplace_profilecard c SET listed = marketplace_listed(p.creator_id)
        FROM marketplace_marketplaceprofile p WHERE p.creator_id = creator AND c.profile_id = p.id;
    END $$
"""

ON_ENROLLMENT = """
CREATE FUNCTION marketplace_listed_on_enrollment() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP <> 'INSERT' THEN
            PERFORM marketplace_relist(OLD.creator_id);
        END IF;
        IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND NEW.creator_id <> OLD.creator_id) THEN
            PERFORM marketplace_relist(NEW.creator_id);
        END IF;
        RETURN NULL;
    END $$
"""

ON_ACCOUNT = """
CREATE FUNCTION marketplace_listed_on_account() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE creator bigint;
    BEGIN
        FOR creator IN SELECT id FROM accounts_creatorprofile WHERE user_id = NEW.id
                       ORDER BY id FOR NO KEY UPDATE LOOP
            PERFORM marketplace_relist(creator);
        END LOOP;
        RETURN NULL;
    END $$
"""

ON_CREATOR = """
CREATE FUNCTION marketplace_listed_on_creator() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM marketplace_relist(NEW.id);
        RETURN NULL;
    END $$
"""

ON_PROGRAM = """
CREATE FUNCTION marketplace_listed_on_program() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE marketplace_profilecard c SET listed = marketplace_listed(p.creator_id)
        FROM marketplace_marketplaceprofile p WHERE c.profile_id = p.id;
        RETURN NULL;
    END $$
"""


# The card trigger's function (migration 0005's) with the flag; fixed SQL only, the card
# expression put in with str.replace. On conflict the flag is computed again in SET, after
# the row lock (see the docstring).
CARD_WRITE = """CREATE OR REPLACE FUNCTION marketplace_profilecard_write() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO marketplace_profilecard (profile_id, card, listed)
        SELECT p.id, <card>, marketplace_listed(p.creator_id) FROM (SELECT (NEW).*) p
        ON CONFLICT (profile_id) DO UPDATE
            SET card = EXCLUDED.card, listed = marketplace_listed(NEW.creator_id);
        RETURN NULL;
    END $$"""

FORWARD = [
    "ALTER TABLE marketplace_profilecard ADD COLUMN listed boolean NOT NULL DEFAULT false",
    LISTED, RELIST, ON_ENROLLMENT, ON_ACCOUNT, ON_CREATOR, ON_PROGRAM,
    CARD_WRITE.replace("<card>", CARD),
    "CREATE TRIGGER marketplace_listed_on_enrollment_change AFTER INSERT OR DELETE "
    "ON eligibility_enrollment FOR EACH ROW EXECUTE FUNCTION marketplace_listed_on_enrollment()",
    "CREATE TRIGGER marketplace_listed_on_enrollment_update AFTER UPDATE ON eligibility_enrollment "
    "FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status "
    "OR OLD.program_id IS DISTINCT FROM NEW.program_id OR OLD.creator_id IS DISTINCT FROM NEW.creator_id) "
    "EXECUTE FUNCTION marketplace_listed_on_enrollment()",
    "CREATE TRIGGER marketplace_listed_on_account AFTER UPDATE ON accounts_user FOR EACH ROW "
    "WHEN (OLD.deleted_at IS DISTINCT FROM NEW.deleted_at) EXECUTE FUNCTION marketplace_listed_on_account()",
    "CREATE TRIGGER marketplace_listed_on_creator AFTER UPDATE ON accounts_creatorprofile FOR EACH ROW "
    "WHEN (OLD.user_id IS DISTINCT FROM NEW.user_id) EXECUTE FUNCTION marketplace_listed_on_creator()",
    "CREATE TRIGGER marketplace_listed_on_program AFTER UPDATE ON eligibility_program FOR EACH ROW "
    "WHEN (OLD.slug IS DISTINCT FROM NEW.slug) EXECUTE FUNCTION marketplace_listed_on_program()",
    # The flags of the cards that exist (one statement; 1M profiles: seconds).
    "UPDATE marketplace_profilecard c SET listed = marketplace_listed(p.creator_id) "
    "FROM marketplace_marketplaceprofile p WHERE c.profile_id = p.id",
]
BACKWARD = [
    "DROP TRIGGER IF EXISTS marketplace_listed_on_program ON eligibility_program",
    "DROP TRIGGER IF EXISTS marketplace_listed_on_creator ON accounts_creatorprofile",
    "DROP TRIGGER IF EXISTS marketplace_listed_on_account ON accounts_user",
    "DROP TRIGGER IF EXISTS marketplace_listed_on_enrollment_update ON eligibility_enrollment",
    "DROP TRIGGER IF EXISTS marketplace_listed_on_enrollment_change ON eligibility_enrollment",
    _M0005.FUNCTION.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1).replace("<card>", CARD),
    "DROP FUNCTION IF EXISTS marketplace_listed_on_program()",
    "DROP FUNCTION IF EXISTS marketplace_listed_on_creator()",
    "DROP FUNCTION IF EXISTS marketplace_listed_on_account()",
    "DROP FUNCTION IF EXISTS marketplace_listed_on_enrollment()",
    "DROP FUNCTION IF EXISTS marketplace_relist(bigint)",
    "DROP FUNCTION IF EXISTS marketplace_listed(bigint)",
    "ALTER TABLE marketplace_profilecard DROP COLUMN IF EXISTS listed",
]


class Migration(migrations.Migration):
    dependencies = [
        ("marketplace", "0006_facet_codes_and_handle_tiers"),
        ("eligibility", "0004_metrics_import"),
        ("accounts", "0003_block"),
    ]

    operations = [migrations.RunPython(_run(FORWARD), _run(BACKWARD))]
