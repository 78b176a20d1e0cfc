"""Payout batches: paid effectively once (R8), retries, lookups after key expiry, permanent failures,
the balance check, and refunds/disputes after a payout (R9)."""

from __future__ import annotations

import datetime
import threading

import pytest
from django.db import connection
from django.utils import timezone

from creatornext.core import config
from creatornext.core.models import OutboundEmail
from creatornext.ledger import selectors as ledger
from creatornext.ledger.models import AccountKind, Entry
from creatornext.money import Money
from creatornext.payouts import batches, services, tasks
from creatornext.payouts.config import KEY_SAFE_HOURS, MAX_INLINE_ATTEMPTS
from creatornext.payouts.models import PayoutBatch, PayoutItem, Withdrawal
from tests.support import connect
from tests.support.ledger import give_available_cash


def cash(user):
    return ledger.wallet(user)["cash"][0]


def sent_total(currency="USD"):
    return sum(Entry.objects.filter(account__kind=AccountKind.PAYOUTS_SENT, asset=currency)
               .values_list("amount", flat=True))


def batch_of(user, *amounts):
    for cents in amounts:
        services.withdrawal_create(user=user, amount=Money(cents, "USD"))
    return batches.payout_batch_create()


def test_a_batch_pays_each_item_once_records_it_and_emails_the_creator(funded):
    batch = batch_of(funded, 1000, 2500)
    assert tasks.payout_batch_run(batch.pk) == "done"
    items = list(batch.items.order_by("pk"))
    assert [i.stage for i in items] == ["paid", "paid"]
    transfers = connect.transfers()
    assert sorted(t["amount"] for t in transfers) == [1000, 2500]
    assert {t["transfer_group"] for t in transfers} == {f"payout-item:{i.pk}" for i in items}
    assert (cash(funded)["in_payout"], sent_total()) == (0, 3500)
    assert set(Withdrawal.objects.values_list("status", flat=True)) == {"paid"}
    assert OutboundEmail.objects.filter(template="payout_paid").count() == 2
    assert batches.batch_progress(batch) == {"total": 2, "done": 2, "failed": 0, "open": 0}
    # Running it again pays nothing more
    tasks.payout_batch_run(batch.pk)
    batches.payouts_sweep()
    assert len(connect.transfers()) == 2


def test_r8_a_timeout_after_the_transfer_was_made_is_retried_and_finds_the_first(funded):
    batch = batch_of(funded, 4200)
    connect.faults(timeout_after_create_next=1, stall_seconds=3)
    tasks.payout_batch_run(batch.pk)
    state = connect.state()
    assert state["creates"] == 1 and state["replays"] >= 1, state
    item = batch.items.get()
    assert item.stage == "paid" and item.transfer_id == state["transfers"][0]["id"]
    assert item.attempts == 1  # one claim; the retry was inside it, with the same key
    assert sent_total() == 4200


@pytest.mark.django_db(transaction=True)
def test_r8_the_same_payout_task_delivered_five_times_at_once_makes_one_transfer_per_item(stand_in):
    from eligibility.defaults import seed_defaults
    from tests.eligibility.helpers import make_creator

    seed_defaults()
    users = [make_creator(f"c{i}.maker").user for i in range(3)]
    for user in users:
        connect.enabled_account(user)
        give_available_cash(user, 50_000)
        for cents in (1000, 1100, 1200, 1300):
            services.withdrawal_create(user=user, amount=Money(cents, "USD"))
    batch = batches.payout_batch_create()
    barrier = threading.Barrier(5)

    def deliver():
        barrier.wait()
        try:
            tasks.payout_batch_run.run(batch.pk)
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    transfers = connect.transfers()
    assert len(transfers) == 12
    assert len({t["transfer_group"] for t in transfers}) == 12
    assert set(PayoutItem.objects.values_list("stage", flat=True)) == {"paid"}
    assert sum(t["amount"] for t in transfers) == sent_total() == 3 * 4600
    assert PayoutBatch.objects.get(pk=batch.pk).stage == "done"


def test_429s_are_retried_with_backoff(funded):
    batch = batch_of(funded, 1000)
    connect.faults(rate_limit_next=3)
    tasks.payout_batch_run(batch.pk)
    assert batch.items.get().stage == "paid"
    assert connect.state()["rate_limited"] == 3 and len(connect.transfers()) == 1


def test_an_item_that_keeps_failing_waits_for_the_sweeper_then_is_paid_once(funded):
    batch = batch_of(funded, 1000)
    # Two attempts, not the default's eight: the backoff between them is real sleeping.
    config.set_value(definition=MAX_INLINE_ATTEMPTS, value=2, actor=None, reason="short test")
    connect.faults(rate_limit_next=100)
    tasks.payout_batch_run(batch.pk)
    item = batch.items.get()
    assert item.stage == "claimed" and item.next_attempt_at > timezone.now() and "Rate" in item.last_error
    assert PayoutBatch.objects.get(pk=batch.pk).stage == "paying"
    connect.faults(rate_limit_next=0)
    PayoutItem.objects.filter(pk=item.pk).update(next_attempt_at=timezone.now(), claimed_until=timezone.now())
    batches.payouts_sweep()
    assert PayoutItem.objects.get(pk=item.pk).stage == "paid" and len(connect.transfers()) == 1


