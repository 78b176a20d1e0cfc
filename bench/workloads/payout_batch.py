"""P6 payout-batch: a batch of 2,000 payout items paid by a real Celery worker through the Connect
stand-in, both held to 100 calls/s; clean, and with 20% injected faults.

The stand-in (``creatornext.payments.fake_stripe``, the same one ``make run`` uses) runs as its own
process with ``max_writes_per_second`` = 100: a call over the limit gets Stripe's 429. Our client is
set to the same rate (the staff setting ``payouts.rate_per_second`` = 100, production default 25),
so the ideal is items ÷ 100 s (20 s for 2,000). The worker is docker-compose.yml's (``--concurrency
2``) with the production settings; ``STRIPE_CONNECT_TIMEOUT_SECONDS`` = 1 (loopback: a call that
has not answered in a second is a timeout, retried with its key).

Data: 2,000 creators with an enabled payout account at the stand-in (made over its API), and for
every round one requested withdrawal each (Zipf-skewed amounts, 10.00–1,000.00), the money already
moved from available to in-payout in the ledger as ``withdrawal_create`` leaves it (loaded with
COPY, consistent for ``ledger_check``). Each round gathers the oldest 2,000 requested withdrawals
into a batch (``payout_batch_create``, in a service child) and sends ``payout_batch_run`` to the
worker; the round's time runs from the gathering until the batch is ``done``.

- ``payout-batch``: no faults besides the stand-in's own rate limit.
- ``payout-batch-faults``: 10% of transfer calls answer 429 and 10% time out (half before the
  transfer is made, half after: the retry with the same key must find it).

After every round the service child checks at the stand-in: one transfer per paid item (by transfer
group), the amounts equal, total sent = total debited in the ledger (payouts sent). The latency
figures are per item, from its first call to its record (``first_attempt_at`` → ``paid_at``).
"""

from __future__ import annotations

import datetime as dt
import json
import random
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from bench import data, procs, service
from bench.database import copy_rows, sync_identity
from bench.ledger_data import LedgerLoader, Txn
from bench.registry import Check, RunStats, workload
from bench.runner import REPO
from bench.server import free_port
from bench.worker import CeleryWorker

if TYPE_CHECKING:
    from bench.registry import Figures
    from bench.runner import Context, Run

NAME = "payout-batch"
FAULTS = f"{NAME}-faults"
RATE = 100  # calls per second, the stand-in's limit and our client's
FAULT_429, FAULT_TIMEOUT = 0.10, 0.10
CLIENT_TIMEOUT = 1.0
STALL_SECONDS = 1.5  # the stand-in's stall on an injected timeout: longer than the client waits
CURRENCY = "USD"
WAIT_SECONDS = 600


