"""Buying coins: credited once on success with a receipt, the daily limit, chargebacks."""

from __future__ import annotations

import pytest
from django.core import mail
from django.test import Client

from creatornext.core import config
from creatornext.ledger import selectors as ledger
from creatornext.ledger.models import COIN, Transaction
from creatornext.payments.config import DISPUTE_FEE
from gifts.config import PURCHASE_DAILY_TOTAL
from gifts.models import CoinPack, CoinPurchase, WalletLock
from tests.support.stripe import deliver, dispute
from tests.support.world import api_client, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def buy(fake_stripe, django_capture_on_commit_callbacks):
    counter = {"n": 0}

    def _buy(user, coins=700, method="pm_card_visa"):
        counter["n"] += 1
        pack = CoinPack.objects.get(coins=coins)
        with django_capture_on_commit_callbacks(execute=True):
            body = {"pack": pack.pk, "payment_method": method}
            return api_client(user).post("/api/v1/coin-purchases/", body, format="json",
                                         HTTP_IDEMPOTENCY_KEY=f"buy-{counter['n']}")
    return _buy


def test_packs_are_listed_with_the_web_prices():
    packs = api_client(None).get("/api/v1/coin-packs/").json()
    assert [(p["coins"], p["price"]["amount"]) for p in packs] == [
        (70, 74), (350, 370), (700, 740), (1400, 1480), (3500, 3700), (7000, 7400), (17500, 18500)]


def test_buying_coins_credits_them_once_and_emails_a_receipt(buy):
    fan = make_user("fan")
    response = buy(fan, 700)
    assert response.status_code == 201, response.content
    assert response.json()["status"] == "succeeded"
    assert response.json()["price"] == {"amount": 740, "currency": "USD"}
    assert ledger.wallet(fan)["coins"] == 700
    assert [m.subject for m in mail.outbox] == ["Your Creator Next receipt: 700 coins"]
    txn = Transaction.objects.get(kind="coin_purchase")
    legs = sorted((e.account.kind, e.asset, e.amount) for e in txn.entries.select_related("account"))
    fee = 740 * 29 // 1000 + 30 + (1 if 740 * 29 % 1000 >= 500 else 0)
    assert legs == sorted([("provider_inflow", "USD", -740), ("coin_sales", "USD", 740 - fee),
                           ("processor_fees", "USD", fee), ("coins_issued", COIN, -700),
                           ("coins", COIN, 700)])


def test_the_daily_purchase_limit_holds(buy, nothing_changed):
    fan = make_user("fan")
    api_client(fan)
    staff = make_user("boss", staff=True)
    config.set_value(definition=PURCHASE_DAILY_TOTAL, value=1000, actor=staff)
    first = buy(fan, 700)
    assert first.status_code == 201
    with nothing_changed():
        response = buy(fan, 350)  # 7.40 + 3.70 > 10.00
    assert (response.status_code, response.json()["error"]["code"]) == (409, "limit_exceeded")
    # The purchase keeps the limit it was checked against, whatever staff set later.
    config.set_value(definition=PURCHASE_DAILY_TOTAL, value=5000, actor=staff)
    assert CoinPurchase.objects.get(pk=first.json()["id"]).limits == {"daily_total": 1000}


def test_the_daily_purchase_limit_counts_the_packs_currency_only(buy):
    """Minor units of two currencies never add up: yen bought today do not use up the dollar limit."""
    fan = make_user("fan")
    api_client(fan)
    config.set_value(definition=PURCHASE_DAILY_TOTAL, value=1000, actor=make_user("boss", staff=True))
    assert buy(fan, 700).status_code == 201
    CoinPurchase.objects.filter(fan=fan).update(currency="JPY", price=900)  # as if bought in yen
    assert buy(fan, 700).status_code == 201  # 7.40 USD today: within 10.00


def test_a_minor_cannot_buy_coins(buy, nothing_changed):
    import datetime

    minor = make_user("teen", dob=datetime.date.today() - datetime.timedelta(days=365 * 15))
    api_client(minor)
    with nothing_changed():
        response = buy(minor, 70)
    assert (response.status_code, response.json()["error"]["code"]) == (403, "age_restricted")


def test_a_chargeback_removes_unspent_coins_books_the_spent_part_as_loss_and_locks_the_wallet(
        buy, django_capture_on_commit_callbacks):
    fan = make_user("fan")
    purchase = CoinPurchase.objects.get(pk=buy(fan, 700).json()["id"])
    # The fan spends 200 coins (a gift-shaped posting), then disputes the card payment
    from creatornext.ledger.models import AccountKind
    from creatornext.ledger.services import Leg, Posting, account_for, platform_account, post

    post(Posting(key="spend", kind="gift", legs=[Leg(account_for(fan, AccountKind.COINS, COIN), -200),
                                                 Leg(platform_account(AccountKind.COINS_SPENT, COIN), 200)]))
    with django_capture_on_commit_callbacks(execute=True):
        assert deliver(Client(), dispute(purchase.payment), "whsec_creatornext_local").status_code == 200
    assert ledger.wallet(fan)["coins"] == 0
    txn = Transaction.objects.get(kind="coin_chargeback")
    assert txn.metadata == {"unspent": 500, "spent": 200, "disputed": 740}
    losses = {(e.asset, e.amount) for e in txn.entries.select_related("account")
              if e.account.kind == "losses"}
    fee = purchase.payment.fee
    assert losses == {("USD", -(fee + config.get(DISPUTE_FEE))), (COIN, -200)}
    assert WalletLock.objects.filter(fan=fan).exists()
