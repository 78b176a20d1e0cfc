"""LIVE gifts and diamond redemption: streams, the feed, rounding, caps, review, R1 and R15."""

from __future__ import annotations

import pytest
from django.utils import timezone

from creatornext.core import config
from creatornext.ledger import selectors as ledger
from eligibility.defaults import seed_defaults
from gifts.config import REDEEM_REVIEW_THRESHOLD
from gifts.defaults import seed_catalog
from gifts.models import GiftSend, Redemption
from gifts.selectors import FEED_SETTLE
from gifts.services import redemption_review
from tests.eligibility.helpers import enroll, make_creator
from tests.gifts.conftest import gift_id
from tests.support.concurrency import run_together
from tests.support.ledger import give_coins, give_diamonds
from tests.support.world import api_client, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def live_creator(db):
    profile = make_creator("maya.makes")
    enroll(profile, "creator-next", "live-gifts")
    return profile


def start(creator, title="Kiln opening"):
    return api_client(creator.user).post("/api/v1/live-streams/", {"title": title}, format="json")


def send_live(user, stream, gift="Rose", quantity=1, key="k"):
    return api_client(user).post("/api/v1/gift-sends/", {
        "creator": "maya.makes", "gift": gift_id(gift), "quantity": quantity, "live_stream": stream},
        format="json", HTTP_IDEMPOTENCY_KEY=key)


def test_gifts_during_a_live_appear_in_its_feed_and_stop_when_it_ends(live_creator, nothing_changed):
    fan = make_user("fan")
    give_coins(fan, 1000)
    stream = start(live_creator).json()["id"]
    assert send_live(fan, stream, "Panda", 2, key="a").status_code == 201
    assert send_live(fan, stream, "Rainbow", 1, key="b").status_code == 201
    feed = api_client(None).get(f"/api/v1/live-streams/{stream}/feed/").json()
    assert [(i["gift"], i["quantity"], i["fan"]) for i in feed["results"]] == [("Rainbow", 1, "fan"),
                                                                                 ("Panda", 2, "fan")]
    # Following with the cursor: the newest seconds come again until they settle, then only newer gifts
    again = api_client(None).get(f"/api/v1/live-streams/{stream}/feed/?after={feed['cursor']}").json()
    assert [i["id"] for i in again["results"]] == [i["id"] for i in feed["results"]]
    GiftSend.objects.update(created_at=timezone.now() - FEED_SETTLE)
    settled = api_client(None).get(f"/api/v1/live-streams/{stream}/feed/?after={feed['cursor']}").json()
    assert api_client(None).get(f"/api/v1/live-streams/{stream}/feed/?after={settled['cursor']}").json()[
        "results"] == []
    summary = api_client(live_creator.user).get(f"/api/v1/live-streams/{stream}/").json()
    assert summary["diamonds"] == 110 and summary["top_gifters"] == [{"fan": "fan", "coins": 110}]

    assert api_client(live_creator.user).post(f"/api/v1/live-streams/{stream}/end/").status_code == 200
    with nothing_changed():
        after_end = send_live(fan, stream, key="c")
    assert (after_end.status_code, after_end.json()["error"]["code"]) == (409, "invalid_state")
    again = api_client(live_creator.user).post(f"/api/v1/live-streams/{stream}/end/")
    assert again.status_code == 409


def test_a_remembered_send_to_a_stream_that_has_ended_is_409_and_changes_nothing(live_creator, nothing_changed):
    # The second send of the same gift is planned with the facts the process remembered from the
    # first, checked again by a guard in its own message (decision 0021): the stream's end counts.
    fan = make_user("fan")
    give_coins(fan, 100)
    stream = start(live_creator).json()["id"]
    assert send_live(fan, stream, key="a").status_code == 201  # accounts made
    assert send_live(fan, stream, key="b").status_code == 201  # facts remembered
    assert send_live(fan, stream, key="c").status_code == 201  # the guarded send
    assert api_client(live_creator.user).post(f"/api/v1/live-streams/{stream}/end/").status_code == 200
    with nothing_changed():
        after_end = send_live(fan, stream, key="d")
    assert (after_end.status_code, after_end.json()["error"]["code"]) == (409, "invalid_state")


