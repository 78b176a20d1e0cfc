"""The webhook drain's batches of tip successes (creatornext/payments/webhooks.py, ``_process_claimed``):
many payments moved and many credits posted in a few statements, with the same outcome as one by
one — each tip credited once, debt netted in order, velocity judged by the hour up to each tip —
and every event the batch cannot take (a replay, an unknown payment, another kind, a batch that
fails as a whole) applied alone."""

from __future__ import annotations

import datetime

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from creatornext.core import config
from creatornext.ledger import selectors as ledger
from creatornext.ledger.checks import ledger_check
from creatornext.ledger.config import HOLD_DAYS
from creatornext.ledger.models import AccountKind, Hold, Transaction
from creatornext.ledger.services import Leg, Posting, account_for, platform_account, post
from creatornext.payments import services
from creatornext.payments.models import Payment, PaymentStatusChange, WebhookEvent
from creatornext.payments.provider import ProviderPayment
from creatornext.payments.webhooks import webhook_event_store, webhook_events_drain
from eligibility.defaults import seed_defaults
from tests.eligibility.helpers import make_creator
from tests.support.concurrency import run_together
from tests.support.stripe import charge_refunded, pi_succeeded
from tests.support.world import make_user
from tests.tips.conftest import pending_tip_event
from tips import velocity
from tips.config import VELOCITY_COUNT
from tips.models import Tip

NET = 1000 - 59  # pending_tip_event: 10.00 with a 0.59 fee


FELL_BACK = "payment successes failed; applying them one by one"


@pytest.fixture
def batches_held(caplog):
    """After the test: no batch fell back to the one-by-one path (so the batch path did the work)."""
    yield
    assert FELL_BACK not in caplog.text


def pending(creator) -> int:
    return ledger.wallet(creator.user)["cash"][0]["pending"]


def credits_of(tip) -> list[Transaction]:
    return list(Transaction.objects.filter(key=f"tip:{tip.pk}:captured"))


def tip_events(creator, fans, n: int, prefix: str, start=None):
    """``n`` pending tips to ``creator`` from ``fans`` in turn, a minute apart; (tips, events)."""
    start = start or timezone.now() - datetime.timedelta(hours=3)
    made = [pending_tip_event(creator, fans[i % len(fans)], f"{prefix}-{i}",
                              created_at=start + datetime.timedelta(minutes=i)) for i in range(n)]
    return [t for t, _ in made], [e for _, e in made]


