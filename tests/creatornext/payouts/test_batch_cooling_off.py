"""The payout account's cooling-off holds at batch time too, not only when a withdrawal is requested
(account-takeover protection, PRODUCT.md §5): a withdrawal requested before the account changed is
not paid while the account cools off; it waits, money and status unchanged, and a later batch pays
it exactly once."""

from __future__ import annotations

import datetime

from django.db.models import F
from django.test import Client

from creatornext.ledger import selectors as ledger
from creatornext.ledger.models import AccountKind, Entry
from creatornext.money import Money
from creatornext.payouts import batches, services, tasks
from creatornext.payouts.models import PayoutAccount, PayoutBatch, PayoutItem, Withdrawal
from tests.support import connect
from tests.support.ledger import give_available_cash
from tests.support.stripe import deliver, event

SECRET = "whsec_creatornext_local"
COOLING_OFF = datetime.timedelta(days=5)  # payouts.cooling_off_days' default


def cash(user):
    return ledger.wallet(user)["cash"][0]


def sent_total(currency="USD"):
    return sum(Entry.objects.filter(account__kind=AccountKind.PAYOUTS_SENT, asset=currency)
               .values_list("amount", flat=True))


def time_passes(delta: datetime.timedelta) -> None:
    """Move the clock forward by ``delta``: every stored time the payout rules read moves back."""
    PayoutAccount.objects.update(changed_at=F("changed_at") - delta)
    Withdrawal.objects.update(created_at=F("created_at") - delta)
    PayoutItem.objects.filter(next_attempt_at__isnull=False).update(next_attempt_at=F("next_attempt_at") - delta)


def bank_changes(user, capture, bank="ba_new_bank"):
    """Stripe tells us the connected account's payout bank changed (an account takeover, say)."""
    account = PayoutAccount.objects.get(user=user)
    evt = event("account.updated", {"id": account.provider_id, "object": "account", "payouts_enabled": True,
                                    "details_submitted": True, "external_accounts": {"data": [{"id": bank}]}})
    with capture(execute=True):
        assert deliver(Client(), evt, SECRET).status_code == 200
    account.refresh_from_db()
    assert account.external_account == bank
    return account


def test_a_withdrawal_requested_before_the_bank_changed_is_not_paid_until_the_cooling_off_passed(
        funded, nothing_changed, django_capture_on_commit_callbacks):
    # Given Monday's automatic weekly withdrawal
    services.payout_account_set_auto(account=funded.payout_account, auto_withdraw=True, actor=funded)
    assert services.withdrawals_auto() == 1
    withdrawal = Withdrawal.objects.get(user=funded)
    assert (withdrawal.status, withdrawal.amount) == ("requested", 100_000)
    # and on Tuesday the payout bank changes
    time_passes(datetime.timedelta(days=1))
    account = bank_changes(funded, django_capture_on_commit_callbacks)
    withdrawal.refresh_from_db()
    assert account.changed_at - withdrawal.created_at > datetime.timedelta(days=1)
    # When Wednesday's batch runs
    time_passes(datetime.timedelta(days=1))
    with nothing_changed():
        assert batches.payout_batch_create() is None
        assert batches.payouts_run_due() == []
    # Then nothing went to the provider; the withdrawal and its money wait where they were
    assert connect.transfers() == []
    assert Withdrawal.objects.get(pk=withdrawal.pk).status == "requested"
    assert (cash(funded)["available"], cash(funded)["in_payout"], sent_total()) == (400_000, 100_000, 0)
    assert PayoutItem.objects.count() == 0 and PayoutBatch.objects.count() == 0
    # Still held 30 seconds before the cooling-off ends (one day of it has passed already)
    time_passes(COOLING_OFF - datetime.timedelta(days=1, seconds=30))
    with nothing_changed():
        assert batches.payouts_run_due() == []
    assert connect.transfers() == []
    # When the cooling-off has passed, the next batch pays it exactly once, to the account
    time_passes(datetime.timedelta(seconds=31))
    ran = batches.payouts_run_due()
    assert len(ran) == 1
    batch = PayoutBatch.objects.get(pk=ran[0])
    assert batch.stage == "done"
    item = batch.items.get()
    assert (item.withdrawal_id, item.stage, item.destination) == (withdrawal.pk, "paid", account.provider_id)
    transfers = connect.transfers()
    assert [(t["amount"], t["transfer_group"]) for t in transfers] == [(100_000, f"payout-item:{item.pk}")]
    assert Withdrawal.objects.get(pk=withdrawal.pk).status == "paid"
    assert (cash(funded)["available"], cash(funded)["in_payout"], sent_total()) == (400_000, 0, 100_000)
    # And later batches pay nothing more
    assert batches.payout_batch_create() is None
    batches.payouts_run_due()
    assert len(connect.transfers()) == 1 and sent_total() == 100_000


