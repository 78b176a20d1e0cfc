"""R7: a real Celery worker (its own queue on the test Redis) SIGKILLed at random points of a
200-item payout batch — including after the Connect stand-in recorded a transfer and before we
committed it — then restarted and resumed by the sweeper, as beat would. Every item is paid
exactly once at the provider, and the total sent equals the total debited.
3 runs in ``make test``; 20 in ``make test-full`` (``slow``)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from urllib.parse import quote

import pytest
from celery import Celery
from django.conf import settings
from django.db import connection

from creatornext.core import config
from creatornext.ledger.models import Account, AccountKind, Entry
from creatornext.money import Money
from creatornext.payouts import batches, services
from creatornext.payouts.config import CLAIM_LEASE_SECONDS, RATE_PER_SECOND
from creatornext.payouts.models import PayoutBatch, PayoutItem
from tests.support import connect
from tests.support.ledger import give_available_cash

ITEMS = 200
LEASE = 2  # seconds a dead worker's claim blocks its item


def _database_url() -> str:
    s = connection.settings_dict
    auth = quote(s["USER"] or "") + (":" + quote(s["PASSWORD"]) if s["PASSWORD"] else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


class Worker:
    def __init__(self, queue: str) -> None:
        self.queue = queue
        self.proc: subprocess.Popen | None = None
        self.env = {**os.environ, "DATABASE_URL": _database_url(), "REDIS_URL": settings.REDIS_URL,
                    "CELERY_BROKER_URL": settings.REDIS_URL, "STRIPE_API_BASE": settings.STRIPE_API_BASE,
                    "CREATORNEXT_DEV": "true", "CELERY_TASK_ALWAYS_EAGER": "false"}

    def start(self) -> None:
        celery = os.path.join(os.path.dirname(sys.executable), "celery")
        self.proc = subprocess.Popen(
            [celery, "-A", "creatornext", "worker", "-Q", self.queue, "--concurrency", "2",
             "--without-mingle", "--without-gossip", "--loglevel", "WARNING",
             "--hostname", f"{self.queue}@%h"],
            env=self.env, cwd=settings.BASE_DIR, start_new_session=True,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)  # the whole worker: main process and children
            self.proc.wait()


def _setup_batch(rng: random.Random) -> tuple[PayoutBatch, int]:
    from eligibility.defaults import seed_defaults
    from tests.eligibility.helpers import make_creator

    seed_defaults()
    users = [make_creator(f"r7c{i}.maker").user for i in range(10)]
    total = 0
    for user in users:
        connect.enabled_account(user)
        give_available_cash(user, 100_000)
    for n in range(ITEMS):
        cents = rng.randrange(1000, 4000)
        services.withdrawal_create(user=users[n % len(users)], amount=Money(cents, "USD"))
        total += cents
    config.set_value(definition=CLAIM_LEASE_SECONDS, value=LEASE, actor=None)
    config.set_value(definition=RATE_PER_SECOND, value=80, actor=None)  # kills land mid-work
    batch = batches.payout_batch_create()
    assert batch is not None and batch.items.count() == ITEMS
    return batch, total


def chaos_run(seed: int) -> dict:
    rng = random.Random(seed)
    batch, total = _setup_batch(rng)
    queue = f"r7-{uuid.uuid4().hex[:8]}"
    sender = Celery("r7-sender", broker=settings.REDIS_URL, set_as_current=False)  # the app stays ours
    send = lambda name, *args: sender.send_task(f"creatornext.payouts.tasks.{name}",  # noqa: E731
                                                 args=list(args), queue=queue)
    pause_nth = rng.randrange(10, ITEMS - 20)
    connect.faults(pause_nth=pause_nth, pause_seconds=8)
    worker = Worker(queue)
    kills = 0
    started = time.monotonic()
    try:
        worker.start()
        send("payout_batch_run", batch.pk)
        # Kill 1: the stand-in has made transfer n and holds its answer: we never commit it.
        deadline = time.monotonic() + 60
        while connect.state()["creates"] < pause_nth:
            assert time.monotonic() < deadline, "the worker never reached the pause"
            time.sleep(0.02)
        worker.kill()
        kills += 1
        made_before_commit = pause_nth
        # Kills 2..: at random moments of the resumed runs (claim, call, record, idle — wherever).
        for _ in range(rng.randrange(1, 3)):
            worker.start()
            send("payouts_sweep")
            time.sleep(rng.uniform(2.5, 5.0))  # start-up (~2 s) plus some work
            worker.kill()
            kills += 1
        # Finally a worker that lives; beat's sweeper ticks until the batch is done.
        worker.start()
        deadline = time.monotonic() + 120
        while PayoutBatch.objects.get(pk=batch.pk).stage != PayoutBatch.Stage.DONE:
            assert time.monotonic() < deadline, Counter(PayoutItem.objects.values_list("stage", flat=True))
            send("payouts_sweep")
            time.sleep(LEASE + 0.5)
    finally:
        worker.kill()
        sender.close()
    state = connect.state()
    transfers = state["transfers"]
    items = {f"payout-item:{i.pk}": i for i in PayoutItem.objects.filter(batch=batch)}
    groups = Counter(t["transfer_group"] for t in transfers)
    # Every item paid exactly once at the provider, with its own amount, and recorded as that transfer
    assert len(transfers) == ITEMS and set(groups) == set(items) and set(groups.values()) == {1}
    for t in transfers:
        item = items[t["transfer_group"]]
        assert (item.stage, item.transfer_id, item.amount) == ("paid", t["id"], t["amount"])
    sent = sum(t["amount"] for t in transfers)
    debited = -sum(Entry.objects.filter(account__kind=AccountKind.IN_PAYOUT, amount__lt=0)
                   .values_list("amount", flat=True))
    booked = sum(Entry.objects.filter(account__kind=AccountKind.PAYOUTS_SENT).values_list("amount", flat=True))
    assert sent == debited == booked == total
    assert not Account.objects.filter(kind=AccountKind.IN_PAYOUT).exclude(balance=0).exists()
    # The transfer made before the first kill was found again through its key, not made twice
    assert state["replays"] >= 1
    return {"seed": seed, "kills": kills, "killed_after_transfer_n": made_before_commit,
            "transfers": len(transfers), "replays": state["replays"], "sent": sent, "debited": debited,
            "seconds": round(time.monotonic() - started, 1)}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("run", range(3))
def test_r7_sigkilled_worker_pays_every_item_exactly_once(stand_in, run):
    print("R7", chaos_run(seed=1000 + run))


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("run", range(20))
def test_r7_full_profile_twenty_runs(stand_in, run):
    print("R7-full", chaos_run(seed=2000 + run))
