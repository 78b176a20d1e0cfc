"""P3 tip-webhooks: 10,000 signed tip-success events, each credited exactly once, end to end.

The bench creates 10,000 pending tips per round (``tips_tip`` + ``payments_payment`` rows, status
created or processing, ``metadata = {"tip_id": ...}``, as ``POST /api/v1/tips/`` leaves them
before the provider answers), then builds the provider's ``payment_intent.succeeded`` event for
each — fee included as Stripe expands it (``latest_charge.balance_transaction.fee``), so no
provider call is needed — and signs it with the endpoint secret the server is configured with
(``STRIPE_WEBHOOK_SECRETS``), Stripe's scheme, just before sending. ``bench/webhook_sender.py``
POSTs each exactly once to ``/webhooks/stripe/`` from 32 connections; the view verifies, stores
the event and queues a Celery task on commit; a real Celery worker, started as docker-compose
starts it, applies it (payment → succeeded, the tip handler credits the creator's pending cash).

The rate is end to end: events ÷ (first POST → the last tip's ledger credit). Latency figures are
per event, from the webhook's arrival to its ledger credit. Exactly once: per round, the ledger
holds exactly one ``tip:<id>:captured`` transaction per tip, every payment succeeded, no event
failed. Target (TARGETS.md P3): rate ≥ 0.5 × B-insert; ``ledger_check`` clean.
"""

from __future__ import annotations

import datetime as dt
import json
import statistics
import sys
import time
from typing import TYPE_CHECKING

from bench import data, procs
from bench.database import copy_rows, sync_identity
from bench.ledger_data import HISTORY_TIPS, LedgerLoader, tip_history
from bench.registry import Check, RunStats, rate_ratio_at_least, workload
from bench.runner import REPO
from bench.worker import CeleryWorker

if TYPE_CHECKING:
    from bench.registry import Figures
    from bench.runner import Context, Run

NAME = "tip-webhooks"
SECRET = "whsec_bench_creatornext_webhooks"
CREATORS = 1_000
# Enough fans that the tips obey the product's own caps: at most 100 tips per fan in a rolling day
# (tips.daily_count), here ~31 per fan at full scale, made over the day before the run.
FANS = 1_000
TIPS_OVER = 24 * 3600  # seconds: each tip made at a random moment of the day before data.NOW
CONNECTIONS = 32
WAIT_SECONDS = 900  # for the worker to drain one round, at most


def _exactly_once(figures: Figures) -> tuple[str, bool | None]:
    s = figures[NAME]
    credited, expected = sum(s.per_round("credited")), sum(s.per_round("expected"))
    succeeded, failed = sum(s.per_round("succeeded")), sum(s.per_round("failed_events"))
    ok = credited == expected == succeeded and failed == 0
    return (f"{credited:,.0f} credited / {expected:,.0f} events; {succeeded:,.0f} payments "
            f"succeeded; {failed:,.0f} events failed"), ok


def _ack(figures: Figures) -> tuple[str, bool | None]:
    s = figures[NAME]
    return (f"p50 {statistics.median(s.per_round('ack_p50_ms')):.1f} ms, "
            f"p95 {statistics.median(s.per_round('ack_p95_ms')):.1f} ms, "
            f"{statistics.median(s.per_round('ack_rate')):,.0f} events/s accepted"), None