def _within(name: str, factor: float) -> Check:
    def evaluate(figures: Figures) -> tuple[str, bool | None]:
        s = figures[name]
        ideal = s.runs[0].requests / RATE
        seconds = sorted(r.seconds for r in s.runs)
        median = seconds[len(seconds) // 2]
        return (f"{median:,.1f} s (rounds {', '.join(f'{x:,.1f}' for x in seconds)}) = "
                f"{median / ideal:.2f} × the ideal {ideal:,.1f} s"), median <= factor * ideal
    return Check(f"{name}: done within {factor} × the ideal (items ÷ {RATE}/s)", evaluate)


def _exactly_once(figures: Figures) -> tuple[str, bool | None]:
    lines, ok = [], True
    for name in (NAME, FAULTS):
        s = figures[name]
        paid, items = s.per_round("paid"), [float(r.requests) for r in s.runs]
        dupes, mismatch = s.per_round("duplicates"), s.per_round("sent_minus_debited")
        ok = ok and paid == items and not any(dupes) and not any(mismatch)
        lines.append(f"{name}: paid {', '.join(f'{p:,.0f}' for p in paid)} of "
                     f"{', '.join(f'{i:,.0f}' for i in items)}; duplicate transfers {sum(dupes):,.0f}; "
                     f"sent − debited {sum(mismatch):,.0f}")
    return "; ".join(lines), ok


def _faults_seen(figures: Figures) -> tuple[str, bool | None]:
    s = figures[FAULTS]
    limited, retried = s.per_round("rate_limited"), s.per_round("calls_over_items")
    return (f"429s answered per round {', '.join(f'{x:,.0f}' for x in limited)}; transfer calls beyond one "
            "per item "
            f"{', '.join(f'{x:,.0f}' for x in retried)}"), None


def _worker_rss(figures: Figures) -> tuple[str, bool | None]:
    rss = max(max(figures[n].per_round("worker_max_rss_mb")) for n in (NAME, FAULTS))
    return f"largest worker process {rss:,.0f} MB after the batches", rss <= 200


@workload(
    NAME,
    f"P6: a payout batch of 2,000 items paid by the Celery worker through the Connect stand-in, both at "
    f"{RATE} calls/s; clean and with {FAULT_429:.0%} 429s + {FAULT_TIMEOUT:.0%} timeouts (P8: worker RSS).",
    checks=[
        _within(NAME, 1.15),
        _within(FAULTS, 1.6),
        Check("every item paid exactly once at the provider; total sent = total debited", _exactly_once),
        Check("faults injected (reported)", _faults_seen),
        Check("P8: Celery worker RSS ≤ 200 MB after P6", _worker_rss),
    ],
    scale=2_000, smoke_scale=20,
    ledger_check=True,
)
def payout_batch(ctx: Context) -> dict[str, PayoutRound]:
    items = ctx.scale
    rounds = ctx.reps * 2 + 1  # both measurements' rounds and the warm-up
    creators = data.load_creators(ctx, items, deleted_share=0)
    users = creators.user_ids_by_rank
    now = dt.datetime.now(dt.UTC)
    ctx.copy("payouts_payoutaccount",
             ("user_id", "provider_id", "payouts_enabled", "details_submitted", "external_account",
              "auto_withdraw", "changed_at", "provider_updated", "created_at"),
             ((u, "", True, True, "ba_bench", False, now - dt.timedelta(days=30), 0, now) for u in users))
    sync_identity(ctx.db, "payouts_payoutaccount")

    # Withdrawals, oldest first by round: round r's are ids r*items+1 ... (r+1)*items.
    rng = random.Random(ctx.rng.random())
    amounts = [[min(100_000, 1000 + int(rng.paretovariate(1.2) * 1000)) for _ in users] for _ in range(rounds)]
    withdrawal_rows = []
    for r in range(rounds):
        for u, amount in zip(users, amounts[r], strict=True):
            withdrawal_rows.append((len(withdrawal_rows) + 1, u, amount, CURRENCY,
                                    "requested", 0, now.date(), "", 1000, 100_000, 5, now))
    copy_rows(ctx.db, "payouts_withdrawal",
              ("id", "user_id", "amount", "currency", "status", "netted_debt", "day", "auto_week",
               "min_amount", "daily_max", "cooling_off_days", "created_at"), withdrawal_rows)
    sync_identity(ctx.db, "payouts_withdrawal")

    ledger = LedgerLoader(ctx)
    inflow = ledger.platform("provider_inflow", CURRENCY)
    available = {u: ledger.owner(u, "available", CURRENCY) for u in users}
    in_payout = {u: ledger.owner(u, "in_payout", CURRENCY) for u in users}
    totals = {u: sum(amounts[r][i] for r in range(rounds)) for i, u in enumerate(users)}

    def history():  # what the creators earned, then each withdrawal as withdrawal_create posts it
        for u in users:
            yield Txn(f"bench:earned:{u}", "tip", ((inflow, -totals[u]), (available[u], totals[u])))
        for pk, u, amount, *_ in withdrawal_rows:
            yield Txn(f"withdrawal:{pk}:requested", "withdrawal", ((available[u], -amount), (in_payout[u], amount)),
                      ref=f"withdrawal:{pk}")

    ledger.write(history)
    ctx.sql("INSERT INTO core_setting (key, value, updated_at) VALUES "
            "('payouts.rate_per_second', %s, now())", [json.dumps(RATE)])
    ctx.notes.append(
        f"Data: {items:,} creators with enabled payout accounts; {rounds} × {items:,} requested withdrawals "
        f"(10.00–1,000.00, Pareto-skewed), money already in payout. Stand-in and client at {RATE} calls/s "
        f"(production default 25/s); client timeout {CLIENT_TIMEOUT:g} s. Worker: docker-compose.yml's "
        "command. Rate = items/s (ideal 100); latency = one item, first call → recorded.")
    shared = _Shared(users)
    return {NAME: PayoutRound(NAME, shared, items, faults=False),
            FAULTS: PayoutRound(FAULTS, shared, items, faults=True)}


class _Shared:
    """The stand-in, the worker and the driver child, started once for both measurements."""

    def __init__(self, users: list[int]) -> None:
        self.users = users
        self.stripe: subprocess.Popen | None = None
        self.worker: CeleryWorker | None = None
        self.child: service.ServiceProcess | None = None
        self.base = ""

    def start(self, run: Run) -> None:
        if self.child is not None:
            return
        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        with (run.tmp / "fake-stripe.log").open("ab") as out:
            self.stripe = subprocess.Popen(
                [sys.executable, "-m", "creatornext.payments.fake_stripe", "--port", str(port)],
                cwd=REPO, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                preexec_fn=procs.die_with_parent)
        deadline = time.monotonic() + 60
        while True:
            try:
                self.config("state")
                break
            except OSError:
                if time.monotonic() > deadline or self.stripe.poll() is not None:
                    raise RuntimeError("the fake Stripe did not start; see fake-stripe.log") from None
                time.sleep(0.2)
        self._make_accounts(run)
        env = {**run.django_env(), "STRIPE_API_BASE": self.base, "STRIPE_SECRET_KEY": "sk_test_bench",
               "STRIPE_CONNECT_TIMEOUT_SECONDS": str(CLIENT_TIMEOUT)}
        self.worker = CeleryWorker(REPO, env, run.tmp / "celery-worker.log")
        self.worker.start()
        [self.child] = service.start_all(__name__, env, run.tmp, "payouts", 1)

    def config(self, path: str, body: dict | None = None) -> dict:
        request = urllib.request.Request(
            f"{self.base}/_config/connect/{path}", method="POST" if body is not None else "GET",
            data=json.dumps(body).encode() if body is not None else None,
            headers={"Content-Type": "application/json", "Authorization": "Bearer sk_test_bench"})
        with urllib.request.urlopen(request, timeout=30) as answer:
            return json.loads(answer.read())

    def _make_accounts(self, run: Run) -> None:
        """One Express account per creator at the stand-in, onboarded, recorded on our side."""

        def make(user_id: int) -> tuple[int, str]:
            request = urllib.request.Request(
                f"{self.base}/v1/accounts", method="POST", data=b"type=express&country=US",
                headers={"Authorization": "Bearer sk_test_bench",
                         "Content-Type": "application/x-www-form-urlencoded"})
            with urllib.request.urlopen(request, timeout=30) as answer:
                account = json.loads(answer.read())["id"]
            self.config(f"accounts/{account}", {"payouts_enabled": True, "details_submitted": True,
                                                "charges_enabled": True})
            return user_id, account

        with ThreadPoolExecutor(8) as pool:
            made = list(pool.map(make, self.users))
        with run.db.cursor() as cur:
            cur.execute("CREATE TEMP TABLE bench_acct (user_id bigint, provider_id text)")
            copy_rows(run.db, "bench_acct", ("user_id", "provider_id"), made)
            cur.execute("UPDATE payouts_payoutaccount p SET provider_id = b.provider_id FROM bench_acct b "
                        "WHERE b.user_id = p.user_id")

    def close(self) -> None:
        for thing in (self.child, self.worker):
            if thing is not None:
                thing.close() if hasattr(thing, "close") else thing.stop()
        if self.stripe is not None and self.stripe.poll() is None:
            self.stripe.kill()
            self.stripe.wait()
        self.child = self.worker = self.stripe = None


class PayoutRound:
    def __init__(self, name: str, shared: _Shared, items: int, *, faults: bool) -> None:
        self.name, self.shared, self.items, self.faults = name, shared, items, faults

    def prepare(self, run: Run) -> None:
        if self.shared.child is None:
            self.shared.start(run)
            self._faults(False)
            warm = self.shared.child.call("pay_batch", timeout=WAIT_SECONDS, limit=self.items)  # type: ignore[union-attr]
            if warm["paid"] != self.items:
                raise RuntimeError(f"{self.name}: the warm-up batch paid {warm['paid']} of {self.items}")

    def _faults(self, on: bool) -> None:
        self.shared.config("faults", {
            "max_writes_per_second": RATE, "random_429": FAULT_429 if on else 0,
            "random_timeout": FAULT_TIMEOUT if on else 0, "stall_seconds": STALL_SECONDS})

    def measure(self, run: Run, seconds: int) -> RunStats:
        shared = self.shared
        assert shared.child is not None and shared.worker is not None
        self._faults(self.faults)
        before = shared.config("state")
        meter = procs.CpuMeter({"server": shared.worker.pids(), "db": run.db_backend_pids(),
                                "load": [shared.stripe.pid] if shared.stripe else []})
        result = shared.child.call("pay_batch", timeout=WAIT_SECONDS, limit=self.items)
        cpu = meter.stop()
        self._faults(False)
        after = shared.config("state")
        check = shared.child.call("verify", timeout=WAIT_SECONDS, base=shared.base)
        latencies = sorted(result["latency_ms"]) or [0.0]

        def pct(p: float) -> float:
            return latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))]

        total_rss, largest = shared.worker.rss_mb()
        return RunStats(
            requests=result["items"], seconds=result["seconds"], p50_ms=pct(50), p95_ms=pct(95), p99_ms=pct(99),
            non2xx=result["items"] - result["paid"], server_rss_mb=total_rss, server_worker_max_rss_mb=largest,
            server_cpu=cpu["server"], db_cpu=cpu["db"], load_cpu=cpu["load"],
            other_cpu=max(0.0, cpu["machine"] - cpu["server"] - cpu["db"] - cpu["load"]),
            machine_cpu=cpu["machine"], unit="items/s", latency_of="payout item",
            extra={"paid": result["paid"], "duplicates": check["duplicates"],
                   "sent_minus_debited": check["sent_minus_debited"],
                   "rate_limited": after["rate_limited"] - before["rate_limited"],
                   "calls_over_items": after["requests"] - before["requests"] - result["items"],
                   "worker_max_rss_mb": largest})

    def close(self) -> None:
        self.shared.close()


