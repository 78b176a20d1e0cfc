"""The marketplace search index (decision 0022): what the one writer takes in, and when.

``test_search.py`` runs every search test on the index too (each search taking in the changed
cards first); these are the writer's own rules: it follows the card table, never skips a change
that commits late, never shows a profile that is not listed, and there is only one of it.
"""

from __future__ import annotations

import threading
from io import StringIO

import psycopg2
import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from marketplace import search_index, selectors, tasks
from marketplace.models import MarketplaceProfile
from marketplace.selectors import SearchParams
from tests.eligibility.helpers import status_of
from tests.marketplace.helpers import brand_member, listed_creator, search, set_followers


@pytest.fixture
def index(settings, tmp_path):
    """The index switched on, in a directory of the test's own; nothing taken in until asked."""
    settings.MARKETPLACE_SEARCH_INDEX = str(tmp_path / "search-index")
    return tmp_path / "search-index"


def indexed_ids() -> set[int]:
    snap = search_index.snapshot()
    assert snap is not None
    return {row_id for _, row_id in search_index.walk(snap, search_index.segment_query(SearchParams(), None),
                                                      "followers", None, True, 1_000)}


@pytest.mark.django_db
def test_until_it_is_built_postgresql_answers_and_then_the_index_does(index):
    buyer = brand_member()[0]
    listed_creator("ana.cooks", bio="Vegan dinners")
    assert search_index.snapshot() is None  # never built
    assert search(buyer, q="vegan", country="US") == ["ana.cooks"]  # PostgreSQL
    assert search_index.catch_up() == 1
    ids = indexed_ids()
    assert ids == set(MarketplaceProfile.objects.values_list("id", flat=True))
    # A profile the index has not taken in yet is not found by a text search (the index answers)...
    listed_creator("bo.cooks", bio="Vegan baking")
    assert search(buyer, q="vegan", country="US") == ["ana.cooks"]
    # ...until the writer's next pass.
    assert search_index.catch_up() >= 1
    assert sorted(search(buyer, q="vegan", country="US")) == ["ana.cooks", "bo.cooks"]


@pytest.mark.django_db
def test_text_with_a_filter_or_rare_text_goes_to_the_index_common_text_alone_to_postgresql(index, monkeypatch):
    from django.test.utils import CaptureQueriesContext

    buyer = brand_member()[0]
    for i in range(30):
        listed_creator(f"maker{i}", bio="Daily vlogs" + (" and kintsugi" if i == 0 else ""))
    search_index.catch_up()

    def answered_by(**params) -> str:
        with CaptureQueriesContext(connection) as captured:
            assert search(buyer, **params)
        return "index" if any("mkt_index_cards" in q["sql"] for q in captured.captured_queries) else "postgresql"

    assert answered_by(q="daily") == "postgresql"  # in every bio: PostgreSQL walks to the page
    assert answered_by(q="kintsugi") == "postgresql"  # 1 of 30 bios: 3 %, not rare by the 1 % rule
    monkeypatch.setattr(selectors, "INDEX_TEXT_SHARE", 0.05)
    assert answered_by(q="kintsugi") == "index"  # rare now: PostgreSQL would sort every match
    assert answered_by(q="daily") == "postgresql"
    assert answered_by(q="daily", country="US") == "index"
    assert answered_by(country="US") == "postgresql"  # no text


@pytest.mark.django_db
def test_a_creator_who_leaves_search_is_not_shown_even_by_a_stale_index(index):
    buyer = brand_member()[0]
    ana = listed_creator("ana.cooks", bio="Vegan dinners")
    listed_creator("bo.cooks", bio="Vegan baking", followers=30_000)
    search_index.catch_up()
    set_followers(ana, 9_000)  # below the gate: paused
    assert status_of(ana, "marketplace") == "paused"
    # The index still holds her; the page's cards say who is listed now.
    assert len(indexed_ids()) == 2
    assert search(buyer, q="vegan", country="US") == ["bo.cooks"]
    search_index.catch_up()
    assert indexed_ids() == {MarketplaceProfile.objects.get(handle="bo.cooks").pk}


@pytest.mark.django_db
def test_a_rebuild_takes_in_every_card_again(index):
    listed_creator("ana.cooks")
    listed_creator("bo.cooks")
    assert search_index.catch_up() == 2
    assert search_index.catch_up() in (0, 2)  # only what may have been in flight (this test's transaction)
    assert search_index.catch_up(rebuild=True) == 2
    assert len(indexed_ids()) == 2


@pytest.mark.django_db(transaction=True)
def test_a_card_that_commits_after_a_pass_began_is_taken_in_by_the_next(index):
    # A change made before the writer's pass but committed after it read: an ever-growing number
    # drawn at write time would already be behind the writer's mark. The mark is the snapshot's
    # xmin (migration 0011), so the next pass reads that card again.
    creator = listed_creator("ana.cooks", bio="Vegan dinners")
    profile_id = MarketplaceProfile.objects.get(creator=creator).pk
    assert search_index.catch_up() == 1
    settings_dict = connection.settings_dict
    late = psycopg2.connect(dbname=settings_dict["NAME"], user=settings_dict["USER"],
                            host=settings_dict["HOST"] or None, port=settings_dict["PORT"] or None,
                            password=settings_dict["PASSWORD"] or None)
    try:
        with late.cursor() as cur:  # in a transaction until committed below
            cur.execute("UPDATE marketplace_marketplaceprofile SET bio = 'Zebra stripes' WHERE id = %s",
                        [profile_id])
        search_index.catch_up()  # reads the card as it was, and moves its mark
        assert zebras() == 0
        late.commit()
    finally:
        late.close()
    search_index.catch_up()
    assert zebras() == 1


def zebras() -> int:
    snap = search_index.snapshot()
    assert snap is not None
    return len(search_index.walk(snap, search_index.segment_query(SearchParams(q="zebra"), None),
                                 "followers", None, True, 10))


@pytest.mark.django_db(transaction=True)
def test_there_is_one_writer_at_a_time(index):
    listed_creator("ana.cooks")
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        from django.db import connection as own

        with own.cursor() as cur:
            cur.execute("SELECT pg_advisory_lock(%s)", [search_index.WRITER_LOCK])
            held.set()
            release.wait(10)
            cur.execute("SELECT pg_advisory_unlock(%s)", [search_index.WRITER_LOCK])
        own.close()

    other = threading.Thread(target=hold)
    other.start()
    try:
        assert held.wait(10)
        assert search_index.catch_up() is None  # another writer is at it: nothing done
        assert tasks.search_index_catch_up() is None
        assert search_index.snapshot() is None  # still never built
    finally:
        release.set()
        other.join()
    assert tasks.search_index_catch_up() == 1


@pytest.mark.django_db
def test_the_command_builds_the_index_and_says_how_much_it_read(index):
    listed_creator("ana.cooks")
    out = StringIO()
    call_command("search_index", stdout=out)
    assert "1 cards taken in" in out.getvalue()
    assert "1 cards read" in out.getvalue()  # progress
    assert len(indexed_ids()) == 1


@pytest.mark.django_db
def test_the_command_says_when_the_index_is_off(settings):
    settings.MARKETPLACE_SEARCH_INDEX = ""
    with pytest.raises(CommandError, match="MARKETPLACE_SEARCH_INDEX"):
        call_command("search_index")

