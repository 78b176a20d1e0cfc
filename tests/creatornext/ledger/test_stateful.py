"""Hypothesis stateful test: random postings, reversals, holds, takes and debt netting.

After every step: every cached balance equals the sum of its entries, every transaction sums to
zero per asset, no wallet is below zero, and the model of expected balances agrees with the ledger.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from creatornext.ledger import selectors
from creatornext.ledger.checks import ledger_check
from creatornext.ledger.models import COIN, AccountKind, Entry, Transaction
from creatornext.ledger.services import (
    InsufficientFunds,
    Leg,
    Posting,
    account_for,
    creator_cash_take,
    creator_income,
    holds_release_due,
    platform_account,
    post,
    reverse,
)
from creatornext.money import Money
from tests.support.world import make_user

amounts = st.integers(min_value=1, max_value=5_000)


@pytest.mark.django_db
class TestLedgerMachine:
    def test_random_sequences_keep_every_invariant(self):
        run_state_machine(LedgerMachine)


def run_state_machine(machine):
    from hypothesis.stateful import run_state_machine_as_test

    run_state_machine_as_test(machine, settings=settings(
        max_examples=25, stateful_step_count=25, deadline=None,
        suppress_health_check=list(HealthCheck)))


class LedgerMachine(RuleBasedStateMachine):
    @initialize()
    def setup(self):
        # Each example runs inside a savepoint so examples do not see each other's rows.
        self.atomic = transaction.atomic()
        self.atomic.__enter__()
        self.n = 0
        self.fans = [make_user(f"f{i}_{id(self)}") for i in range(2)]
        self.creator = make_user(f"c_{id(self)}")
        self.expected_coins = {f.pk: 0 for f in self.fans}
        self.expected_cash_total = 0  # pending + available - debt
        self.postings: list[Transaction] = []
        self.clock = timezone.now()

    def teardown(self):
        if hasattr(self, "atomic"):
            self.atomic.__exit__(Exception, Exception("rollback"), None)

    def key(self, what):
        self.n += 1
        return f"{what}:{self.n}"

    @rule(fan=st.integers(0, 1), coins=amounts)
    def buy_coins(self, fan, coins):
        user = self.fans[fan]
        txn = post(Posting(key=self.key("buy"), kind="coin_purchase", legs=[
            Leg(platform_account(AccountKind.COINS_ISSUED, COIN), -coins),
            Leg(account_for(user, AccountKind.COINS, COIN), coins)]))
        self.postings.append(txn)
        self.expected_coins[user.pk] += coins

    @rule(fan=st.integers(0, 1), coins=amounts)
    def spend_coins(self, fan, coins):
        user = self.fans[fan]
        try:
            txn = post(Posting(key=self.key("spend"), kind="gift", legs=[
                Leg(account_for(user, AccountKind.COINS, COIN), -coins),
                Leg(platform_account(AccountKind.COINS_SPENT, COIN), coins)]))
        except InsufficientFunds:
            assert coins > self.expected_coins[user.pk]
            return
        self.postings.append(txn)
        self.expected_coins[user.pk] -= coins

    @rule(data=st.data())
    def reverse_one(self, data):
        candidates = [t for t in self.postings if t.kind == "coin_purchase"]
        if not candidates:
            return
        txn = data.draw(st.sampled_from(candidates))
        try:
            reverse(original=txn, key=f"rev:{txn.pk}")
        except InsufficientFunds:
            return  # the coins were spent: a reversal may not overdraw
        self.postings.remove(txn)
        for e in txn.entries.select_related("account"):
            if e.account.owner_id:
                self.expected_coins[e.account.owner_id] -= e.amount

    @rule(cents=amounts, days=st.integers(0, 10))
    def income(self, cents, days):
        creator_income(key=self.key("tip"), kind="tip", owner=self.creator, amount=Money(cents, "USD"),
                       source_legs=[Leg(platform_account(AccountKind.PROVIDER_INFLOW, "USD"), -cents)],
                       hold_days=days)
        self.expected_cash_total += cents

    @rule(cents=amounts)
    def take(self, cents):
        creator_cash_take(key=self.key("refund"), kind="tip_refund", owner=self.creator,
                          amount=Money(cents, "USD"),
                          sink_legs=[Leg(platform_account(AccountKind.PROVIDER_INFLOW, "USD"), cents)])
        self.expected_cash_total -= cents

    @rule(days=st.integers(1, 12))
    def time_passes(self, days):
        self.clock += timedelta(days=days)
        holds_release_due(now=self.clock)

    @invariant()
    def ledger_proves_itself(self):
        if not hasattr(self, "creator"):
            return
        assert ledger_check() == []
        for fan in self.fans:
            assert selectors.wallet(fan)["coins"] == self.expected_coins[fan.pk]
        cash = selectors.wallet(self.creator)["cash"]
        if cash:
            row = cash[0]
            assert min(row["pending"], row["available"], row["debt"]) >= 0
            assert row["pending"] + row["available"] - row["debt"] == self.expected_cash_total
            # Debt arises only when pending and available are empty, and income pays it first.
            assert row["debt"] == 0 or row["pending"] + row["available"] == 0

    @invariant()
    def entries_are_append_only(self):
        if not hasattr(self, "creator") or self.n % 7 or not Entry.objects.exists():
            return
        for sql in ("UPDATE ledger_entry SET amount = amount", "DELETE FROM ledger_entry"):
            try:
                with transaction.atomic(), connection.cursor() as c:
                    c.execute(sql)
            except Exception as exc:
                assert "append-only" in str(exc)
            else:
                raise AssertionError(f"{sql} was not refused")
