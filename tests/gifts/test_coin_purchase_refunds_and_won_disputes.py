"""Coin purchases refunded (in full, in parts, after coins were spent) and chargebacks won, through
signed webhook events as the provider sends them (gifts/handlers.py has the rules).

A fan buys 700 coins for 7.40 (the fake provider's fee: 0.51, so the coin sales' net is 6.89).
"""

from __future__ import annotations

import itertools
from collections import defaultdict

import pytest
from django.db.models import Sum

from creatornext.core import config
from creatornext.ledger import selectors as ledger
from creatornext.ledger.checks import ledger_check
from creatornext.ledger.models import COIN, AccountKind, Entry, Transaction
from creatornext.ledger.services import Leg, Posting, account_for, platform_account, post
from creatornext.payments.config import DISPUTE_FEE
from gifts.models import CoinPack, CoinPurchase, WalletLock
from tests.support import state
from tests.support.disputes import dispute_event
from tests.support.stripe import charge_refunded
from tests.support.world import api_client, make_user

pytestmark = pytest.mark.django_db
USD = "USD"
_spends = itertools.count(1)


@pytest.fixture
def buy(fake_stripe, django_capture_on_commit_callbacks):
    counter = itertools.count(1)

    def _buy(fan, coins: int = 700) -> CoinPurchase:
        with django_capture_on_commit_callbacks(execute=True):
            response = api_client(fan).post("/api/v1/coin-purchases/", {
                "pack": CoinPack.objects.get(coins=coins).pk, "payment_method": "pm_card_visa"},
                format="json", HTTP_IDEMPOTENCY_KEY=f"buy-{next(counter)}")
        assert response.status_code == 201, response.content
        purchase = CoinPurchase.objects.select_related("payment", "fan").get(pk=response.json()["id"])
        if coins == 700:
            assert (purchase.payment.amount, purchase.payment.fee) == (740, 51)
        return purchase
    return _buy


def spend(fan, coins: int) -> None:
    """The fan spends coins (a gift-shaped posting)."""
    post(Posting(key=f"test:spend:{next(_spends)}", kind="gift",
                 legs=[Leg(account_for(fan, AccountKind.COINS, COIN), -coins),
                       Leg(platform_account(AccountKind.COINS_SPENT, COIN), coins)]))


def chargeback(payment):
    return dispute_event(payment, "charge.dispute.created", "needs_response", withdrawn=True)


def closed(payment, outcome: str, kind: str = "charge.dispute.closed"):
    return dispute_event(payment, kind, outcome, withdrawn=True)


def legs(txn: Transaction) -> dict[tuple[str, str], int]:
    """The transaction's entries summed by (account kind, asset)."""
    out: dict[tuple[str, str], int] = defaultdict(int)
    for entry in txn.entries.select_related("account"):
        out[entry.account.kind, entry.asset] += entry.amount
    return dict(out)


def effect(purchase) -> dict[tuple[str, str], int]:
    """What every posting of the purchase moved, by (account kind, asset); zero sums left out."""
    rows = (Entry.objects.filter(transaction__ref=f"coin-purchase:{purchase.pk}")
            .values_list("account__kind", "asset").annotate(total=Sum("amount")))
    return {(kind, asset): total for kind, asset, total in rows if total}


def coins(fan) -> int:
    return ledger.wallet(fan)["coins"]


def only_webhook_rows(before, events: int) -> None:
    """Since ``before``: only ``events`` stored webhook events; every other table and balance as it was."""
    was = before["rows"]["payments_webhookevent"]
    assert state.diff(before, state.snapshot()) == [
        f"table payments_webhookevent: {was} → {was + events} rows"]


# --- disputes won ----------------------------------------------------------------------------------
def test_a_won_chargeback_gives_back_only_the_coins_it_removed_unlocks_and_reverses_all_but_the_dispute_fee(
        buy, send_event):
    fan = make_user("fan")
    purchase = buy(fan)
    spend(fan, 200)
    bought = effect(purchase)
    send_event(chargeback(purchase.payment))
    assert coins(fan) == 0
    assert WalletLock.objects.filter(fan=fan).exists()

    won = closed(purchase.payment, "won")
    send_event(won)

    # The 500 coins the chargeback removed are back; the 200 the fan spent stay spent.
    assert coins(fan) == 500
    assert not WalletLock.objects.filter(fan=fan).exists()
    (txn,) = Transaction.objects.filter(kind="coin_dispute_won")
    assert txn.key == f"coin-purchase:{purchase.pk}:dispute_won"
    assert txn.metadata == {"disputed": 740, "restored": 500, "loss_reversed": 200}
    assert legs(txn) == {("provider_inflow", USD): -740, ("coin_sales", USD): 689, ("losses", USD): 51,
                         ("coins", COIN): 500, ("losses", COIN): 200, ("coins_issued", COIN): -700}
    # Chargeback and win together: only the dispute fee left the platform, as a loss.
    fee = config.get(DISPUTE_FEE)
    assert effect(purchase) == {**bought, ("provider_inflow", USD): -740 + fee, ("losses", USD): -fee}
    assert not Transaction.objects.filter(kind="coin_refund").exists()
    purchase.payment.refresh_from_db()
    assert (purchase.payment.status, purchase.payment.metadata["dispute_closed"]) == ("disputed", "won")

    # Delivered again, and announced again by another event: nothing more.
    before = state.snapshot()
    send_event(won, duplicate=True)
    send_event(closed(purchase.payment, "won"))
    send_event(closed(purchase.payment, "won", kind="charge.dispute.updated"))
    only_webhook_rows(before, events=2)
    assert ledger_check() == []