def test_the_feed_cursor_never_passes_a_gift_that_commits_late(live_creator):
    # Concurrent sends commit out of id order (their ids are drawn a moment before they commit):
    # a follower that has seen a newer gift must still get an older id that commits after it.
    fan = make_user("fan")
    give_coins(fan, 1000)
    stream = start(live_creator).json()["id"]
    first = send_live(fan, stream, key="a").json()["id"]
    late_id = send_live(fan, stream, key="b").json()["id"]
    newest = send_live(fan, stream, key="c").json()["id"]
    GiftSend.objects.filter(pk=first).update(created_at=timezone.now() - FEED_SETTLE)
    late = GiftSend.objects.get(pk=late_id)
    GiftSend.objects.filter(pk=late_id).delete()  # as a follower sees it before it commits
    follow = api_client(None).get(f"/api/v1/live-streams/{stream}/feed/").json()
    assert [i["id"] for i in follow["results"]] == [newest, first] and follow["cursor"] == first
    GiftSend.objects.bulk_create([late])  # …and now it commits, with its smaller id
    follow = api_client(None).get(f"/api/v1/live-streams/{stream}/feed/?after={follow['cursor']}").json()
    assert [i["id"] for i in follow["results"]] == [newest, late_id]


def test_a_follower_gets_every_gift_of_a_burst_larger_than_a_page(live_creator):
    """Following (?after=), pages hold the oldest gifts after the cursor: 120 gifts between two
    polls all arrive, in three pages, the first two saying ``more``."""
    fan = make_user("fan")
    give_coins(fan, 1000)
    stream = start(live_creator).json()["id"]
    opened = api_client(None).get(f"/api/v1/live-streams/{stream}/feed/").json()
    assert (opened["results"], opened["cursor"], opened["more"]) == ([], 0, False)
    sent = [send_live(fan, stream, key=f"k{n}").json()["id"] for n in range(120)]
    GiftSend.objects.update(created_at=timezone.now() - FEED_SETTLE)
    seen, cursor, pages = [], opened["cursor"], []
    while True:
        page = api_client(None).get(f"/api/v1/live-streams/{stream}/feed/?after={cursor}").json()
        ids = [i["id"] for i in page["results"]]
        assert ids == sorted(ids, reverse=True)  # newest first within a page
        seen += ids
        pages.append((len(ids), page["more"]))
        cursor = page["cursor"]
        if not page["more"]:
            break
    assert pages == [(50, True), (50, True), (20, False)]
    assert sorted(seen) == sorted(sent)  # every gift, once
    # Without a cursor: the newest page, for a viewer who just arrived.
    newest = api_client(None).get(f"/api/v1/live-streams/{stream}/feed/").json()
    assert [i["id"] for i in newest["results"]] == sorted(sent, reverse=True)[:50]


def test_a_viewer_arriving_in_a_burst_follows_from_the_page_it_saw(live_creator):
    """The newest page of a busy stream (none of it settled yet) sets the cursor just below its
    oldest gift: following goes on from there, not from the stream's first gift."""
    fan = make_user("fan")
    give_coins(fan, 1000)
    stream = start(live_creator).json()["id"]
    sent = [send_live(fan, stream, key=f"k{n}").json()["id"] for n in range(55)]
    GiftSend.objects.filter(pk__in=sent[:5]).update(created_at=timezone.now() - FEED_SETTLE)
    GiftSend.objects.filter(pk__in=sent[5:]).update(created_at=timezone.now())
    opened = api_client(None).get(f"/api/v1/live-streams/{stream}/feed/").json()
    assert [i["id"] for i in opened["results"]] == sent[5:][::-1] and opened["cursor"] == sent[5] - 1
    follow = api_client(None).get(f"/api/v1/live-streams/{stream}/feed/?after={opened['cursor']}").json()
    assert [i["id"] for i in follow["results"]] == sent[5:][::-1] and follow["cursor"] == opened["cursor"]


@pytest.mark.parametrize("after", ["-1", "x", "1" * 19, "", "²", "%C2%B2"])
def test_a_bad_feed_cursor_is_400(live_creator, after):
    stream = start(live_creator).json()["id"]
    response = api_client(None).get(f"/api/v1/live-streams/{stream}/feed/?after={after}")
    assert (response.status_code, response.json()["error"]["code"]) == (400, "invalid")


def test_only_creators_enrolled_in_live_gifts_can_go_live(nothing_changed):
    creator = make_creator("small")
    api_client(creator.user)
    with nothing_changed():
        response = start(creator)
    assert (response.status_code, response.json()["error"]["code"]) == (409, "not_eligible")


def redeem(creator, diamonds, key="r"):
    return api_client(creator.user).post("/api/v1/redemptions/", {"diamonds": diamonds}, format="json",
                                         HTTP_IDEMPOTENCY_KEY=key)


