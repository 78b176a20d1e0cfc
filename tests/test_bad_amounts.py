"""R12: bad amounts — negative, zero, fractional, 2^63, strings, wrong or mixed currency, over
limits — across gift sends, coin purchases, redemptions and withdrawals → 400/409/429 with a clear
error, and nothing written. Tips have the same table in tests/tips/test_tips_api.py
(test_bad_amounts_are_400_and_change_nothing) and their caps in the tests after it.
"""

from __future__ import annotations

import pytest

from gifts.models import Gift, Video
from tests.eligibility.helpers import enroll, make_creator
from tests.support import connect
from tests.support.ledger import give_available_cash, give_coins, give_diamonds
from tests.support.world import api_client, make_user

pytestmark = pytest.mark.django_db

BIG = 2**63
USD = "USD"


def money(amount, currency=USD):
    return {"amount": amount, "currency": currency}


# (id, path, who, body (callable of the world's objects), statuses allowed, field or code expected)
CASES = [
    # Gift sends: quantity and gift are whole numbers in range; the fan holds 5 coins.
    ("gift-qty-negative", "/api/v1/gift-sends/", "fan", lambda w: w.gift(quantity=-1), {400}, "quantity"),
    ("gift-qty-zero", "/api/v1/gift-sends/", "fan", lambda w: w.gift(quantity=0), {400}, "quantity"),
    ("gift-qty-fraction", "/api/v1/gift-sends/", "fan", lambda w: w.gift(quantity=1.5), {400}, "quantity"),
    ("gift-qty-2^63", "/api/v1/gift-sends/", "fan", lambda w: w.gift(quantity=BIG), {400}, "quantity"),
    ("gift-qty-string", "/api/v1/gift-sends/", "fan", lambda w: w.gift(quantity="1"), {400}, "quantity"),
    ("gift-id-2^63", "/api/v1/gift-sends/", "fan", lambda w: w.gift(gift=BIG), {400}, "gift"),
    ("gift-id-negative", "/api/v1/gift-sends/", "fan", lambda w: w.gift(gift=-1), {400}, "gift"),
    ("gift-with-money", "/api/v1/gift-sends/", "fan", lambda w: w.gift(quantity=money(1)), {400}, "quantity"),
    ("gift-over-balance", "/api/v1/gift-sends/", "fan", lambda w: w.gift(quantity=99), {409},
     "insufficient_funds"),
    # Coin purchases: a pack id, never an amount.
    ("coins-pack-zero", "/api/v1/coin-purchases/", "fan", lambda w: w.pack(0), {400}, "pack"),
    ("coins-pack-negative", "/api/v1/coin-purchases/", "fan", lambda w: w.pack(-5), {400}, "pack"),
    ("coins-pack-2^63", "/api/v1/coin-purchases/", "fan", lambda w: w.pack(BIG), {400}, "pack"),
    ("coins-pack-string", "/api/v1/coin-purchases/", "fan", lambda w: w.pack("1"), {400}, "pack"),
    ("coins-pack-fraction", "/api/v1/coin-purchases/", "fan", lambda w: w.pack(1.5), {400}, "pack"),
    ("coins-pack-missing", "/api/v1/coin-purchases/", "fan", lambda w: w.pack(2**31 - 1), {400}, "pack"),
    # Redemptions: whole diamonds; the creator holds 3,000.
    ("redeem-zero", "/api/v1/redemptions/", "creator", lambda w: {"diamonds": 0}, {400}, "diamonds"),
    ("redeem-negative", "/api/v1/redemptions/", "creator", lambda w: {"diamonds": -2000}, {400}, "diamonds"),
    ("redeem-fraction", "/api/v1/redemptions/", "creator", lambda w: {"diamonds": 2000.5}, {400}, "diamonds"),
    ("redeem-2^63", "/api/v1/redemptions/", "creator", lambda w: {"diamonds": BIG}, {400}, "diamonds"),
    ("redeem-string", "/api/v1/redemptions/", "creator", lambda w: {"diamonds": "2000"}, {400}, "diamonds"),
    ("redeem-bool", "/api/v1/redemptions/", "creator", lambda w: {"diamonds": True}, {400}, "diamonds"),
    ("redeem-money", "/api/v1/redemptions/", "creator", lambda w: {"diamonds": money(2000)}, {400},
     "diamonds"),
    ("redeem-below-min", "/api/v1/redemptions/", "creator", lambda w: {"diamonds": 1}, {400}, "diamonds"),
    ("redeem-over-balance", "/api/v1/redemptions/", "creator", lambda w: {"diamonds": 20_000}, {409},
     "insufficient_funds"),
    ("redeem-over-daily-cap", "/api/v1/redemptions/", "creator", lambda w: {"diamonds": 2**62}, {409},
     "limit_exceeded"),
    # Withdrawals: Money in the creator's currency; the creator holds USD 500.00 available
    # (10.00 in the over-balance case).
    ("withdraw-zero", "/api/v1/withdrawals/", "creator", lambda w: {"amount": money(0)}, {400}, "amount"),
    ("withdraw-negative", "/api/v1/withdrawals/", "creator", lambda w: {"amount": money(-1000)}, {400},
     "amount"),
    ("withdraw-fraction", "/api/v1/withdrawals/", "creator", lambda w: {"amount": money(1000.5)}, {400},
     "amount"),
    ("withdraw-2^63", "/api/v1/withdrawals/", "creator", lambda w: {"amount": money(BIG)}, {400}, "amount"),
    ("withdraw-string", "/api/v1/withdrawals/", "creator", lambda w: {"amount": money("1000")}, {400},
     "amount"),
    ("withdraw-decimal-string", "/api/v1/withdrawals/", "creator", lambda w: {"amount": "10.00"}, {400},
     "amount"),
    ("withdraw-bare-number", "/api/v1/withdrawals/", "creator", lambda w: {"amount": 1000}, {400}, "amount"),
    ("withdraw-unknown-currency", "/api/v1/withdrawals/", "creator",
     lambda w: {"amount": money(1000, "XXX")}, {400}, "amount"),
    ("withdraw-no-currency", "/api/v1/withdrawals/", "creator", lambda w: {"amount": {"amount": 1000}},
     {400}, "amount"),
    ("withdraw-mixed-currency", "/api/v1/withdrawals/", "creator",
     lambda w: {"amount": {"amount": 1000, "currency": ["USD", "EUR"]}}, {400}, "amount"),
    ("withdraw-lowercase-currency", "/api/v1/withdrawals/", "creator",
     lambda w: {"amount": money(1000, "usd")}, {400}, "amount"),
    ("withdraw-wrong-currency", "/api/v1/withdrawals/", "creator",
     lambda w: {"amount": money(5000, "EUR")}, {400, 409}, None),
    ("withdraw-over-daily-max", "/api/v1/withdrawals/", "creator",
     lambda w: {"amount": money(100_001)}, {409}, "limit_exceeded"),
    ("withdraw-over-balance", "/api/v1/withdrawals/", "creator", lambda w: {"amount": money(2_000)},
     {409}, "insufficient_funds"),
]


