"""P7 ledger-bulk: bulk posting through the ledger's service API, against B-pg in the same run.

No HTTP: ``WORKERS`` child processes (``bench/service.py``), each with its own database
connection, call ``creatornext.ledger.services.post_many`` in a loop for the round's seconds, with
batches of ``BATCH`` postings — half gift-shaped (fan coins → coins spent; diamonds issued →
creator diamonds: four entries, two cached accounts), half hold-release-shaped (creator pending →
available: two entries, two cached accounts), every key unique. Each worker posts for its own
share of the owners (the way batch jobs split the work, e.g. hold releases claimed with SKIP
LOCKED), creators drawn Zipf-skewed within the share, so a batch holds a popular creator's
account many times; the platform accounts (no cached balance, never locked) are shared by all.

The rate is ledger transactions committed per second, all workers together; its latency figures
are one ``post_many`` call (one batch), so they are not compared with pgbench's per-transaction
latencies. ``ledger_check`` runs afterwards.
"""

from __future__ import annotations

import random
import time
from typing import TYPE_CHECKING

from bench import data, procs, service
from bench.ledger_data import COIN, DIAMOND, LedgerLoader, Txn
from bench.registry import RunStats, rate_ratio_at_least, workload

if TYPE_CHECKING:
    from bench.runner import Context, Run

NAME = "ledger-bulk"
WORKERS = 4
BATCH = 200
FANS_PER_CREATOR = 4
SEED_COINS = 10**12  # each fan's coins, and each creator's pending cents: never run out
CURRENCY = "USD"


@workload(
    NAME,
    f"P7: bulk ledger posting through the service API (post_many), {WORKERS} processes, "
    f"batches of {BATCH} gift- and hold-release-shaped postings, vs B-pg.",
    baselines=["B-pg"],
    checks=[rate_ratio_at_least(NAME, "B-pg", 3)],
    scale=10_000, smoke_scale=200,  # creators (fans: 4 per creator)
    ledger_check=True,
)
def ledger_bulk(ctx: Context) -> BulkPosting:
    creators = data.load_creators(ctx, ctx.scale, deleted_share=0)
    fans = data.load_fans(ctx, ctx.scale * FANS_PER_CREATOR, first_user_id=ctx.scale + 1)
    ledger = LedgerLoader(ctx)
    coins_issued = ledger.platform("coins_issued", COIN)
    inflow = ledger.platform("provider_inflow", CURRENCY)
    for kind, asset in (("coins_spent", COIN), ("diamonds_issued", DIAMOND)):
        ledger.platform(kind, asset)
    fan_coins = [ledger.owner(f.user_id, "coins", COIN) for f in fans]
    pending = [ledger.owner(c, "pending", CURRENCY) for c in creators.user_ids_by_rank]
    for c in creators.user_ids_by_rank:
        ledger.owner(c, "available", CURRENCY)
        ledger.owner(c, "diamonds", DIAMOND)

    def funding():  # what the fans bought and the creators earned before the bench
        for account in fan_coins:
            yield Txn(f"bench:fund:{account}", "coin_purchase", ((coins_issued, -SEED_COINS),
                                                                 (account, SEED_COINS)))
        for account in pending:
            yield Txn(f"bench:fund:{account}", "tip", ((inflow, -SEED_COINS), (account, SEED_COINS)))

    ledger.write(funding)
    ctx.notes.append(
        f"Data: {ctx.scale:,} creators (ranked Zipf s = {data.ZIPF_S}) and {len(fans):,} fans with "
        f"funded wallets; {WORKERS} worker processes each own 1/{WORKERS} of the creators and "
        f"fans; a batch is {BATCH} postings, half gift-shaped (4 entries), half "
        "hold-release-shaped (2 entries). Latency figures are per batch (one post_many call).")
    return BulkPosting(NAME, creators.user_ids_by_rank, [f.user_id for f in fans])


