"""Velocity holds on coin purchases (PRODUCT.md §7): past the hourly numbers a purchase is still
accepted and credited, but the wallet is held for staff review; deleting the lock releases it."""

from __future__ import annotations

import pytest

from creatornext.core import config
from creatornext.ledger import selectors as ledger
from gifts.config import VELOCITY_AMOUNT_PER_HOUR, VELOCITY_PURCHASES_PER_HOUR
from gifts.models import CoinPack, WalletLock
from tests.support.world import api_client, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def buy(fake_stripe, django_capture_on_commit_callbacks):
    counter = {"n": 0}

    def _buy(user, coins=700):
        counter["n"] += 1
        body = {"pack": CoinPack.objects.get(coins=coins).pk, "payment_method": "pm_card_visa"}
        with django_capture_on_commit_callbacks(execute=True):
            return api_client(user).post("/api/v1/coin-purchases/", body, format="json",
                                         HTTP_IDEMPOTENCY_KEY=f"velocity-{counter['n']}")
    return _buy


def send_rose(send, fan, video):
    return send(fan, video, gift="Rose", quantity=1)


def test_a_purchase_past_the_hourly_count_is_credited_but_held_for_review(buy, send, video, nothing_changed):
    staff = make_user("velocity_staff", staff=True)
    config.set_value(definition=VELOCITY_PURCHASES_PER_HOUR, value=1, actor=staff)
    fan = make_user("fast_fan")
    assert buy(fan).json()["status"] == "succeeded"
    assert not WalletLock.objects.filter(fan=fan).exists()
    second = buy(fan)
    assert second.status_code == 201 and second.json()["status"] == "succeeded"  # accepted
    assert ledger.wallet(fan)["coins"] == 1400  # and credited
    lock = WalletLock.objects.get(fan=fan)
    assert "Velocity: 2 coin purchases" in lock.reason
    with nothing_changed():  # held: nothing can be spent or bought until staff look
        held = send_rose(send, fan, video)
    assert (held.status_code, held.json()["error"]["code"]) == (409, "invalid_state")
    assert buy(fan).status_code == 409
    lock.delete()  # the review queue (WalletLockAdmin): staff release
    assert send_rose(send, fan, video).status_code == 201


def test_the_hourly_amount_holds_too_and_others_are_not_held(buy):
    staff = make_user("velocity_staff", staff=True)
    config.set_value(definition=VELOCITY_AMOUNT_PER_HOUR, value=1_000, actor=staff)
    fan, other = make_user("big_fan"), make_user("small_fan")
    assert buy(other, coins=70).json()["status"] == "succeeded"
    assert buy(fan, coins=1400).json()["status"] == "succeeded"
    assert WalletLock.objects.filter(fan=fan).exists()
    assert not WalletLock.objects.filter(fan=other).exists()
