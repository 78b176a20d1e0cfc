"""Gift sends: exact conversion, the breakdown, every refusal writing nothing, R2, query budget."""

from __future__ import annotations

import datetime
import json
import threading

import pytest
from django.db import connection
from rest_framework.authtoken.models import Token

from creatornext.accounts.models import Block, User
from creatornext.core import config
from creatornext.core.models import IdempotencyRecord
from creatornext.ledger import selectors as ledger
from creatornext.ledger.models import COIN, DIAMOND, MICRO_DIAMOND, AccountKind, Entry, Transaction
from eligibility.defaults import seed_defaults
from eligibility.models import Enrollment
from gifts import selectors
from gifts.config import DIAMONDS_PER_COIN_DEN, DIAMONDS_PER_COIN_NUM
from gifts.defaults import seed_catalog
from gifts.models import Gift, GiftSend, Video, WalletLock
from tests.eligibility.helpers import enroll, make_creator
from tests.gifts.conftest import gift_id
from tests.support.concurrency import many_connections, run_together
from tests.support.ledger import give_coins
from tests.support.world import api_client, make_user

pytestmark = pytest.mark.django_db


def diamonds(user):
    return ledger.wallet(user)["diamonds"]


def coins(user):
    return ledger.wallet(user)["coins"]


def test_a_rainbow_turns_100_coins_into_100_diamonds_with_the_breakdown(send, fan, video, creator):
    response = send(fan, video, gift="Rainbow")
    assert response.status_code == 201, response.content
    assert response.json() == {
        "id": response.json()["id"], "gift": "Rainbow", "quantity": 1, "coins_spent": 100,
        "diamonds_credited": 100, "diamonds_remainder": "0",
        "list_value": {"amount": 106, "currency": "USD"},  # 100 × 0.74/70 = 1.0571… → 1.06
        "creator_value": {"amount": 50, "currency": "USD"},  # 100 diamonds × 0.005
        "platform_share_bps": 5270,  # 1 − 0.50 / 1.0571… = 52.70%
    }
    assert (coins(fan), diamonds(creator.user)) == (900, 100)


def test_quantity_99_of_the_dearest_gift(send, video, creator):
    whale = make_user("whale")
    give_coins(whale, 44_999 * 99)
    response = send(whale, video, gift="Universe", quantity=99)
    assert response.status_code == 201
    assert response.json()["coins_spent"] == response.json()["diamonds_credited"] == 4_454_901
    assert (coins(whale), diamonds(creator.user)) == (0, 4_454_901)


def test_a_fractional_rate_sends_the_fraction_to_the_remainder_and_past_sends_keep_their_rate(
        send, fan, video, creator):
    staff = make_user("boss", staff=True)
    first = GiftSend.objects.get(pk=send(fan, video, gift="Panda").json()["id"])  # at 1:1
    config.set_value(definition=DIAMONDS_PER_COIN_NUM, value=85, actor=staff)
    config.set_value(definition=DIAMONDS_PER_COIN_DEN, value=100, actor=staff)
    response = send(fan, video, gift="Panda", quantity=3)  # 15 coins × 0.85 = 12.75 diamonds
    body = response.json()
    assert (body["coins_spent"], body["diamonds_credited"], body["diamonds_remainder"]) == (15, 12, "3/4")
    second = GiftSend.objects.get(pk=body["id"])
    assert second.diamonds_credited * 1_000_000 + second.remainder_micro == 15 * 850_000
    assert (first.rate_num, first.rate_den, second.rate_num, second.rate_den) == (1, 1, 17, 20)
    remainder = Entry.objects.get(transaction__key=f"gift-send:{second.pk}", asset=MICRO_DIAMOND,
                                  account__kind=AccountKind.DIAMOND_REMAINDER)
    assert remainder.amount == 750_000
    first.refresh_from_db()
    assert first.diamonds_credited == 5  # history unchanged
    assert diamonds(creator.user) == 5 + 12


def refused(send, user, video, nothing_changed, **kw):
    with nothing_changed():
        response = send(user, video, **kw)
    return response.status_code, response.json()["error"]["code"]