def test_a_lost_chargeback_moves_nothing_more_and_keeps_the_wallet_locked(buy, send_event):
    fan = make_user("fan")
    purchase = buy(fan)
    send_event(chargeback(purchase.payment))
    before = state.snapshot()
    send_event(closed(purchase.payment, "lost"))
    only_webhook_rows(before, events=1)
    assert coins(fan) == 0
    assert WalletLock.objects.filter(fan=fan).exists()
    assert ledger_check() == []


def test_a_won_dispute_takes_only_its_own_cause_out_of_the_wallet_lock(buy, send_event):
    fan = make_user("fan")
    first, second = buy(fan), buy(fan)
    spend(fan, 1000)  # 400 of the 1,400 left
    send_event(chargeback(first.payment))
    send_event(chargeback(second.payment))  # the lock exists: its cause is added to it
    lock = WalletLock.objects.get(fan=fan)
    assert lock.reason.split("\n") == [
        f"Chargeback on coin purchase {first.pk}: 400 unspent coins removed, 300 already spent.",
        f"Chargeback on coin purchase {second.pk}: 0 unspent coins removed, 700 already spent."]
    # The first dispute won: the second chargeback still stands, so the wallet stays locked.
    send_event(closed(first.payment, "won"))
    lock.refresh_from_db()
    assert lock.reason == f"Chargeback on coin purchase {second.pk}: 0 unspent coins removed, 700 already spent."
    assert coins(fan) == 400
    # Staff add a note of their own: that cause stays when the second dispute is won too.
    lock.reason += "\nStaff: the fan's card was reported stolen; keep locked."
    lock.save()
    send_event(closed(second.payment, "won"))
    lock.refresh_from_db()
    assert lock.reason == "Staff: the fan's card was reported stolen; keep locked."
    # The second chargeback had removed no unspent coins (the first had taken them all): the 700
    # it booked as spent come off the loss account, and none reach the wallet.
    assert coins(fan) == 400
    assert legs(Transaction.objects.get(key=f"coin-purchase:{second.pk}:dispute_won")) == {
        ("provider_inflow", USD): -740, ("coin_sales", USD): 689, ("losses", USD): 51,
        ("losses", COIN): 700, ("coins_issued", COIN): -700}
    assert ledger_check() == []


def test_a_won_dispute_leaves_a_lock_staff_set_while_it_was_open_alone(buy, send_event):
    fan = make_user("fan")
    purchase = buy(fan)
    send_event(chargeback(purchase.payment))
    WalletLock.objects.filter(fan=fan).delete()  # staff reviewed and released the wallet ...
    WalletLock.objects.create(fan=fan, reason="Staff: second look.")  # ... and locked it again
    send_event(closed(purchase.payment, "won"))
    assert WalletLock.objects.get(fan=fan).reason == "Staff: second look."
    assert coins(fan) == 700
    assert ledger_check() == []


# --- refunds ---------------------------------------------------------------------------------------
def test_a_full_refund_takes_back_every_coin_and_books_the_kept_fee_as_a_loss_once(buy, send_event):
    fan = make_user("fan")
    purchase = buy(fan)
    refunded = charge_refunded(purchase.payment, 740)
    send_event(refunded)

    assert coins(fan) == 0
    assert not WalletLock.objects.filter(fan=fan).exists()  # a refund is no fraud signal
    (txn,) = Transaction.objects.filter(kind="coin_refund")
    assert txn.key == f"coin-purchase:{purchase.pk}:refund:740"
    assert txn.metadata == {"refunded": 740, "amount": 740, "unspent": 700, "spent": 0}
    assert legs(txn) == {("provider_inflow", USD): 740, ("coin_sales", USD): -689, ("losses", USD): -51,
                         ("coins", COIN): -700, ("coins_issued", COIN): 700}
    # Bought and refunded: nothing left but the fee the provider kept, as the platform's loss.
    assert effect(purchase) == {("processor_fees", USD): 51, ("losses", USD): -51}
    purchase.payment.refresh_from_db()
    assert (purchase.payment.status, purchase.payment.refunded_amount) == ("refunded", 740)

    before = state.snapshot()
    send_event(refunded, duplicate=True)
    send_event(charge_refunded(purchase.payment, 740))  # the same refund, in another event
    only_webhook_rows(before, events=1)
    assert ledger_check() == []


