"""A dispute inquiry on a coin purchase removes no coins and locks no wallet; the chargeback it
may escalate into does both, once."""

from __future__ import annotations

import pytest

from creatornext.core import config
from creatornext.ledger import selectors as ledger
from creatornext.ledger.checks import ledger_check
from creatornext.ledger.models import COIN, AccountKind, Transaction
from creatornext.ledger.services import Leg, Posting, account_for, platform_account, post
from creatornext.payments.config import DISPUTE_FEE
from gifts.models import CoinPack, CoinPurchase, WalletLock
from tests.support import state
from tests.support.disputes import escalation, inquiry, only_the_event_and_its_audit_line
from tests.support.world import api_client, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def purchase(fake_stripe, django_capture_on_commit_callbacks):
    """A fan bought 700 coins and spent 200 of them (a gift-shaped posting)."""
    fan = make_user("fan")
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client(fan).post("/api/v1/coin-purchases/", {
            "pack": CoinPack.objects.get(coins=700).pk, "payment_method": "pm_card_visa"},
            format="json", HTTP_IDEMPOTENCY_KEY="buy-1")
    assert response.status_code == 201, response.content
    post(Posting(key="spend", kind="gift", legs=[Leg(account_for(fan, AccountKind.COINS, COIN), -200),
                                                 Leg(platform_account(AccountKind.COINS_SPENT, COIN), 200)]))
    return CoinPurchase.objects.select_related("payment", "fan").get(pk=response.json()["id"])


def test_an_inquiry_on_a_coin_purchase_removes_no_coins_and_locks_no_wallet(purchase, send_event):
    before = state.snapshot()
    send_event(inquiry(purchase.payment))
    send_event(inquiry(purchase.payment, "warning_closed", kind="charge.dispute.closed"))
    only_the_event_and_its_audit_line(before, events=2)  # no posting, no lock, no balance moved
    assert ledger.wallet(purchase.fan)["coins"] == 500
    assert not WalletLock.objects.filter(fan=purchase.fan).exists()
    assert not Transaction.objects.filter(kind="coin_chargeback").exists()
    purchase.payment.refresh_from_db()
    assert (purchase.payment.status, purchase.payment.dispute_id) == ("succeeded", "")
    assert ledger_check() == []


def test_an_inquiry_that_escalates_is_charged_back_once(purchase, send_event):
    send_event(inquiry(purchase.payment))
    assert not WalletLock.objects.filter(fan=purchase.fan).exists()
    for evt in escalation(purchase.payment):
        send_event(evt)
        send_event(evt, duplicate=True)
    assert ledger.wallet(purchase.fan)["coins"] == 0
    (txn,) = Transaction.objects.filter(kind="coin_chargeback")
    assert txn.metadata == {"unspent": 500, "spent": 200, "disputed": 740}
    losses = {(e.asset, e.amount) for e in txn.entries.select_related("account") if e.account.kind == "losses"}
    assert losses == {("USD", -(purchase.payment.fee + config.get(DISPUTE_FEE))), (COIN, -200)}
    assert WalletLock.objects.filter(fan=purchase.fan).count() == 1
    purchase.payment.refresh_from_db()
    assert purchase.payment.status == "disputed"
    assert ledger_check() == []