def test_a_held_withdrawal_does_not_keep_others_out_of_a_limited_batch(funded, django_capture_on_commit_callbacks):
    from tests.eligibility.helpers import make_creator

    other = make_creator("other.maker").user
    connect.enabled_account(other)
    give_available_cash(other, 10_000)
    held = services.withdrawal_create(user=funded, amount=Money(1000, "USD"))  # the oldest
    paid = services.withdrawal_create(user=other, amount=Money(2000, "USD"))
    bank_changes(funded, django_capture_on_commit_callbacks)
    batch = batches.payout_batch_create(limit=1)
    assert batch is not None and [i.withdrawal_id for i in batch.items.all()] == [paid.pk]
    assert tasks.payout_batch_run(batch.pk) == "done"
    assert [t["amount"] for t in connect.transfers()] == [2000]
    assert Withdrawal.objects.get(pk=held.pk).status == "requested"
    assert cash(funded)["in_payout"] == 1000


def test_an_item_gathered_before_the_bank_changed_waits_in_its_batch_then_is_paid_once(
        funded, django_capture_on_commit_callbacks):
    # Given a batch gathered, waiting for the provider balance to cover it
    withdrawal = services.withdrawal_create(user=funded, amount=Money(6000, "USD"))
    batch = batches.payout_batch_create()
    assert batch is not None
    connect.call("balance", {"currency": "usd", "amount": 5999})
    assert tasks.payout_batch_run(batch.pk) == "waiting_for_funds"
    # and the payout bank changes before the funds arrive
    account = bank_changes(funded, django_capture_on_commit_callbacks)
    connect.call("balance", {"currency": "usd", "amount": 6000})
    # When the sweeper runs the batch
    batches.payouts_sweep()
    # Then nothing went to the provider; the item waits, never called, until the cooling-off ends
    assert connect.transfers() == []
    item = PayoutItem.objects.get(pk=batch.items.get().pk)
    assert (item.stage, item.attempts, item.first_attempt_at) == ("queued", 0, None)
    assert item.next_attempt_at == services.cooling_off_until(account)
    assert "cooling off" in item.last_error
    assert Withdrawal.objects.get(pk=withdrawal.pk).status == "processing"
    assert (cash(funded)["in_payout"], sent_total()) == (6000, 0)
    assert PayoutBatch.objects.get(pk=batch.pk).stage == "paying"
    assert batches.batch_progress(batch) == {"total": 1, "done": 0, "failed": 0, "open": 1}
    batches.payouts_sweep()
    assert connect.transfers() == []
    # When the cooling-off has passed, the sweeper pays it exactly once
    time_passes(COOLING_OFF + datetime.timedelta(seconds=1))
    batches.payouts_sweep()
    item.refresh_from_db()
    assert (item.stage, item.attempts, item.last_error) == ("paid", 1, "")
    assert [t["amount"] for t in connect.transfers()] == [6000]
    assert PayoutBatch.objects.get(pk=batch.pk).stage == "done"
    assert Withdrawal.objects.get(pk=withdrawal.pk).status == "paid"
    assert (cash(funded)["in_payout"], sent_total()) == (0, 6000)
    batches.payouts_sweep()
    assert len(connect.transfers()) == 1
