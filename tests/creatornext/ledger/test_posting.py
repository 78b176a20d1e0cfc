"""Posting: balanced, idempotent, database-enforced balance rules, append-only history."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from creatornext.ledger import selectors
from creatornext.ledger.models import COIN, DIAMOND, Account, AccountKind, Entry, Hold, Transaction
from creatornext.ledger.services import (
    Income,
    InsufficientFunds,
    LedgerError,
    Leg,
    Posting,
    UnbalancedTransaction,
    account_for,
    creator_cash_take,
    creator_income,
    creator_income_many,
    creator_income_of,
    holds_release_due,
    platform_account,
    post,
    post_many,
    reverse,
)
from creatornext.money import Money
from tests.support.ledger import give_available_cash, give_coins, give_diamonds
from tests.support.world import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def fan():
    return make_user("fan")


@pytest.fixture
def creator():
    return make_user("creator")


def test_a_gift_like_posting_moves_coins_and_diamonds_and_sums_to_zero(fan, creator):
    coins = give_coins(fan, 100)
    diamonds = account_for(creator, AccountKind.DIAMONDS, DIAMOND)
    txn = post(Posting(key="gift-send:1", kind="gift", legs=[
        Leg(coins, -30), Leg(platform_account(AccountKind.COINS_SPENT, COIN), 30),
        Leg(platform_account(AccountKind.DIAMONDS_ISSUED, DIAMOND), -30), Leg(diamonds, 30),
    ]))
    coins.refresh_from_db()
    diamonds.refresh_from_db()
    assert (coins.balance, diamonds.balance) == (70, 30)
    entries = {e.account_id: e for e in Entry.objects.filter(transaction_id=txn.pk)}
    assert entries[coins.pk].balance_after == 70
    assert entries[diamonds.pk].balance_after == 30
    assert entries[diamonds.pk].owner_id == creator.pk
    # Platform accounts keep no cached balance: nothing to lock on the hot path
    assert platform_account(AccountKind.COINS_SPENT, COIN).balance is None


def test_the_same_key_returns_the_first_transaction_and_writes_nothing(fan, nothing_changed):
    coins = give_coins(fan, 10)
    legs = [Leg(coins, -5), Leg(platform_account(AccountKind.COINS_SPENT, COIN), 5)]
    first = post(Posting(key="k:1", kind="gift", legs=legs))
    with nothing_changed():
        again = post(Posting(key="k:1", kind="gift", legs=legs))
    assert again.pk == first.pk
    coins.refresh_from_db()
    assert coins.balance == 5


@pytest.mark.parametrize("amounts", [(5, -4), (5,), (0, 0), (2.5, -2.5), (True, -1)])
def test_unbalanced_or_non_integer_postings_are_refused(fan, nothing_changed, amounts):
    coins = give_coins(fan, 10)
    sink = platform_account(AccountKind.COINS_SPENT, COIN)
    legs = [Leg(acc, amt) for acc, amt in zip([coins, sink], amounts, strict=False)]
    with nothing_changed(), pytest.raises(UnbalancedTransaction):
        post(Posting(key="bad", kind="x", legs=legs))


def test_mixed_assets_must_each_balance(fan, creator):
    coins = give_coins(fan, 10)
    diamonds = account_for(creator, AccountKind.DIAMONDS, DIAMOND)
    with pytest.raises(UnbalancedTransaction):
        post(Posting(key="mix", kind="x", legs=[Leg(coins, -5), Leg(diamonds, 5)]))


def test_overdraft_is_refused_by_the_database_rule_and_nothing_changes(fan, nothing_changed):
    coins = give_coins(fan, 10)
    sink = platform_account(AccountKind.COINS_SPENT, COIN)
    with nothing_changed(), pytest.raises(InsufficientFunds):
        post(Posting(key="too-much", kind="gift", legs=[Leg(coins, -11), Leg(sink, 11)]))
    # The key was not used up by the refusal
    post(Posting(key="too-much", kind="gift", legs=[Leg(coins, -10), Leg(sink, 10)]))


def test_a_refusal_later_in_the_lock_order_undoes_the_accounts_before_it(fan, creator, nothing_changed):
    # The fan's coins (locked first) could pay; the creator's diamonds (locked last) cannot.
    coins = give_coins(fan, 10)
    diamonds = account_for(creator, AccountKind.DIAMONDS, DIAMOND)
    legs = [Leg(coins, -5), Leg(platform_account(AccountKind.COINS_SPENT, COIN), 5),
            Leg(diamonds, -5), Leg(platform_account(AccountKind.DIAMONDS_ISSUED, DIAMOND), 5)]
    with nothing_changed(), pytest.raises(InsufficientFunds) as refused:
        post(Posting(key="both", kind="x", legs=legs))
    assert refused.value.account.pk == diamonds.pk


def test_a_posting_is_one_statement_on_postgresql(fan, creator, django_assert_num_queries):
    if connection.vendor != "postgresql":
        pytest.skip("the one-statement posting is PostgreSQL's")
    from creatornext.ledger.services import post_once

    coins = give_coins(fan, 100)
    diamonds = give_diamonds(creator, 1)
    legs = [Leg(coins, -30), Leg(platform_account(AccountKind.COINS_SPENT, COIN), 30),
            Leg(platform_account(AccountKind.DIAMONDS_ISSUED, DIAMOND), -20), Leg(diamonds, 20),
            Leg(platform_account(AccountKind.DIAMONDS_ISSUED, DIAMOND), -10), Leg(diamonds, 10)]
    post(Posting(key="same-shape", kind="gift", legs=legs))  # PostgreSQL plans each shape once
    with transaction.atomic(), django_assert_num_queries(1):
        txn, wrote = post_once(Posting(key="one", kind="gift", legs=legs), savepoint=False)
    assert wrote
    after = {(e.account_id, e.amount): e.balance_after for e in Entry.objects.filter(transaction_id=txn.pk)}
    # Each leg of an account with a cached balance carries the balance right after it; the
    # platform legs none.
    assert after == {(coins.pk, -30): 40, (diamonds.pk, 20): 51, (diamonds.pk, 10): 61,
                     (platform_account(AccountKind.COINS_SPENT, COIN).pk, 30): None,
                     (platform_account(AccountKind.DIAMONDS_ISSUED, DIAMOND).pk, -20): None,
                     (platform_account(AccountKind.DIAMONDS_ISSUED, DIAMOND).pk, -10): None}


@pytest.mark.ledger_corrupted
def test_the_check_constraint_is_a_backstop_even_for_raw_sql(fan):
    coins = give_coins(fan, 10)
    with pytest.raises(Exception, match="ledger_account_non_negative"), transaction.atomic(), \
            connection.cursor() as c:
        c.execute("UPDATE ledger_account SET balance = -1 WHERE id = %s", [coins.pk])


@pytest.mark.parametrize("sql", ["UPDATE ledger_entry SET amount = amount + 1",
                                 "DELETE FROM ledger_entry",
                                 "UPDATE ledger_transaction SET kind = 'x'",
                                 "DELETE FROM ledger_transaction"])
def test_transactions_and_entries_are_append_only(fan, sql):
    give_coins(fan, 10)
    with pytest.raises(Exception, match="append-only"), transaction.atomic(), connection.cursor() as c:
        c.execute(sql)
    assert Entry.objects.count() == 2


def test_a_reversal_is_a_new_transaction(fan):
    coins = give_coins(fan, 10)
    sink = platform_account(AccountKind.COINS_SPENT, COIN)
    txn = post(Posting(key="g", kind="gift", legs=[Leg(coins, -4), Leg(sink, 4)]))
    undo = reverse(original=txn, key="g:reversed")
    assert undo.pk != txn.pk
    coins.refresh_from_db()
    assert coins.balance == 10
    assert Transaction.objects.count() == 3


def test_income_goes_to_pending_with_a_hold_then_becomes_available(creator):
    inflow = platform_account(AccountKind.PROVIDER_INFLOW, "USD")
    creator_income(key="tip:1:captured", kind="tip", owner=creator, amount=Money(950, "USD"),
                   source_legs=[Leg(inflow, -950)], hold_days=7)
    assert selectors.wallet(creator)["cash"] == [
        {"currency": "USD", "pending": 950, "available": 0, "in_payout": 0, "debt": 0}]
    hold = Hold.objects.get()
    assert holds_release_due(now=hold.release_at - timedelta(seconds=1)) == 0
    assert holds_release_due(now=hold.release_at) == 1
    assert holds_release_due(now=hold.release_at) == 0  # idempotent
    assert selectors.wallet(creator)["cash"][0]["available"] == 950
    assert selectors.wallet(creator)["cash"][0]["pending"] == 0


def test_a_take_beyond_the_balance_becomes_explicit_debt_netted_from_the_next_income(creator):
    inflow = platform_account(AccountKind.PROVIDER_INFLOW, "USD")
    give_available_cash(creator, 300)
    # A refund of 1,000 after most money was withdrawn: 300 from available, 700 debt
    creator_cash_take(key="tip:1:refund", kind="tip_refund", owner=creator, amount=Money(1000, "USD"),
                      sink_legs=[Leg(inflow, 1000)])
    assert selectors.wallet(creator)["cash"][0] == {
        "currency": "USD", "pending": 0, "available": 0, "in_payout": 0, "debt": 700}
    # The next income pays the debt first; only the rest is pending
    creator_income(key="tip:2:captured", kind="tip", owner=creator, amount=Money(1000, "USD"),
                   source_legs=[Leg(inflow, -1000)])
    assert selectors.wallet(creator)["cash"][0] == {
        "currency": "USD", "pending": 300, "available": 0, "in_payout": 0, "debt": 0}
    assert Hold.objects.get().amount == 300


def test_refunding_pending_money_cancels_its_own_hold_not_anothers(creator):
    inflow = platform_account(AccountKind.PROVIDER_INFLOW, "USD")
    t1 = creator_income(key="tip:a", kind="tip", owner=creator, amount=Money(1000, "USD"),
                        source_legs=[Leg(inflow, -1000)], hold_days=1)
    creator_income(key="tip:b", kind="tip", owner=creator, amount=Money(1000, "USD"),
                   source_legs=[Leg(inflow, -1000)], hold_days=5)
    creator_cash_take(key="tip:a:refund", kind="tip_refund", owner=creator, amount=Money(1000, "USD"),
                      sink_legs=[Leg(inflow, 1000)], hold_transaction=t1)
    # Day 2: tip a's hold is cancelled, tip b's money must stay pending
    holds_release_due(now=timezone.now() + timedelta(days=2))
    assert selectors.wallet(creator)["cash"][0]["available"] == 0
    assert selectors.wallet(creator)["cash"][0]["pending"] == 1000
    holds_release_due(now=timezone.now() + timedelta(days=6))
    assert selectors.wallet(creator)["cash"][0]["available"] == 1000


def _incomes(owner, amounts, prefix="tip"):
    inflow = platform_account(AccountKind.PROVIDER_INFLOW, "USD")
    return [Income(key=f"{prefix}:{i}:captured", kind="tip", owner=owner, amount=Money(a, "USD"),
                   source_legs=[Leg(inflow, -a)], hold_days=7) for i, a in enumerate(amounts)]


def test_many_incomes_net_debt_and_hold_as_one_by_one_would(creator, fan):
    """The drain's bulk credit: each creator's debt is paid first, in the order given, and only
    the rest is pending, with one hold per income that reached pending."""
    inflow = platform_account(AccountKind.PROVIDER_INFLOW, "USD")
    give_available_cash(creator, 300)
    creator_cash_take(key="take", kind="tip_refund", owner=creator, amount=Money(1000, "USD"),
                      sink_legs=[Leg(inflow, 1000)])  # 700 of debt
    creator_income_many([*_incomes(creator, [500, 400, 100]), *_incomes(fan, [250], prefix="fan")])
    assert selectors.wallet(creator)["cash"][0] == {
        "currency": "USD", "pending": 300, "available": 0, "in_payout": 0, "debt": 0}
    assert sorted(Hold.objects.filter(owner=creator).values_list("amount", flat=True)) == [100, 200]
    assert selectors.wallet(fan)["cash"][0]["pending"] == 250
    assert [t.metadata["netted_debt"] for t in Transaction.objects.filter(kind="tip").order_by("key")
            if t.key.startswith("tip:")] == [500, 200, 0]


def test_many_incomes_are_refused_whole_and_write_nothing(creator, nothing_changed):
    creator_income_of(_incomes(creator, [100])[0])  # tip:0 is posted
    for batch, error in ((_incomes(creator, [50, 100]), "already posted"),  # key tip:0 exists
                         ([*_incomes(creator, [50], "x"), *_incomes(creator, [60], "x")], "Duplicate keys"),
                         (_incomes(creator, [50, 0], "y"), "must be positive")):
        with nothing_changed(), pytest.raises(LedgerError, match=error):
            creator_income_many(batch)


def test_bulk_posting_is_all_or_nothing_and_skips_posted_keys(fan, creator, nothing_changed):
    coins = give_coins(fan, 100)
    diamonds = account_for(creator, AccountKind.DIAMONDS, DIAMOND)
    spent = platform_account(AccountKind.COINS_SPENT, COIN)
    issued = platform_account(AccountKind.DIAMONDS_ISSUED, DIAMOND)

    def gift(i, n):
        return Posting(key=f"bulk:{i}", kind="gift",
                       legs=[Leg(coins, -n), Leg(spent, n), Leg(issued, -n), Leg(diamonds, n)])

    assert post_many([gift(i, 10) for i in range(5)]) == 5
    assert post_many([gift(i, 10) for i in range(5)]) == 0  # already posted
    with nothing_changed(), pytest.raises(InsufficientFunds):
        post_many([gift(i, 10) for i in range(5, 11)])  # 60 > the 50 coins left
    coins.refresh_from_db()
    diamonds.refresh_from_db()
    assert (coins.balance, diamonds.balance) == (50, 50)
    with pytest.raises(LedgerError):
        post_many([gift(20, 1), gift(20, 1)])


def test_owner_and_platform_account_kinds_cannot_be_confused(fan):
    with pytest.raises(LedgerError):
        platform_account(AccountKind.COINS, COIN)
    with pytest.raises(LedgerError):
        account_for(fan, AccountKind.COINS_SPENT, COIN)
    with pytest.raises(LedgerError):
        account_for(fan, AccountKind.COINS, "DOGE")
    assert Account.objects.count() == 0


def test_owner_accounts_are_remembered_only_once_their_transaction_commits(django_capture_on_commit_callbacks,
                                                                          django_assert_num_queries):
    from creatornext.ledger.services import accounts_for

    fan, creator = make_user("fan"), make_user("maya")
    wanted = ((fan, AccountKind.COINS, COIN), (creator.pk, AccountKind.DIAMONDS, DIAMOND))
    with django_capture_on_commit_callbacks(execute=False) as learnt:
        first = accounts_for(*wanted)  # created here: not remembered before the commit
    assert [a.owner_id for a in first] == [fan.pk, creator.pk]
    with django_capture_on_commit_callbacks(execute=False), django_assert_num_queries(1):
        assert [a.pk for a in accounts_for(*wanted)] == [a.pk for a in first]
    for callback in learnt:  # the commit
        callback()
    with django_assert_num_queries(0):
        assert [a.pk for a in accounts_for(*wanted)] == [a.pk for a in first]