# --- the child side ------------------------------------------------------------------------------

def _pay_batch(limit: int) -> dict:
    """Gather a batch, let the worker run it, wait until it is done."""
    from creatornext.payouts import batches, tasks
    from creatornext.payouts.models import PayoutBatch, PayoutItem

    started = time.monotonic()
    batch = batches.payout_batch_create(limit=limit)
    assert batch is not None, "no requested withdrawals left"
    tasks.payout_batch_run.delay(batch.pk)
    deadline = started + WAIT_SECONDS
    while PayoutBatch.objects.filter(pk=batch.pk).values_list("stage", flat=True).get() != "done":
        if time.monotonic() > deadline:
            raise RuntimeError(f"batch {batch.pk} not done after {WAIT_SECONDS} s")
        time.sleep(0.05)
    seconds = time.monotonic() - started
    items = PayoutItem.objects.filter(batch=batch)
    latency = [(paid - first).total_seconds() * 1000
               for first, paid in items.filter(stage="paid").values_list("first_attempt_at", "paid_at")]
    return {"items": items.count(), "paid": items.filter(stage="paid").count(), "seconds": seconds,
            "latency_ms": latency}


def _verify(base: str) -> dict:
    """At the stand-in: one transfer per paid item, same amounts; sent = the ledger's payouts."""
    from collections import Counter

    from django.db.models import Sum

    from creatornext.ledger.models import Entry
    from creatornext.payouts.models import PayoutItem

    with urllib.request.urlopen(f"{base}/_config/connect/state", timeout=60) as answer:
        transfers = json.loads(answer.read())["transfers"]
    groups = Counter(t["transfer_group"] for t in transfers)
    paid = dict(PayoutItem.objects.filter(stage="paid").values_list("pk", "amount"))
    sent = {int(t["transfer_group"].split(":")[1]): t["amount"] for t in transfers}
    debited = Entry.objects.filter(account__kind="payouts_sent").aggregate(s=Sum("amount"))["s"] or 0
    return {"duplicates": sum(n - 1 for n in groups.values()),
            "sent_minus_debited": sum(t["amount"] for t in transfers) - debited,
            "missing": sum(1 for pk in paid if pk not in sent),
            "wrong_amount": sum(1 for pk, amount in paid.items() if sent.get(pk, amount) != amount)}


SERVICE = {"pay_batch": _pay_batch, "verify": _verify}