class _World:
    def __init__(self, creator, video):
        self.creator, self.video = creator, video

    def gift(self, **override):
        body = {"creator": self.creator.handle, "gift": Gift.objects.get(name="Rose").pk, "quantity": 1,
                "video": self.video.pk}
        return {**body, **override}

    def pack(self, pack):
        return {"pack": pack, "payment_method": "pm_card_visa"}


@pytest.fixture
def world(fake_stripe):
    creator = make_creator("bad.amounts")
    enroll(creator, "creator-next", "video-gifts", "live-gifts")
    video = Video.objects.create(creator=creator, kind="original", title="A vase")
    fan = make_user("fan")
    api_client(fan)
    give_coins(fan, 5)
    give_diamonds(creator.user, 3_000)
    connect.enabled_account(creator.user)
    return _World(creator, video), {"fan": fan, "creator": creator.user}


@pytest.mark.parametrize(("path", "who", "body", "statuses", "expected"),
                         [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_a_bad_amount_is_refused_clearly_and_writes_nothing(world, nothing_changed, path, who, body,
                                                            statuses, expected):
    objects, users = world
    user = users[who]
    if path.endswith("withdrawals/") and expected == "insufficient_funds":
        give_available_cash(user, 1_000)  # less than asked; the rest of the table has 500.00
    elif path.endswith("withdrawals/"):
        give_available_cash(user, 50_000)
    payload = body(objects)
    with nothing_changed():
        response = api_client(user).post(path, payload, format="json", HTTP_IDEMPOTENCY_KEY="bad-1")
    assert response.status_code in statuses, response.content
    error = response.json()["error"]
    assert error["message"] and isinstance(error["fields"], dict)
    if expected is None:
        return
    if response.status_code == 400:
        assert expected in error["fields"], error
        assert all(error["fields"][expected]), error
    else:
        assert error["code"] == expected, error