def test_not_enough_coins_is_409_insufficient_funds(send, fan, video, nothing_changed):
    assert refused(send, fan, video, nothing_changed, gift="Drama Queen") == (409, "insufficient_funds")


def test_a_creator_not_enrolled_in_video_gifts_is_409(send, fan, nothing_changed):
    other = make_creator("small")
    video = Video.objects.create(creator=other, kind="original", title="x")
    assert refused(send, fan, video, nothing_changed) == (409, "not_eligible")


@pytest.mark.parametrize("kind", ["duet", "stitch", "ad", "sponsored"])
def test_duets_stitches_ads_and_sponsored_videos_cannot_receive_gifts(send, fan, creator, kind,
                                                                      nothing_changed):
    video = Video.objects.create(creator=creator, kind=kind, title="x")
    assert refused(send, fan, video, nothing_changed) == (409, "invalid_state")


def test_self_gifting_is_refused(send, video, creator, nothing_changed):
    give_coins(creator.user, 100)
    assert refused(send, creator.user, video, nothing_changed) == (400, "invalid")


def test_a_blocked_fan_is_403(send, fan, video, creator, nothing_changed):
    Block.objects.create(creator=creator, fan=fan)
    assert refused(send, fan, video, nothing_changed) == (403, "blocked")


def test_a_minor_is_403(send, video, nothing_changed):
    minor = make_user("teen", dob=datetime.date.today() - datetime.timedelta(days=365 * 16))
    api_client(minor)
    give_coins(minor, 100)
    assert refused(send, minor, video, nothing_changed) == (403, "age_restricted")


def test_a_locked_wallet_cannot_send(send, fan, video, nothing_changed):
    WalletLock.objects.create(fan=fan, reason="chargeback")
    assert refused(send, fan, video, nothing_changed) == (409, "invalid_state")


# A process remembers a token after its first use and the send's own facts query confirms it
# (TokenAuthentication(remember=True)): what changed since must still count, and nothing is written.
@pytest.mark.parametrize(("change", "to", "refusal"), [
    ("token deleted", "maya.makes", (401, "authentication_failed")),
    ("token deleted", "nobody", (401, "authentication_failed")),  # the facts query finds no creator
    ("user deactivated", "maya.makes", (401, "authentication_failed")),
    ("now a minor", "maya.makes", (403, "age_restricted")),
])
def test_a_remembered_token_is_confirmed_by_the_send(send, fan, video, nothing_changed, change, to, refusal):
    assert send(fan, video).status_code == 201  # this process remembers the fan's token from here on
    client = api_client(fan)  # the same token
    if change == "token deleted":
        Token.objects.filter(user=fan).delete()
    elif change == "user deactivated":
        User.objects.filter(pk=fan.pk).update(is_active=False)
    else:
        User.objects.filter(pk=fan.pk).update(date_of_birth=datetime.date.today() - datetime.timedelta(days=400))
    body = {"creator": to, "gift": gift_id("Rose"), "quantity": 1, "video": video.pk}
    with nothing_changed():
        r = client.post("/api/v1/gift-sends/", body, format="json", HTTP_IDEMPOTENCY_KEY="after")
    assert (r.status_code, r.json()["error"]["code"]) == refusal, r.content


@pytest.mark.parametrize(("extra", "field"), [
    ({"quantity": 0}, "quantity"), ({"quantity": 100}, "quantity"), ({"quantity": "5"}, "quantity"),
    ({"quantity": 1.5}, "quantity")])
def test_bad_quantities_are_400(send, fan, video, nothing_changed, extra, field):
    with nothing_changed():
        response = send(fan, video, **extra)
    assert response.status_code == 400 and field in response.json()["error"]["fields"]


