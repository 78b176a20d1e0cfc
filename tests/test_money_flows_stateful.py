"""R3, full flow: a hypothesis state machine over the product's own services — buy coins, tip, send
gifts, redeem diamonds, refund, dispute (opened, won, lost), release holds, withdraw, pay out, and
escrow: fund a collaboration, then release it (submit + approve) or refund it (cancel).

After every step: every cached balance equals the sum of its entries, every transaction sums to
zero per asset (ledger_check, which also checks the balance rules), and the ledger as a whole
sums to zero per asset. Refusals (caps, not enough coins, a refund of a refunded payment...) are
part of the game: a step may be refused, but never half-done.

Payments go through the fake provider (localstripe), payouts through the Connect stand-in; a
dispute is applied the way its webhook is (payments.services.apply_dispute).

``make test`` runs a short profile (a few seconds per example); ``make test-full`` (slow) a longer one.
Escrow steps go through the API (tests/marketplace/collab_helpers.py), which calls
marketplace/escrow.py; their payments join ``self.payments``, so refunds and disputes hit them too.
"""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from creatornext.core.api import DomainError
from creatornext.ledger.checks import ledger_check
from creatornext.ledger.services import clear_account_cache, holds_release_due
from creatornext.money import Money
from creatornext.payments import services as payments
from creatornext.payments.models import Payment
from creatornext.payouts import batches
from creatornext.payouts import services as payouts
from gifts import services as gifts
from gifts.models import CoinPack, Gift, Video
from marketplace.models import Collaboration
from tests.eligibility.helpers import enroll, make_creator
from tests.marketplace.collab_helpers import accepted_collaboration, fund, submit
from tests.marketplace.collab_helpers import post as api_post
from tests.marketplace.helpers import brand_member, listed_creator
from tests.support import connect
from tests.support.ledger import give_available_cash, give_coins, give_diamonds
from tests.support.world import make_user
from tips import services as tips

pytestmark = pytest.mark.django_db

# A step the product refuses (a cap, not enough coins, nothing left to refund...) writes nothing.
REFUSALS = (DomainError, ValidationError, payments.RefundRefused)
_seq = itertools.count(1)
STATS: Counter[str] = Counter()  # what the steps did; `pytest -s` prints it


def event(what: str) -> None:
    STATS[what] += 1


def run(machine, *, examples: int, steps: int) -> None:
    from hypothesis.stateful import run_state_machine_as_test

    run_state_machine_as_test(machine, settings=settings(
        max_examples=examples, stateful_step_count=steps, deadline=None, derandomize=True,
        suppress_health_check=list(HealthCheck)))
    print("\nsteps:", dict(sorted(STATS.items())))


def seed() -> None:
    from eligibility.defaults import seed_defaults
    from gifts.defaults import seed_catalog

    seed_defaults()  # once, outside the examples' savepoints
    seed_catalog()


def test_money_flows_keep_every_invariant(stand_in):
    seed()
    run(MoneyFlows, examples=8, steps=20)


@pytest.mark.slow
def test_money_flows_keep_every_invariant_long(stand_in):
    seed()
    run(MoneyFlows, examples=60, steps=40)


@pytest.fixture
def stand_in(fake_stripe, settings):
    settings.STRIPE_CONNECT_TIMEOUT_SECONDS = 5
    connect.reset()
    yield
    connect.reset()