def test_partial_refunds_take_back_the_refunded_share_of_the_coins_rounded_up_and_add_up_to_the_pack(
        buy, send_event):
    fan = make_user("fan")
    purchase = buy(fan)
    send_event(charge_refunded(purchase.payment, 100))
    assert coins(fan) == 605  # ceil(700 × 100 / 740) = 95 taken
    send_event(charge_refunded(purchase.payment, 200))
    assert coins(fan) == 510  # ceil(700 × 200 / 740) = 190 in all

    # Late and replayed events: nothing moves.
    before = state.snapshot()
    send_event(charge_refunded(purchase.payment, 100))
    send_event(charge_refunded(purchase.payment, 200))
    only_webhook_rows(before, events=2)

    send_event(charge_refunded(purchase.payment, 740))
    assert coins(fan) == 0
    first, second, third = Transaction.objects.filter(kind="coin_refund").order_by("pk")
    assert [t.key for t in (first, second, third)] == [
        f"coin-purchase:{purchase.pk}:refund:{r}" for r in (100, 200, 740)]
    assert legs(first) == {("provider_inflow", USD): 100, ("coin_sales", USD): -100,
                           ("coins", COIN): -95, ("coins_issued", COIN): 95}
    assert legs(second) == {("provider_inflow", USD): 100, ("coin_sales", USD): -100,
                            ("coins", COIN): -95, ("coins_issued", COIN): 95}
    # The last part gives back the rest of the net; the fee the provider kept is the loss.
    assert legs(third) == {("provider_inflow", USD): 540, ("coin_sales", USD): -489, ("losses", USD): -51,
                           ("coins", COIN): -510, ("coins_issued", COIN): 510}
    assert effect(purchase) == {("processor_fees", USD): 51, ("losses", USD): -51}
    assert ledger_check() == []


def test_a_refund_after_coins_were_spent_takes_the_unspent_ones_and_books_the_rest_as_a_coin_loss(
        buy, send_event):
    fan = make_user("fan")
    purchase = buy(fan)
    spend(fan, 600)
    send_event(charge_refunded(purchase.payment, 370))  # half: 350 coins, only 100 left to take
    assert coins(fan) == 0
    first = Transaction.objects.get(key=f"coin-purchase:{purchase.pk}:refund:370")
    assert first.metadata == {"refunded": 370, "amount": 370, "unspent": 100, "spent": 250}
    assert legs(first) == {("provider_inflow", USD): 370, ("coin_sales", USD): -370,
                           ("coins", COIN): -100, ("losses", COIN): -250, ("coins_issued", COIN): 350}
    send_event(charge_refunded(purchase.payment, 740))  # the other half: all 350 were spent
    assert coins(fan) == 0  # never below zero
    second = Transaction.objects.get(key=f"coin-purchase:{purchase.pk}:refund:740")
    assert legs(second) == {("provider_inflow", USD): 370, ("coin_sales", USD): -319, ("losses", USD): -51,
                            ("losses", COIN): -350, ("coins_issued", COIN): 350}
    # What the purchase left: the 600 coins the fan spent (gone as gifts), paid for by the
    # platform's loss account, and the fee the provider kept.
    assert effect(purchase) == {("processor_fees", USD): 51, ("losses", USD): -51, ("coins", COIN): 600,
                                ("losses", COIN): -600}
    assert ledger_check() == []


# --- refunds and disputes together -------------------------------------------------------------------
def test_a_refund_before_or_during_a_chargeback_that_is_won_ends_in_the_same_ledger(buy, send_event):
    early, late = make_user("early"), make_user("late")
    refunded_first, disputed_first = buy(early), buy(late)

    # Half refunded, then the rest charged back: the chargeback takes only what is left.
    send_event(charge_refunded(refunded_first.payment, 370))
    send_event(chargeback(refunded_first.payment))
    assert Transaction.objects.get(key=f"coin-purchase:{refunded_first.pk}:chargeback").metadata == {
        "unspent": 350, "spent": 0, "disputed": 370}
    send_event(closed(refunded_first.payment, "won"))

    # Charged back, half refunded while the chargeback stands (cash only), then won: the refund
    # then takes its share of the coins and of the sales.
    send_event(chargeback(disputed_first.payment))
    send_event(charge_refunded(disputed_first.payment, 370))
    assert legs(Transaction.objects.get(key=f"coin-purchase:{disputed_first.pk}:refund:370")) == {
        ("provider_inflow", USD): 370, ("losses", USD): -370}
    send_event(closed(disputed_first.payment, "won"))
    catch_up = Transaction.objects.get(key=f"coin-purchase:{disputed_first.pk}:dispute_won:refunds")
    assert legs(catch_up) == {("coin_sales", USD): -370, ("losses", USD): 370,
                              ("coins", COIN): -350, ("coins_issued", COIN): 350}

    fee = config.get(DISPUTE_FEE)
    expected = {("provider_inflow", USD): -370 + fee, ("coin_sales", USD): 319, ("processor_fees", USD): 51,
                ("losses", USD): -fee, ("coins", COIN): 350, ("coins_issued", COIN): -350}
    assert effect(refunded_first) == expected
    assert effect(disputed_first) == expected
    assert (coins(early), coins(late)) == (350, 350)
    assert not WalletLock.objects.filter(fan__in=[early, late]).exists()
    assert ledger_check() == []