def test_a_private_or_another_creators_video_is_400(send, fan, creator, nothing_changed):
    other = make_creator("other")
    for video in (Video.objects.create(creator=creator, kind="original", title="p", public=False),
                  Video.objects.create(creator=other, kind="original", title="o")):
        with nothing_changed():
            body = {"creator": "maya.makes", "gift": gift_id("Rose"), "quantity": 1, "video": video.pk}
            r = api_client(fan).post("/api/v1/gift-sends/", body, format="json", HTTP_IDEMPOTENCY_KEY="x")
        assert r.status_code == 400


def test_the_gift_send_path_stays_within_its_query_budget(send, fan, video, django_assert_max_num_queries,
                                                          django_capture_on_commit_callbacks, monkeypatch):
    monkeypatch.setattr(selectors, "ID_BLOCK_SECONDS", 3600)  # ids drawn a few at a time: none drawn below
    with django_capture_on_commit_callbacks(execute=True):  # commits: platform accounts are remembered
        send(fan, video)  # accounts exist after the first send (made in a transaction of its own)
        send(fan, video)  # the one-statement send, prepared once per connection; its facts remembered
        send(fan, video)  # the guarded send, prepared once per connection
    # 5 (was 28, then 21, 12, 7, 6): the test's gift and token look-ups (2), then one message: the
    # guard (the send's facts query again, refusing unless they are still what the process
    # remembered from the last send) and one statement for the send row, its posting (key, fan
    # update, creator update, entries) and the idempotency record with its response — with the
    # savepoint pair the test's own transaction adds around it (2); outside a transaction block
    # that message is its own transaction. The token, both owners' accounts and the platform
    # accounts are remembered after the first sends.
    with django_assert_max_num_queries(5):
        assert send(fan, video).status_code == 201


# The process remembers a send's facts after it succeeds; the next such send plans with them and
# a guard in its own message checks them again (decision 0021). Whatever changed since must count.
@pytest.mark.parametrize(("change", "refusal"), [
    ("blocked", (403, "blocked")),
    ("wallet locked", (409, "invalid_state")),
    ("token deleted", (401, "authentication_failed")),
    ("video private", (400, "invalid")),
    ("gift retired", (400, "invalid")),
    ("opted out", (409, "not_eligible")),
    ("now a minor", (403, "age_restricted")),
])
def test_a_remembered_send_is_refused_when_its_facts_changed(send, fan, video, creator, nothing_changed,
                                                             change, refusal):
    assert send(fan, video).status_code == 201  # accounts made
    assert send(fan, video).status_code == 201  # facts remembered
    client = api_client(fan)  # the same token
    if change == "blocked":
        Block.objects.create(creator=creator, fan=fan)
    elif change == "wallet locked":
        WalletLock.objects.create(fan=fan, reason="chargeback")
    elif change == "token deleted":
        Token.objects.filter(user=fan).delete()
    elif change == "video private":
        Video.objects.filter(pk=video.pk).update(public=False)
    elif change == "gift retired":
        Gift.objects.filter(name="Rose").update(active=False)
    elif change == "opted out":
        Enrollment.objects.filter(creator=creator, program__slug="video-gifts").update(status="opted_out")
    else:
        User.objects.filter(pk=fan.pk).update(date_of_birth=datetime.date.today() - datetime.timedelta(days=400))
    body = {"creator": "maya.makes", "gift": Gift.objects.get(name="Rose").pk, "quantity": 1, "video": video.pk}
    with nothing_changed():
        r = client.post("/api/v1/gift-sends/", body, format="json", HTTP_IDEMPOTENCY_KEY="after")
    assert (r.status_code, r.json()["error"]["code"]) == refusal, r.content


def test_a_remembered_send_follows_a_changed_rate(send, fan, video, creator):
    assert send(fan, video, gift="Panda").status_code == 201
    assert send(fan, video, gift="Panda").status_code == 201  # facts remembered, at 1:1
    staff = make_user("boss", staff=True)
    config.set_value(definition=DIAMONDS_PER_COIN_NUM, value=1, actor=staff)
    config.set_value(definition=DIAMONDS_PER_COIN_DEN, value=5, actor=staff)
    body = send(fan, video, gift="Panda").json()  # the guard sees the settings' new version
    assert (body["coins_spent"], body["diamonds_credited"]) == (5, 1)
    assert diamonds(creator.user) == 5 + 5 + 1