def test_redemption_rounds_down_and_keeps_the_odd_diamond(live_creator):
    give_diamonds(live_creator.user, 2_001)
    response = redeem(live_creator, 2_001)
    assert response.status_code == 201
    body = response.json()
    assert (body["status"], body["diamonds"], body["amount"]) == ("approved", 2_000,
                                                                  {"amount": 1_000, "currency": "USD"})
    wallet = ledger.wallet(live_creator.user)
    assert wallet["diamonds"] == 1
    assert wallet["cash"][0]["pending"] == 1_000  # held for the holding period like any income


def test_below_the_minimum_is_400_and_changes_nothing(live_creator, nothing_changed):
    give_diamonds(live_creator.user, 5_000)
    api_client(live_creator.user)
    with nothing_changed():
        response = redeem(live_creator, 1_999)  # 9.99 < 10.00
    assert response.status_code == 400
    assert "2,000 diamonds" in response.json()["error"]["fields"]["diamonds"][0]


def test_more_than_the_balance_is_409_insufficient_funds(live_creator, nothing_changed):
    give_diamonds(live_creator.user, 2_000)
    api_client(live_creator.user)
    with nothing_changed():
        response = redeem(live_creator, 4_000)
    assert (response.status_code, response.json()["error"]["code"]) == (409, "insufficient_funds")


def test_the_daily_cap_and_the_review_threshold(live_creator, nothing_changed):
    staff = make_user("boss", staff=True)
    give_diamonds(live_creator.user, 500_000)
    assert redeem(live_creator, 90_000, "a").json()["status"] == "approved"  # 450.00
    second = redeem(live_creator, 20_000, "b").json()  # 100.00 → 550.00 today > 500.00
    assert second["status"] == "in_review"
    assert redeem(live_creator, 90_000, "c").json()["status"] == "in_review"  # 1,000.00 exactly
    with nothing_changed():
        over = redeem(live_creator, 2_000, "d")
    assert (over.status_code, over.json()["error"]["code"]) == (409, "limit_exceeded")

    # Review: reject returns the diamonds, approve pays
    before = ledger.wallet(live_creator.user)["diamonds"]
    rejected = redemption_review(redemption=Redemption.objects.get(pk=second["id"]), actor=staff,
                                 approve=False, reason="unusual pattern")
    assert rejected.status == "rejected"
    assert ledger.wallet(live_creator.user)["diamonds"] == before + 20_000
    pending = ledger.wallet(live_creator.user)["cash"][0]["pending"]
    third = Redemption.objects.get(status="in_review")
    redemption_review(redemption=third, actor=staff, approve=True, reason="checked")
    assert ledger.wallet(live_creator.user)["cash"][0]["pending"] == pending + 45_000
    config.set_value(definition=REDEEM_REVIEW_THRESHOLD, value=0, actor=staff)


@pytest.mark.django_db(transaction=True)
def test_r1_50_concurrent_redemptions_totalling_3x_the_balance():
    seed_defaults()
    seed_catalog()
    creator = make_creator("maya.makes")
    give_diamonds(creator.user, 50_000)  # 50 × 3,000 = 150,000 = 3 × 50,000
    codes = run_together(40, lambda i: redeem(creator, 3_000, f"r1-{i}").status_code)
    codes += run_together(10, lambda i: redeem(creator, 3_000, f"r1b-{i}").status_code)
    assert codes.count(201) == 16 and codes.count(409) == 34  # 16 × 3,000 = 48,000 ≤ 50,000
    assert ledger.wallet(creator.user)["diamonds"] == 2_000
    assert all(c in (201, 409) for c in codes)


@pytest.mark.django_db(transaction=True)
def test_r15_concurrent_redemptions_straddling_the_daily_cap_stop_exactly_at_it():
    seed_defaults()
    creator = make_creator("maya.makes")
    give_diamonds(creator.user, 1_000_000)
    # 8 × 150.00 at once against 1,000.00 a day → exactly 6 (900.00) pass
    codes = run_together(8, lambda i: redeem(creator, 30_000, f"cap-{i}").status_code)
    assert sorted(codes) == [201] * 6 + [409] * 2
    total = sum(Redemption.objects.exclude(status="rejected").values_list("amount", flat=True))
    assert total == 90_000
    # The review threshold: only redemptions after 500.00 are in review
    assert sorted(Redemption.objects.values_list("status", flat=True)) == ["approved"] * 3 + ["in_review"] * 3