class BulkPosting:
    """The Measurement: WORKERS children posting batches for ``seconds``."""

    def __init__(self, name: str, creators_by_rank: list[int], fans: list[int]) -> None:
        self.name = name
        self.creators = creators_by_rank
        self.fans = fans
        self.children: list[service.ServiceProcess] = []
        self.rounds = 0

    def prepare(self, run: Run) -> None:
        self.children = service.start_all(__name__, run.django_env(), run.tmp, "ledger-bulk",
                                          WORKERS)
        for index, child in enumerate(self.children):
            child.call("setup", worker=index, creators=self.creators[index::WORKERS],
                       fans=self.fans[index::WORKERS], batch=BATCH)
        if run.options.warmup:
            self._round(run, run.options.warmup)

    def _round(self, run: Run, seconds: float) -> list[dict]:
        self.rounds += 1
        for child in self.children:
            child.send("run", seconds=seconds, round_no=self.rounds)
        return [child.receive(timeout=seconds + 120) for child in self.children]

    def measure(self, run: Run, seconds: int) -> RunStats:
        meter = procs.CpuMeter({"server": [c.pid for c in self.children],
                                "db": run.db_backend_pids()})
        results = self._round(run, seconds)
        cpu = meter.stop()
        latencies = sorted(ms for r in results for ms in r["batch_ms"])
        wall = max(r["seconds"] for r in results)

        def pct(p: float) -> float:
            return latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))] if latencies else 0.0

        return RunStats(
            requests=sum(r["transactions"] for r in results), seconds=wall,
            p50_ms=pct(50), p95_ms=pct(95), p99_ms=pct(99),
            server_cpu=cpu["server"], db_cpu=cpu["db"], load_cpu=0.0,
            other_cpu=max(0.0, cpu["machine"] - cpu["server"] - cpu["db"]),
            machine_cpu=cpu["machine"], unit="tx/s", latency_of=f"batch of {BATCH}",
            extra={"entries": sum(r["entries"] for r in results), "batches": len(latencies)})

    def close(self) -> None:
        service.close_all(self.children)
        self.children = []


# --- the child side (runs in `python -m bench.service bench.workloads.ledger_bulk`) --------------

_STATE: dict = {}


def _setup(worker: int, creators: list[int], fans: list[int], batch: int) -> dict:
    from creatornext.ledger.models import Account

    owned = {(a.owner_id, a.kind): a for a in Account.objects.filter(owner_id__in=creators + fans)}
    platform = {a.kind: a for a in Account.objects.filter(owner__isnull=True)}
    zipf = data.ZipfSampler(len(creators))
    _STATE.update(worker=worker, batch=batch, owned=owned, platform=platform, zipf=zipf,
                  creators=creators, fans=fans, rng=random.Random(1000 + worker))
    return {"accounts": len(owned)}


def _batch(round_no: int, number: int) -> list:
    from creatornext.ledger.services import Leg, Posting

    s = _STATE
    owned, platform, rng = s["owned"], s["platform"], s["rng"]
    postings = []
    for i in range(s["batch"]):
        creator = s["creators"][s["zipf"].rank(rng) - 1]
        key = f"bench:{s['worker']}:{round_no}:{number}:{i}"
        if i % 2 == 0:
            fan = s["fans"][rng.randrange(len(s["fans"]))]
            coins = 1 + int(rng.random() * 50)
            legs = [Leg(owned[(fan, "coins")], -coins), Leg(platform["coins_spent"], coins),
                    Leg(platform["diamonds_issued"], -coins), Leg(owned[(creator, "diamonds")], coins)]
            postings.append(Posting(key=key, kind="gift", legs=legs, ref=f"bench-gift:{i}"))
        else:
            cents = 100 + int(rng.random() * 5000)
            legs = [Leg(owned[(creator, "pending")], -cents), Leg(owned[(creator, "available")], cents)]
            postings.append(Posting(key=key, kind="hold_release", legs=legs, ref=f"bench-hold:{i}"))
    return postings


def _run(seconds: float, round_no: int) -> dict:
    from creatornext.ledger.services import post_many

    batch_ms, transactions, entries, number = [], 0, 0, 0
    started = time.monotonic()
    deadline = started + seconds
    while time.monotonic() < deadline:
        postings = _batch(round_no, number)
        number += 1
        clock = time.perf_counter()
        transactions += post_many(postings)
        batch_ms.append((time.perf_counter() - clock) * 1000)
        entries += sum(len(p.legs) for p in postings)
    return {"transactions": transactions, "entries": entries, "batch_ms": batch_ms,
            "seconds": time.monotonic() - started}


def _profile(batches: int = 20) -> dict:
    """cProfile of ``batches`` post_many calls (by hand: bench/README.md, Profile)."""
    import cProfile
    import io
    import pstats

    from creatornext.ledger.services import post_many

    work = [_batch(10_000 + n, n) for n in range(batches)]
    profiler = cProfile.Profile()
    profiler.enable()
    for postings in work:
        post_many(postings)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(35)
    return {"profile": out.getvalue()}


SERVICE = {"setup": _setup, "run": _run, "profile": _profile}