def _committed_video():
    """For tests whose sends commit (transaction=True): the catalog, @maya.makes enrolled in
    video-gifts, and one of her videos."""
    seed_defaults()
    seed_catalog()
    creator = make_creator("maya.makes")
    enroll(creator, "creator-next", "video-gifts")
    return creator, Video.objects.create(creator=creator, kind="original", title="burst")


@pytest.mark.django_db(transaction=True)
def test_r2_100_concurrent_sends_costing_twice_the_coins_never_overdraw_and_convert_exactly():
    creator, video = _committed_video()
    fan = make_user("fan")
    give_coins(fan, 250)  # 100 sends × 5 coins (Panda) = 500 = 2 × 250
    # 100 sends from 40 threads (each its own connection) released together: PostgreSQL's default
    # 100 connections are shared with the rest of the machine.
    barrier = threading.Barrier(40)
    codes, lock = [], threading.Lock()
    panda = gift_id("Panda")

    def sender(t):
        barrier.wait()
        try:
            client = api_client(fan)
            for i in range(t, 100, 40):
                r = client.post("/api/v1/gift-sends/", {
                    "creator": "maya.makes", "gift": panda, "quantity": 1, "video": video.pk},
                    format="json", HTTP_IDEMPOTENCY_KEY=f"burst-{i}")
                with lock:
                    codes.append(r.status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=sender, args=(t,)) for t in range(40)]
    with many_connections():
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert sorted(codes) == [201] * 50 + [409] * 50
    assert coins(fan) == 0
    debited = -sum(Entry.objects.filter(owner=fan, asset=COIN, amount__lt=0).values_list("amount", flat=True))
    credited = sum(Entry.objects.filter(owner=creator.user, asset=DIAMOND).values_list("amount", flat=True))
    remainder = sum(Entry.objects.filter(asset=MICRO_DIAMOND, account__kind=AccountKind.DIAMOND_REMAINDER)
                    .values_list("amount", flat=True))
    assert debited == 250
    assert credited * 1_000_000 + remainder == debited * 1_000_000  # rate 1:1
    assert GiftSend.objects.count() == 50
    # Each refused send undid its own statement (no BEGIN/COMMIT here: ledger_refuse): no key
    # record, no transaction row of its own.
    assert IdempotencyRecord.objects.count() == 50
    assert Transaction.objects.filter(kind="gift").count() == 50


def test_a_repeated_send_replays_its_stored_response_and_moves_coins_once(fan, video, creator):
    # On PostgreSQL the response is written by the send's own statement (Claim.expression).
    client = api_client(fan)
    body = {"creator": creator.handle, "gift": gift_id("Rainbow"), "quantity": 2, "video": video.pk}
    first = client.post("/api/v1/gift-sends/", body, format="json", HTTP_IDEMPOTENCY_KEY="once")
    again = client.post("/api/v1/gift-sends/", body, format="json", HTTP_IDEMPOTENCY_KEY="once")
    assert first.status_code == again.status_code == 201
    assert again.content == first.content
    assert again["Idempotent-Replayed"] == "true"
    assert (coins(fan), diamonds(creator.user), GiftSend.objects.count()) == (800, 200, 1)
    record = IdempotencyRecord.objects.get(key="once")
    assert (record.response_status, json.loads(record.response_body)) == (201, first.json())


def test_the_hand_built_response_is_what_its_output_serializer_renders(send, fan, video):
    from gifts import services
    from gifts.api import GiftSendCreateApi

    data = send(fan, video, gift="Rainbow", quantity=3).json()
    sent = GiftSend.objects.select_related("gift").get(pk=data["id"])
    b = services.breakdown(sent.coins_spent, sent.diamonds_credited)
    rendered = GiftSendCreateApi.OutputSerializer({
        "id": sent.pk, "gift": sent.gift.name, "quantity": sent.quantity, "coins_spent": sent.coins_spent,
        "diamonds_credited": sent.diamonds_credited, "diamonds_remainder": "0",
        "list_value": b.list_value, "creator_value": b.creator_value,
        "platform_share_bps": b.platform_share_bps}).data
    assert data == dict(rendered) == GiftSendCreateApi.out(sent)


