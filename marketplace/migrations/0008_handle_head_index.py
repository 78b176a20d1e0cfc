"""PostgreSQL only: relevance's handle tier for three- and four-letter words walks the handle's
first three letters in followers order (decision 0009, fifth pass, 2026-12-06).

Tier 1 ("the handle starts with the word", ordered by followers) read every matching entry of
``mkt_profile_handle_prefix`` and sorted them: ``q=kalo`` at one million profiles reads 5,118
entries and sorts them, 1.2–1.6 ms. Short words are the ones thousands of handles start with
(type-ahead sends them), so for a word of three or four letters the tier is now
``left(lower(handle), 3) = 'kal'`` — an equality this index answers in followers order — with,
for four letters, ``left(lower(handle), 4) = 'kalo'`` checked from the ``handle`` the index
carries: the walk stops at the page's 26th match. Longer words keep the prefix range (they are
selective), shorter ones too (the planner walks the followers index for them).

Not ``LIKE 'kalo%'`` next to the equality: the planner then multiplies the two selectivities as
if independent, takes ~50 matches for 5,000 and ANDs the two indexes' bitmaps (86 ms measured).
"""

import importlib

from django.db import migrations

_run = importlib.import_module("marketplace.migrations.0005_profile_cards")._run  # PostgreSQL only
HEAD_INDEX = ("CREATE INDEX mkt_profile_handle_head ON marketplace_marketplaceprofile "
              "(left(lower(handle), 3), followers DESC, id DESC) INCLUDE (handle)")


class Migration(migrations.Migration):
    dependencies = [("marketplace", "0007_listed_flag_on_cards")]

    operations = [migrations.RunPython(_run([HEAD_INDEX]), _run(["DROP INDEX IF EXISTS mkt_profile_handle_head"]))]