class MoneyFlows(RuleBasedStateMachine):
    @initialize()
    def setup(self):
        # Each example runs in a savepoint, rolled back at teardown: examples do not see each other.
        self.atomic = transaction.atomic()
        self.atomic.__enter__()
        n = next(_seq)
        self.staff = make_user(f"staff{n}", staff=True)
        self.fans = [make_user(f"fan{n}_{i}") for i in range(2)]
        self.creators = []
        for i in range(2):
            profile = make_creator(f"maker{n}.{i}")
            enroll(profile, "creator-next", "tips", "video-gifts")
            connect.enabled_account(profile.user)
            self.creators.append(profile)
        self.videos = [Video.objects.create(creator=c, kind="original", title="v") for c in self.creators]
        self.packs = list(CoinPack.objects.order_by("coins").values_list("pk", flat=True)[:3])
        self.gifts = list(Gift.objects.filter(active=True).order_by("coins").values_list("pk", flat=True)[:4])
        self.buyer, self.brand = brand_member(f"buyer{n}")
        self.listed = listed_creator(f"listed{n}.x")
        self.collabs: list[int] = []  # funded (or tried): release or refund picks among them
        self.payments: list[int] = []  # succeeded or not: refunds and disputes pick among them
        self.days = 0  # how far "now" has moved for hold releases
        # Something to spend from the first step on (postings as the product makes them; the
        # steps add more through the provider): coins, diamonds, cash past its hold.
        for fan in self.fans:
            give_coins(fan, 3_000)
        for profile in self.creators:
            give_diamonds(profile.user, 6_000)
            give_available_cash(profile.user, 8_000)

    def teardown(self):
        if hasattr(self, "atomic"):
            self.atomic.__exit__(Exception, Exception("rollback"), None)
        clear_account_cache()  # platform accounts made in the savepoint are gone
        cache.clear()

    # --- steps ----------------------------------------------------------------------------------
    @rule(fan=st.integers(0, 1), pack=st.integers(0, 2))
    def buy_coins(self, fan, pack):
        try:
            purchase = gifts.coin_purchase_create(fan=self.fans[fan], pack=self.packs[pack],
                                                  payment_method="pm_card_visa")
        except REFUSALS as exc:
            event(f"buy_coins refused: {type(exc).__name__}")
            return
        event(f"buy_coins: {purchase.payment.status if purchase.payment else 'no payment'}")
        if purchase.payment_id:
            self.payments.append(purchase.payment_id)

    @rule(fan=st.integers(0, 1), creator=st.integers(0, 1), cents=st.integers(100, 10_000))
    def tip(self, fan, creator, cents):
        try:
            tip = tips.tip_create(fan=self.fans[fan], creator=self.creators[creator].handle,
                                  amount=Money(cents, "USD"), payment_method="pm_card_visa")
        except REFUSALS as exc:
            event(f"tip refused: {type(exc).__name__}")
            return
        event(f"tip: {tip.payment.status if tip.payment else 'no payment'}")
        if tip.payment_id:
            self.payments.append(tip.payment_id)

    @rule(fan=st.integers(0, 1), creator=st.integers(0, 1), gift=st.integers(0, 3),
          quantity=st.integers(1, 5))
    def send_gift(self, fan, creator, gift, quantity):
        try:
            gifts.gift_send(fan=self.fans[fan], creator=self.creators[creator].handle,
                            gift=self.gifts[gift], quantity=quantity, video=self.videos[creator].pk)
            event("gifts.gift_send: done")
        except REFUSALS as exc:
            event(f"gifts.gift_send refused: {type(exc).__name__}")

    @rule(creator=st.integers(0, 1), diamonds=st.integers(1_500, 12_000))
    def redeem(self, creator, diamonds):
        try:
            gifts.redemption_create(creator=self.creators[creator], diamonds=diamonds)
            event("gifts.redemption_create: done")
        except REFUSALS as exc:
            event(f"gifts.redemption_create refused: {type(exc).__name__}")

    @rule(pick=st.integers(0, 10_000), partial=st.booleans())
    def refund(self, pick, partial):
        if not self.payments:
            return
        payment = Payment.objects.get(pk=self.payments[pick % len(self.payments)])
        amount = max(1, payment.amount // 3) if partial else None
        try:
            payments.payment_refund(payment=payment, actor=self.staff, reason="stateful", amount=amount)
            event("payments.payment_refund: done")
        except REFUSALS as exc:
            event(f"payments.payment_refund refused: {type(exc).__name__}")

    @rule(pick=st.integers(0, 10_000), outcome=st.sampled_from([None, "won", "lost"]))
    def dispute(self, pick, outcome):
        if not self.payments:
            return
        payment_id = self.payments[pick % len(self.payments)]
        payments.apply_dispute(payment_id=payment_id, dispute_id=f"dp_{payment_id}",
                               closed_status=outcome, source="stateful")
        event(f"dispute: {outcome or 'opened'}")

    @rule(days=st.integers(1, 10))
    def release_holds(self, days):
        self.days += days
        holds_release_due(now=timezone.now() + timedelta(days=self.days))

    @rule(creator=st.integers(0, 1), cents=st.integers(900, 6_000))
    def withdraw(self, creator, cents):
        try:
            payouts.withdrawal_create(user=self.creators[creator].user, amount=Money(cents, "USD"))
            event("payouts.withdrawal_create: done")
        except REFUSALS as exc:
            event(f"payouts.withdrawal_create refused: {type(exc).__name__}")

    @rule(fee=st.integers(1_000, 60_000))
    def escrow_fund(self, fee):
        collaboration_id = accepted_collaboration(self.buyer, self.brand, self.listed, fee=fee)
        response = fund(self.buyer, collaboration_id)
        event(f"escrow_fund: {response.status_code} {response.json().get('state', '')}")
        self.collabs.append(collaboration_id)
        payment_id = Collaboration.objects.get(pk=collaboration_id).payment_id
        if payment_id:
            self.payments.append(payment_id)

    @rule(pick=st.integers(0, 10_000), release=st.booleans())
    def escrow_settle(self, pick, release):
        """Release (the creator submits, the brand approves) or refund (the brand cancels)."""
        if not self.collabs:
            return
        collaboration_id = self.collabs[pick % len(self.collabs)]
        if release:
            submit(self.listed, collaboration_id)
            response = api_post(self.buyer, f"collaborations/{collaboration_id}/approve/")
        else:
            response = api_post(self.buyer, f"collaborations/{collaboration_id}/cancel/", {"reason": "stateful"})
        assert response.status_code < 500, response.content
        event(f"escrow_{'release' if release else 'refund'}: {response.status_code}")

    @rule()
    def pay_out(self):
        batch = batches.payout_batch_create()
        if batch is not None:
            batches.payout_batch_run(batch_id=batch.pk)
            event(f"pay_out: {batches.batch_progress(batch)}")

    # --- after every step -----------------------------------------------------------------------
    @invariant()
    def ledger_proves_itself(self):
        if not hasattr(self, "atomic"):
            return
        assert ledger_check() == []
        with connection.cursor() as cursor:
            cursor.execute("SELECT asset, SUM(amount) FROM ledger_entry GROUP BY asset HAVING SUM(amount) <> 0")
            assert cursor.fetchall() == []