@pytest.mark.django_db(transaction=True)
def test_ten_concurrent_sends_with_one_key_make_one_send_and_identical_responses():
    # The key is written with the send (@idempotent(deferred=True)): duplicates meet it at that
    # insert, after the first commits, roll back and replay, even when the fan could afford only
    # one send (a duplicate's own debit would be refused).
    _, video = _committed_video()
    fan, other = make_user("fan"), make_user("other")
    give_coins(fan, 5)
    give_coins(other, 5)
    body = {"creator": "maya.makes", "gift": gift_id("Panda"), "quantity": 1, "video": video.pk}
    # Every account exists now, so the sends below take the one-statement path.
    assert api_client(other).post("/api/v1/gift-sends/", body, format="json",
                                  HTTP_IDEMPOTENCY_KEY="first").status_code == 201

    def duplicate(_):
        r = api_client(fan).post("/api/v1/gift-sends/", body, format="json", HTTP_IDEMPOTENCY_KEY="burst")
        return r.status_code, r.content

    results = run_together(10, duplicate)
    assert {status for status, _ in results} == {201}
    assert len({content for _, content in results}) == 1  # byte-identical
    assert (coins(fan), GiftSend.objects.count(), IdempotencyRecord.objects.filter(key="burst").count()) == (0, 2, 1)


@pytest.mark.django_db(transaction=True)
def test_a_send_refused_by_its_own_statement_writes_nothing(nothing_changed):
    # Outside a transaction block the send is one statement, its own transaction: a refusal by the
    # coins' balance rule is undone by the statement itself (ledger_refuse), key record included.
    _, video = _committed_video()
    fan = make_user("fan")
    give_coins(fan, 5)
    client = api_client(fan)
    body = {"creator": "maya.makes", "gift": gift_id("Panda"), "quantity": 1, "video": video.pk}
    assert client.post("/api/v1/gift-sends/", body, format="json", HTTP_IDEMPOTENCY_KEY="a").status_code == 201
    with nothing_changed():
        refused = client.post("/api/v1/gift-sends/", body, format="json", HTTP_IDEMPOTENCY_KEY="b")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "insufficient_funds"
    give_coins(fan, 5)  # the key was not used up by the refusal
    assert client.post("/api/v1/gift-sends/", body, format="json", HTTP_IDEMPOTENCY_KEY="b").status_code == 201


def test_a_refused_send_leaves_its_key_free_for_the_retry(send, fan, video, creator, nothing_changed):
    client = api_client(fan)
    body = {"creator": creator.handle, "gift": gift_id("Rainbow"), "quantity": 20, "video": video.pk}
    with nothing_changed():
        refused = client.post("/api/v1/gift-sends/", body, format="json", HTTP_IDEMPOTENCY_KEY="retry")
    assert refused.status_code == 409
    give_coins(fan, 1000)
    again = client.post("/api/v1/gift-sends/", body, format="json", HTTP_IDEMPOTENCY_KEY="retry")
    assert again.status_code == 201 and "Idempotent-Replayed" not in again
    assert coins(fan) == 0


def test_the_same_key_with_another_body_is_409_and_sends_nothing(fan, video, creator, nothing_changed):
    client = api_client(fan)
    body = {"creator": creator.handle, "gift": gift_id("Rose"), "quantity": 1, "video": video.pk}
    assert client.post("/api/v1/gift-sends/", body, format="json", HTTP_IDEMPOTENCY_KEY="k").status_code == 201
    with nothing_changed():
        other = client.post("/api/v1/gift-sends/", {**body, "quantity": 2}, format="json",
                            HTTP_IDEMPOTENCY_KEY="k")
    assert other.status_code == 409 and other.json()["error"]["code"] == "idempotency_conflict"