@workload(
    NAME,
    "P3: 10,000 signed payment_intent.succeeded events for pending tips, POSTed once each to "
    "/webhooks/stripe/ (32 connections) and applied by a real Celery worker; rate end to end.",
    baselines=["B-insert"],
    checks=[
        rate_ratio_at_least(NAME, "B-insert", 0.5),
        Check("every tip credited exactly once (tip:<id>:captured), 0 failed events", _exactly_once),
        Check("webhook POST answered (reported)", _ack),
    ],
    scale=10_000, smoke_scale=100,  # events per round
    ledger_check=True,
    server_env={"STRIPE_WEBHOOK_SECRETS": SECRET},
)
def tip_webhooks(ctx: Context) -> TipWebhooks:
    creators = data.load_creators(ctx, CREATORS, deleted_share=0)
    fans = data.load_fans(ctx, FANS, first_user_id=CREATORS + 1)
    tip_history(LedgerLoader(ctx), creators.user_ids_by_rank, ctx.rng)
    warmup = max(10, ctx.scale // 20)
    total = warmup + ctx.scale * ctx.reps
    zipf = data.ZipfSampler(len(creators.user_ids_by_rank))
    rng = ctx.rng
    now = data.NOW
    tips = []  # (id, amount, fee)
    payments, tip_rows = [], []
    for pk in range(1, total + 1):
        fan = fans[pk % FANS].user_id
        creator = creators.user_ids_by_rank[zipf.rank(rng) - 1]  # profile id = user id here
        amount = 100 + int(rng.random() * 9_901)  # 1.00–100.00
        fee = 30 + amount * 29 // 1000  # 2.9% + 30 cents
        tips.append((pk, amount, fee))
        status = "processing" if pk % 2 else "created"
        made = now - dt.timedelta(seconds=rng.random() * TIPS_OVER)
        payments.append((pk, "tip", f"tip:{pk}", fan, amount, "USD", None, status, f"pi_bench_{pk}",
                         "", "", "", "", 0, "", json.dumps({"tip_id": pk}), made, made))
        tip_rows.append((pk, amount, "USD", "", False, "{}", made, creator, fan, pk))
    copy_rows(ctx.db, "payments_payment",
              ("id", "purpose", "ref", "payer_id", "amount", "currency", "fee", "status",
               "provider_id", "charge_id", "client_secret", "failure_code", "failure_message",
               "refunded_amount", "dispute_id", "metadata", "created_at", "updated_at"), payments)
    copy_rows(ctx.db, "tips_tip", ("id", "amount", "currency", "message", "anonymous", "limits",
                                   "created_at", "creator_id", "fan_id", "payment_id"), tip_rows)
    sync_identity(ctx.db, "payments_payment")
    sync_identity(ctx.db, "tips_tip")
    ctx.notes.append(
        f"Data: {total:,} pending tips with their payments ({ctx.scale:,} a round, {warmup:,} for "
        f"the warm-up) from {FANS:,} fans (~{total / FANS:.0f} each, made over one day: within the "
        f"daily cap) to {CREATORS:,} creators drawn Zipf-skewed (the top creator "
        f"gets {zipf.share_of_top(1):.0%} of the tips); amounts 1.00–100.00 USD, fee 2.9% + 0.30 in "
        f"the event. The ledger holds {HISTORY_TIPS:,} earlier tips to these creators, captured and "
        "released (bench/ledger_data.tip_history). Server and Celery worker CPU are counted together "
        "as the server's. Latency = "
        "the webhook's arrival to its ledger credit.")
    return TipWebhooks(NAME, tips[:warmup], [tips[warmup + i * ctx.scale:warmup + (i + 1) * ctx.scale]
                                             for i in range(ctx.reps)])


def event(pk: int, amount: int, fee: int) -> str:
    """The provider's event for payment ``pk``, as Stripe sends it with the charge expanded."""
    return json.dumps({
        "id": f"evt_bench_{pk}", "object": "event", "api_version": "2024-06-20",
        "type": "payment_intent.succeeded", "created": int(time.time()), "livemode": False,
        "data": {"object": {
            "id": f"pi_bench_{pk}", "object": "payment_intent", "status": "succeeded",
            "amount": amount, "amount_received": amount, "currency": "usd",
            "metadata": {"payment_id": str(pk), "purpose": "tip", "ref": f"tip:{pk}"},
            "latest_charge": {"id": f"ch_bench_{pk}", "object": "charge", "amount": amount,
                              "balance_transaction": {"id": f"txn_bench_{pk}", "object":
                                                      "balance_transaction", "amount": amount,
                                                      "fee": fee, "net": amount - fee}}}},
    }, separators=(",", ":"))


class TipWebhooks:
    def __init__(self, name: str, warmup: list[tuple[int, int, int]],
                 rounds: list[list[tuple[int, int, int]]]) -> None:
        self.name = name
        self.warmup = warmup
        self.rounds = rounds
        self.done = 0
        self.worker: CeleryWorker | None = None

    def prepare(self, run: Run) -> None:
        self.worker = CeleryWorker(REPO, run.django_env(), run.tmp / "celery-worker.log")
        self.worker.start()
        # Warm-up (not measured): worker connections, code paths, the platform accounts.
        outcome = self._send(run, self.warmup, "warmup")["outcome"]
        if outcome["credited"] != len(self.warmup):
            raise RuntimeError(f"{self.name}: warm-up credited {outcome['credited']} of "
                               f"{len(self.warmup)} tips; an event failed with: {outcome['error']}"
                               f" (logs: {run.tmp})")

    def _send(self, run: Run, tips: list[tuple[int, int, int]], label: str) -> dict:
        events = run.tmp / f"webhook-events-{label}.jsonl"
        events.write_text("".join(event(*tip) + "\n" for tip in tips))
        result = run.tmp / f"webhook-sender-{label}.json"
        argv = [sys.executable, "-m", "bench.webhook_sender", str(events),
                f"http://127.0.0.1:{run.server.port}/webhooks/stripe/", SECRET, str(CONNECTIONS),
                str(result)]
        finished = procs.run_measured(argv, run.tmp / f"webhook-sender-{label}.out", cwd=REPO,
                                      timeout=WAIT_SECONDS)
        if finished.returncode:
            raise RuntimeError("the webhook sender failed:\n"
                               + (run.tmp / f"webhook-sender-{label}.out").read_text()[-2000:])
        sent = json.loads(result.read_text())
        sent["load_cpu"] = finished.cpu_cores
        bad = {k: v for k, v in sent["statuses"].items() if not k.startswith("2")}
        if label == "warmup" and (bad or sent["socket_errors"]):
            raise RuntimeError(f"{self.name}: warm-up webhooks answered {sent['statuses']} "
                               f"({sent['socket_errors']} socket errors); see the server log")
        sent["outcome"] = self._wait_credited(run, [pk for pk, _, _ in tips])
        return sent

    def _wait_credited(self, run: Run, pks: list[int]) -> dict:
        keys = [f"tip:{pk}:captured" for pk in pks]
        deadline = time.monotonic() + WAIT_SECONDS
        with run.db.cursor() as cur:
            # Every event of the round is stored (the sender has had all its 200s), so the round is
            # over when none is pending. This look costs the machine nearly nothing (the pending
            # index), unlike counting the round's 10,000 credits by key 20 times a second, which
            # took a tenth of a core from the server; the rate's end is the last credit's own time,
            # so how often this looks does not change it.
            while True:
                cur.execute("SELECT count(*) FILTER (WHERE status = 'pending'), "
                            "count(*) FILTER (WHERE status = 'failed') FROM payments_webhookevent "
                            "WHERE status IN ('pending', 'failed')")
                pending, failed = cur.fetchone()
                if not pending or failed or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            cur.execute("SELECT count(*), max(created_at) FROM ledger_transaction WHERE key = ANY(%s)",
                        [keys])
            credited, last = cur.fetchone()
            cur.execute("SELECT count(*) FILTER (WHERE status = 'failed'), "
                        "count(*) FILTER (WHERE status = 'processed') FROM payments_webhookevent "
                        "WHERE event_id = ANY(%s)", [[f"evt_bench_{pk}" for pk in pks]])
            failed, processed = cur.fetchone()
            cur.execute("SELECT count(*) FROM payments_payment WHERE id = ANY(%s) AND status = "
                        "'succeeded'", [pks])
            succeeded = cur.fetchone()[0]
            # Per event: arrival of the webhook → the ledger credit of its tip.
            cur.execute(
                "SELECT EXTRACT(EPOCH FROM t.created_at - w.received_at) * 1000 "
                "FROM payments_webhookevent w JOIN ledger_transaction t "
                "ON t.key = 'tip:' || substr(w.event_id, 11) || ':captured' "
                "WHERE w.event_id = ANY(%s)", [[f"evt_bench_{pk}" for pk in pks]])
            latencies = sorted(float(r[0]) for r in cur.fetchall())
            cur.execute("SELECT last_error FROM payments_webhookevent WHERE event_id = ANY(%s) "
                        "AND status = 'failed' LIMIT 1", [[f"evt_bench_{pk}" for pk in pks]])
            error = cur.fetchone()
        return {"credited": credited, "last": last.timestamp() if last else None, "failed": failed,
                "processed": processed, "succeeded": succeeded, "latencies": latencies,
                "error": error[0] if error else ""}

    def measure(self, run: Run, seconds: int) -> RunStats:
        assert self.worker is not None
        tips = self.rounds[self.done]
        self.done += 1
        meter = procs.CpuMeter({"server": run.server.pids() + self.worker.pids(),
                                "db": run.db_backend_pids()})
        sent = self._send(run, tips, f"round-{self.done}")
        cpu = meter.stop()
        outcome = sent["outcome"]
        if outcome["error"]:
            print(f"[{self.name}] a webhook event failed: {outcome['error'][:500]}", flush=True)
        end = outcome["last"] or time.time()
        lat = outcome["latencies"] or [0.0]
        ack = sorted(sent["latencies_ms"]) or [0.0]

        def pct(values: list[float], p: float) -> float:
            return values[min(len(values) - 1, int(p / 100 * len(values)))]

        bad = sum(v for k, v in sent["statuses"].items() if not k.startswith("2"))
        total_rss, worker_rss = run.server.rss_mb()
        celery_rss, celery_max = self.worker.rss_mb()
        server_cpu = cpu["server"]
        return RunStats(
            requests=len(tips), seconds=max(end - sent["started"], 1e-6),
            p50_ms=pct(lat, 50), p95_ms=pct(lat, 95), p99_ms=pct(lat, 99),
            non2xx=bad, socket_errors=sent["socket_errors"],
            server_rss_mb=total_rss + celery_rss, server_worker_max_rss_mb=max(worker_rss, celery_max),
            server_cpu=server_cpu, db_cpu=cpu["db"], load_cpu=sent["load_cpu"],
            other_cpu=max(0.0, cpu["machine"] - server_cpu - cpu["db"] - sent["load_cpu"]),
            machine_cpu=cpu["machine"], unit="events/s", latency_of="event, arrival → credit",
            extra={"credited": outcome["credited"], "expected": len(tips),
                   "succeeded": outcome["succeeded"], "failed_events": outcome["failed"],
                   "ack_p50_ms": pct(ack, 50), "ack_p95_ms": pct(ack, 95),
                   "ack_rate": len(tips) / max(sent["finished"] - sent["started"], 1e-6)})

    def close(self) -> None:
        if self.worker is not None:
            self.worker.stop()
            self.worker = None