def test_a_claim_older_than_the_key_lifetime_is_looked_up_not_made_again(funded):
    """A worker died after the transfer was made; it is resumed 25 hours later (key expired)."""
    batch = batch_of(funded, 3000)
    item = batch.items.get()
    PayoutBatch.objects.filter(pk=batch.pk).update(stage="paying")
    # The first attempt: claimed, and the provider made the transfer, then the worker died.
    assert batches._claim(item.pk)
    item.refresh_from_db()
    batches._transfer(item)
    assert len(connect.transfers()) == 1
    # A day later the stand-in has forgotten the key; our claim's lease expired long ago.
    connect.call("clock", {"advance": 25 * 3600})
    past = timezone.now() - datetime.timedelta(hours=25)
    PayoutItem.objects.filter(pk=item.pk).update(first_attempt_at=past, claimed_until=past)
    assert config.get(KEY_SAFE_HOURS) == 23
    batches.payouts_sweep()
    item.refresh_from_db()
    assert item.stage == "paid" and len(connect.transfers()) == 1
    assert item.transfer_id == connect.transfers()[0]["id"]


def test_a_permanent_refusal_returns_the_money_and_tells_the_creator(funded):
    batch = batch_of(funded, 5000)
    account = funded.payout_account
    connect.faults(fail_destinations=[account.provider_id])
    tasks.payout_batch_run(batch.pk)
    item = batch.items.get()
    assert item.stage == "failed" and item.failure_code == "insufficient_capabilities_for_transfer"
    assert (cash(funded)["available"], cash(funded)["in_payout"]) == (500_000, 0)
    assert Withdrawal.objects.get().status == "failed"
    assert OutboundEmail.objects.filter(template="payout_failed", to=[funded.email]).count() == 1
    assert connect.transfers() == [] and sent_total() == 0


def test_the_provider_balance_is_checked_before_the_batch_starts(funded):
    from creatornext.accounts.models import User

    User.objects.create_user(username="boss", email="boss@example.com", password="x", is_staff=True)
    batch = batch_of(funded, 6000)
    connect.call("balance", {"currency": "usd", "amount": 5999})
    assert tasks.payout_batch_run(batch.pk) == "waiting_for_funds"
    assert connect.state()["requests"] == 0
    assert OutboundEmail.objects.filter(template="payout_batch_waiting").count() == 1
    connect.call("balance", {"currency": "usd", "amount": 6000})
    batches.payouts_sweep()
    assert PayoutBatch.objects.get(pk=batch.pk).stage == "done"
    assert connect.state()["balance"]["usd"] == 0


def test_withdrawals_of_accounts_without_payouts_enabled_wait(funded):
    services.withdrawal_create(user=funded, amount=Money(1000, "USD"))
    funded.payout_account.payouts_enabled = False
    funded.payout_account.save()
    assert batches.payout_batch_create() is None
    assert Withdrawal.objects.get().status == "requested"


# --- R9: a refund or dispute after the money was paid out -----------------------------------------
def test_r9_a_refund_after_payout_becomes_debt_netted_before_the_next_withdrawal_and_from_income(
        funded, django_capture_on_commit_callbacks):
    from creatornext.ledger.services import Leg, creator_cash_take, creator_income, platform_account

    inflow = platform_account(AccountKind.PROVIDER_INFLOW, "USD")
    everything = cash(funded)["available"]
    batch = batch_of(funded, 50_000)
    tasks.payout_batch_run(batch.pk)
    # Move the rest out too, so nothing is left to take back from
    from creatornext.ledger.services import Posting, account_for, post

    post(Posting(key="test-drain", kind="test", legs=[
        Leg(account_for(funded, AccountKind.AVAILABLE, "USD"), -(everything - 50_000)),
        Leg(inflow, everything - 50_000)]))
    # A refund of 30.00 arrives after the payout: explicit debt
    creator_cash_take(key="test-refund-1", kind="tip_refund", owner=funded, amount=Money(3000, "USD"),
                      sink_legs=[Leg(inflow, 3000)])
    assert cash(funded)["debt"] == 3000
    # The next income repays the debt first
    give = 2000
    creator_income(key="test-income-1", kind="tip", owner=funded, amount=Money(give, "USD"),
                   source_legs=[Leg(inflow, -give)], hold_days=0)
    assert (cash(funded)["debt"], cash(funded)["pending"]) == (1000, 0)  # income repaid debt first
    # Available cash later: the rest of the debt is netted before the next withdrawal
    post(Posting(key="test-avail", kind="test", legs=[
        Leg(account_for(funded, AccountKind.AVAILABLE, "USD"), 5000), Leg(inflow, -5000)]))
    w = services.withdrawal_create(user=funded, amount=Money(4000, "USD"))
    assert w.netted_debt == 1000 and cash(funded)["debt"] == 0
    batch2 = batches.payout_batch_create()
    assert tasks.payout_batch_run(batch2.pk) == "done"
    assert sorted(t["amount"] for t in connect.transfers()) == [4000, 50_000]


def test_r9_a_refund_while_the_item_is_in_payout_does_not_crash_the_batch(funded):
    from creatornext.ledger.services import Leg, Posting, account_for, creator_cash_take, platform_account, post

    inflow = platform_account(AccountKind.PROVIDER_INFLOW, "USD")
    batch = batch_of(funded, 100_000)
    post(Posting(key="test-drain2", kind="test", legs=[
        Leg(account_for(funded, AccountKind.AVAILABLE, "USD"), -400_000), Leg(inflow, 400_000)]))
    creator_cash_take(key="test-dispute-1", kind="tip_dispute", owner=funded, amount=Money(7000, "USD"),
                      sink_legs=[Leg(inflow, 7000)])
    assert cash(funded)["debt"] == 7000 and cash(funded)["in_payout"] == 100_000
    assert tasks.payout_batch_run(batch.pk) == "done"
    assert cash(funded)["in_payout"] == 0 and cash(funded)["debt"] == 7000
