"""Drains: stored events are applied by drain tasks, one queued drain serving every event stored
before it starts (creatornext/payments/webhooks.py, "waking the processor"); concurrent drains
share the work without applying anything twice."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.db import connection, transaction

from creatornext.ledger.checks import ledger_check
from creatornext.ledger.models import Transaction
from creatornext.payments import tasks
from creatornext.payments.models import Payment, WebhookEvent
from creatornext.payments.webhooks import DRAIN_FLAG, webhook_event_store, webhook_events_drain
from tests.support.concurrency import run_together
from tests.support.stripe import pi_succeeded
from tests.support.world import make_user


def processing_payment(fan, creator, name: str) -> Payment:
    """A payment we recorded that the provider is still processing (the test purpose credits
    ``creator``)."""
    return Payment.objects.create(purpose="test_payment", ref=f"test:{name}", payer=fan, amount=1000,
                                  currency="USD", status="processing", provider_id=f"pi_{name}",
                                  metadata={"creator_id": creator.pk})


def pending_events(n: int) -> list[WebhookEvent]:
    """``n`` succeeded-payment events for payments we recorded (fee in the event, as Stripe
    expands it), stored but not applied: their drain is not queued yet."""
    fan, creator = make_user("drain_fan"), make_user("drain_creator")
    events = []
    for i in range(n):
        evt = pi_succeeded(processing_payment(fan, creator, f"drain_{i}"), fee=59)
        events.append(WebhookEvent.objects.create(event_id=evt["id"], type=evt["type"], payload=evt))
    return events


@pytest.mark.django_db
def test_a_burst_of_events_queues_one_drain_until_it_starts(queued, django_capture_on_commit_callbacks):
    fan = make_user("burst_fan")
    for i in range(5):
        payment = processing_payment(fan, fan, f"burst_{i}")
        with django_capture_on_commit_callbacks(execute=True):
            assert webhook_event_store(pi_succeeded(payment, fee=59))[1] is True
    assert len(queued) == 1 and cache.get(DRAIN_FLAG) == 1
    assert webhook_events_drain() == (5, False)  # the one drain applies all five
    assert cache.get(DRAIN_FLAG) is None
    assert set(WebhookEvent.objects.values_list("status", flat=True)) == {"processed"}
    payment = processing_payment(fan, fan, "burst_late")
    with django_capture_on_commit_callbacks(execute=True):  # stored after the drain started
        webhook_event_store(pi_succeeded(payment, fee=59))
    assert len(queued) == 2  # queues the next drain


@pytest.mark.django_db
def test_a_drain_hands_over_when_its_time_slice_ends(queued):
    pending_events(5)
    assert webhook_events_drain(seconds=0, batch=2) == (2, True)  # one batch applied, more left
    assert WebhookEvent.objects.filter(status="pending").count() == 3
    assert webhook_events_drain(batch=2) == (3, False)


@pytest.mark.django_db(transaction=True)
def test_concurrent_drains_share_the_events_and_apply_each_once(queued):
    events = pending_events(40)
    results = run_together(4, lambda i: webhook_events_drain())
    assert sum(done for done, _ in results) == 40
    assert not any(more for _, more in results)
    assert set(WebhookEvent.objects.values_list("status", flat=True)) == {"processed"}
    assert set(WebhookEvent.objects.values_list("attempts", flat=True)) == {1}
    assert Transaction.objects.filter(kind="test_payment").count() == len(events)
    assert Payment.objects.filter(status="succeeded").count() == len(events)
    with transaction.atomic():
        assert ledger_check() == []


@pytest.mark.django_db(transaction=True)
def test_a_drain_commits_without_waiting_for_the_disk_and_only_its_own_transactions(queued, monkeypatch):
    """Each drained event's transaction commits with synchronous_commit off (a crash loses it
    whole: the event is pending again); the setting never leaks to the connection's next use."""
    from creatornext.payments import webhooks

    seen = []

    def handler(event):
        with connection.cursor() as cursor:
            cursor.execute("SHOW synchronous_commit")
            seen.append(cursor.fetchone()[0])
        return True

    monkeypatch.setitem(webhooks.EVENT_HANDLERS, "test.probe", handler)
    for i in range(2):
        WebhookEvent.objects.create(event_id=f"evt_probe_{i}", type="test.probe", payload={
            "id": f"evt_probe_{i}", "type": "test.probe", "data": {"object": {}}})
    assert webhook_events_drain() == (2, False)
    assert seen == ["off", "off"]
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone()[0] == "on"


@pytest.mark.django_db
def test_when_the_wake_up_fails_the_provider_still_gets_its_200_and_the_event_waits(
        monkeypatch, django_capture_on_commit_callbacks):
    """The cache (or the broker) down after the event was stored: answered 200, the event stays
    pending for the sweeper (webhook_events_retry_due), nothing is lost."""
    from django.conf import settings
    from django.test import Client

    from tests.support.stripe import deliver

    def down(*args, **kwargs):
        raise ConnectionError("cache unreachable")

    monkeypatch.setattr(cache, "add", down)
    fan = make_user("wake_fan")
    evt = pi_succeeded(processing_payment(fan, fan, "wake"), fee=59)
    with django_capture_on_commit_callbacks(execute=True):
        response = deliver(Client(), evt, settings.STRIPE_WEBHOOK_SECRETS[0])
    assert response.status_code == 200
    assert WebhookEvent.objects.get(event_id=evt["id"]).status == "pending"


@pytest.mark.django_db
def test_a_drain_that_caught_up_lingers_and_takes_what_arrives_meanwhile(queued, monkeypatch):
    """Under a steady stream a drain waits a little after a short batch, so the next batch is
    bigger (webhooks.DRAIN_LINGER); what arrives during the wait is applied by the same drain,
    and a wait that brings nothing ends it."""
    from creatornext.payments import webhooks

    pending_events(2)
    waits: list[float] = []

    def an_event_arrives_during_the_first_wait(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 1:
            assert WebhookEvent.objects.filter(status="processed").count() == 2  # the first batch
            fan = make_user("late_fan")
            evt = pi_succeeded(processing_payment(fan, fan, "during_linger"), fee=59)
            WebhookEvent.objects.create(event_id=evt["id"], type=evt["type"], payload=evt)

    monkeypatch.setattr(webhooks.time, "sleep", an_event_arrives_during_the_first_wait)
    assert webhook_events_drain(linger=0.25) == (3, False)
    assert waits == [0.25, 0.25]  # after each short batch; then nothing came: the drain ended
    assert set(WebhookEvent.objects.values_list("status", flat=True)) == {"processed"}


@pytest.mark.django_db
def test_a_drain_run_inline_does_not_linger(monkeypatch):
    """Celery run eagerly (tests, no broker) runs the drain inside the caller: no waiting."""
    from creatornext.payments import webhooks

    slept: list[float] = []
    monkeypatch.setattr(webhooks.time, "sleep", slept.append)
    pending_events(2)
    assert tasks.process_webhook_events.apply().get() == 2
    assert slept == []
    assert not WebhookEvent.objects.filter(status="pending").exists()