@pytest.mark.django_db
def test_a_batch_credits_every_tip_once_in_a_number_of_statements_that_does_not_grow_with_it(
        queued, batches_held, django_capture_on_commit_callbacks):
    maya, leo = make_creator("maya.makes"), make_creator("leo.cooks")
    fans = [make_user(f"batch_fan_{i}") for i in range(7)]
    tip_events(maya, fans, 2, "warm-maya")
    tip_events(leo, fans, 2, "warm-leo")
    with django_capture_on_commit_callbacks(execute=True):  # platform and creator accounts remembered
        assert webhook_events_drain() == (4, False)

    statements = {}
    for size in (6, 30):
        tips = (tip_events(maya, fans, size * 2 // 3, f"maya-{size}")[0]
                + tip_events(leo, fans, size // 3, f"leo-{size}")[0])
        with CaptureQueriesContext(connection) as queries:
            assert webhook_events_drain() == (size, False)
        statements[size] = len(queries)
        for tip in tips:
            [credit] = credits_of(tip)
            assert credit.metadata == {"netted_debt": 0}
            assert tip.payment.history.get().to_status == "succeeded"  # one move each
    # One batch: the same statements for 6 tips as for 30 (one by one: 19 per tip); 22 with the
    # drain's last look for more (pytest -s and a print of queries.captured_queries list them).
    assert statements[6] == statements[30] <= 22, statements
    assert pending(maya) == (2 + 4 + 20) * NET and pending(leo) == (2 + 2 + 10) * NET
    assert set(WebhookEvent.objects.values_list("status", "attempts")) == {("processed", 1)}
    assert PaymentStatusChange.objects.filter(source__startswith="webhook:evt_").count() == 40
    days = config.get(HOLD_DAYS)
    for hold in Hold.objects.select_related("transaction"):
        assert hold.amount == NET
        assert hold.release_at == hold.transaction.created_at + datetime.timedelta(days=days)
    assert Hold.objects.count() == 40
    assert ledger_check() == []


@pytest.mark.django_db
def test_a_batch_nets_a_creators_debt_first_in_order_as_one_by_one_would(queued, batches_held):
    maya = make_creator("maya.makes")
    fan = make_user("fan")
    debt = account_for(maya.user, AccountKind.DEBT, "USD")
    post(Posting(key="test:debt", kind="test_debt", legs=[
        Leg(debt, -1500), Leg(platform_account(AccountKind.ADJUSTMENTS, "USD"), 1500)]))
    tips, _ = tip_events(maya, [fan], 3, "debt")
    assert webhook_events_drain() == (3, False)
    netted = [credits_of(t)[0].metadata["netted_debt"] for t in tips]
    assert netted == [NET, 1500 - NET, 0]
    assert ledger.wallet(maya.user)["cash"][0]["debt"] == 0
    assert pending(maya) == 3 * NET - 1500
    assert sorted(Hold.objects.values_list("amount", flat=True)) == [2 * NET - 1500, NET]
    assert ledger_check() == []


@pytest.mark.django_db
def test_velocity_in_a_batch_holds_exactly_the_tips_past_the_hour_whatever_the_event_order(queued, batches_held):
    config.set_value(definition=VELOCITY_COUNT, value=2, actor=make_user("boss", staff=True))
    maya = make_creator("maya.makes")
    fan, other = make_user("fan"), make_user("other_fan")
    start = timezone.now() - datetime.timedelta(hours=2)
    # Four tips of one fan within the hour, their events stored in reverse order; one of another fan.
    made = [pending_tip_event(maya, fan, f"fast-{i}", created_at=start + datetime.timedelta(minutes=i))
            for i in range(4)]
    WebhookEvent.objects.all().delete()
    for tip, _ in reversed(made):
        webhook_event_store(pi_succeeded(tip.payment, fee=59))
    calm, _ = pending_tip_event(maya, other, "calm", created_at=start)
    assert webhook_events_drain() == (5, False)
    held = {t.pk for t in velocity.held_tips(Tip.objects.all())}
    assert held == {made[2][0].pk, made[3][0].pk}  # the third and fourth of the hour
    assert "velocity_held" not in credits_of(calm)[0].metadata  # another fan's hour
    for tip, _ in made[2:]:
        assert credits_of(tip)[0].metadata["velocity_held"] is True
        assert Hold.objects.get(transaction__key=f"tip:{tip.pk}:captured").release_at > \
            timezone.now() + datetime.timedelta(days=3650)
    assert pending(maya) == 5 * NET
    assert ledger_check() == []


@pytest.mark.django_db
def test_events_a_batch_cannot_take_are_applied_alone_and_block_nothing(queued, batches_held, fake_stripe):
    # fake_stripe: a refund our rows do not explain is looked up at the provider (payments.services)
    maya = make_creator("maya.makes")
    fan = make_user("fan")
    tips, _ = tip_events(maya, [fan], 4, "mixed")
    # A second success event for the first tip (a provider replay under another id), a success for
    # a payment of ours that was never committed (young: it fails, to be retried), and a refund of
    # the second tip, delivered before its success is applied.
    webhook_event_store(pi_succeeded(tips[0].payment, fee=59))
    ghost = Payment(pk=987_654, provider_id="pi_ghost", amount=500, currency="USD")
    webhook_event_store(pi_succeeded(ghost, fee=30))
    webhook_event_store(charge_refunded(tips[1].payment, 1000))
    assert webhook_events_drain() == (7, False)
    for tip in tips:
        assert len(credits_of(tip)) == 1
        assert tip.payment.history.filter(to_status="succeeded").count() == 1
    assert WebhookEvent.objects.get(payload__data__object__id="pi_ghost").status == "failed"
    assert WebhookEvent.objects.filter(status="processed").count() == 6
    assert Payment.objects.get(pk=tips[1].payment.pk).status == "refunded"
    assert pending(maya) == 3 * NET  # the refunded tip's net was taken back
    assert ledger_check() == []


@pytest.mark.django_db
def test_a_batch_the_ledger_refuses_is_undone_whole_and_each_tip_is_credited_alone_once(queued, caplog):
    """A credit already posted (here by hand) makes the ledger refuse the whole batch: the batch's
    moves are rolled back, and the one-by-one path credits the others and finds that one posted."""
    maya = make_creator("maya.makes")
    fan = make_user("fan")
    tips, _ = tip_events(maya, [fan], 3, "refused")
    posted = post(Posting(key=f"tip:{tips[1].pk}:captured", kind="tip", legs=[
        Leg(platform_account(AccountKind.PROVIDER_INFLOW, "USD"), -NET),
        Leg(account_for(maya.user, AccountKind.PENDING, "USD"), NET)]))
    assert webhook_events_drain() == (3, False)
    assert FELL_BACK in caplog.text
    assert credits_of(tips[1]) == [posted]
    for tip in tips:
        assert len(credits_of(tip)) == 1
        assert tip.payment.history.filter(to_status="succeeded").count() == 1  # not two: undone whole
    assert set(WebhookEvent.objects.values_list("status", "attempts")) == {("processed", 1)}
    assert pending(maya) == 3 * NET
    assert ledger_check() == []


@pytest.mark.django_db(transaction=True)
def test_concurrent_drains_and_confirmations_credit_each_tip_once(queued, batches_held):
    """Four drains in batches of 25 share 120 events while two confirmation paths (the API's
    answer from the provider) apply the same successes, in the other order: each tip once."""
    seed_defaults()
    creators = [make_creator(f"creator{i}") for i in range(3)]
    fans = [make_user(f"fan{i}") for i in range(10)]
    tips = []
    for i, creator in enumerate(creators):
        tips += tip_events(creator, fans, 40, f"race-{i}")[0]

    def work(i: int):
        if i < 4:
            return webhook_events_drain(batch=25)
        for tip in reversed(tips[i - 4::2]):
            result = ProviderPayment(id=tip.payment.provider_id, status="succeeded", fee=59)
            services.apply_provider_state(payment_id=tip.payment.pk, result=result, source="confirm")
        return None

    results = run_together(6, work)
    assert not [r for r in results if isinstance(r, Exception)], results
    assert sum(r[0] for r in results if isinstance(r, tuple)) == 120
    for tip in tips:
        assert len(credits_of(tip)) == 1
        assert tip.payment.history.filter(to_status="succeeded").count() == 1
    assert set(WebhookEvent.objects.values_list("status", flat=True)) == {"processed"}
    for creator in creators:
        assert pending(creator) == 40 * NET
    with transaction.atomic():
        assert ledger_check() == []
