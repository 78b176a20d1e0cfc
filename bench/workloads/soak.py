"""R14 soak: mixed traffic at half the mix's measured capacity for 10 minutes; no error, no money
lost or duplicated, ``ledger_check`` clean.

**The mix** (per 100 requests, in a random order; every request goes over the real API of the
production gunicorn, authenticated with a DRF token; POSTs carry an Idempotency-Key each):

- browse 50: ``GET /creators/{handle}/`` 28, ``/live-streams/{id}/feed/`` 8,
  ``/creators/{handle}/supporters/`` 5, ``/gifts/`` 4, ``/wallet/`` 5 — as one of 64 fans, creators
  drawn Zipf-skewed (s = 1.1), so the hot creators' feeds and supporter lists grow all run long;
- search 15: ``GET /marketplace/creators/?…``, P4's queries (all but page 50), as one of 48
  brand members;
- gift 22: ``POST /gift-sends/`` to the creator's live stream, a Rose, Panda or Rainbow × 1–5, as
  one of the 64 fans (Zipf-skewed creators);
- tip 8: ``POST /tips/`` of 1.00–20.00 USD with ``pm_card_visa``, charged synchronously by the fake
  Stripe (``creatornext.payments.fake_stripe``: localstripe, the launcher tests and ``make run``
  use, fee 2.9% + 30¢) that this workload starts and points the server at (``STRIPE_API_BASE``);
- redeem 5: ``POST /redemptions/`` of 2,000–20,000 diamonds (10.00–100.00 USD) by one of the
  32 most-followed creators (who also get the most gifts: their diamond rows are the hot ones).

144 distinct users. No refusal is expected: fans hold 10,000,000 coins, redeemers 100,000,000
diamonds; the staff settings that would refuse or hold a request are raised in the data (tip
daily count and total, tip velocity, redemption daily maximum and review threshold) and the abuse
limits are **on** for this workload (``BENCH_RATE_LIMITS=on``, as deployed) with their staff
settings ``ratelimit.{tips,gift_sends,redemptions}.count`` raised. So every non-2xx answer and
every socket error counts as an error.

**Rates.** ``soak-capacity``: wrk replays the mix unpaced from 32 connections for min(20 s,
``--seconds``), after the warm-up: the mix's capacity. ``soak``: ``bench/paced_sender.py`` sends the
same mix open-loop at 50% of that rate (Poisson arrivals) for ``--seconds`` (600 by default, one
round); it connects only when a request is due and waits for every request in flight at the end,
so each request has exactly one outcome (wrk's ``delay()`` would hold gunicorn's sync workers on
idle connections: see that module). The report gives capacity, target and achieved rates, the
lateness of sends, and latency per tenth of the run (does it drift as the data grows?).

**Checks.** 0 errors in the soak (the capacity phase's are reported: it runs saturated on
purpose); achieved rate within ±10% of the target; and, after every request has finished, money
neither lost nor duplicated:

- soak, exactly: the keys of the POSTs answered 2xx = the keys the server stored with a 2xx
  response (``core_idempotencyrecord``) = the tip, gift-send and redemption rows made in the soak;
- whole run: stored 2xx responses = rows, per endpoint; gifts — one ``gift-send:<id>``
  transaction per row, coins debited and diamonds credited in the ledger = the rows' sums; tips —
  every tip's payment succeeded, exactly one ``tip:<id>:captured`` per tip, the creators' pending
  credit = Σ (amount − fee), provider inflow = Σ amount; redemptions — all approved, one
  ``redemption:<id>:diamonds`` and one ``:paid`` each, diamonds and cash = the rows' sums;
- every owner's balance = what the rows imply: each fan's coins, each creator's diamonds and
  pending cash;
- the provider: the fake Stripe's succeeded PaymentIntents = our succeeded tip payments (count
  and amount; none charged that we did not record);
- ``manage.py ledger_check`` clean (the harness).

The notes of the report add, per round: requests by kind (count, p95, errors and an example),
latency per tenth of the run, what the server logged for failed requests (exception and table),
and every card payment the provider charged that we did not record. The database's CPU is polled
from /proc (gunicorn's connections are replaced every CONN_MAX_AGE during the soak).

``--smoke`` runs it in seconds on 300 creators (1-second phases; not in CI's smoke test).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from bench import data, procs
from bench.http import HttpMeasurement, slug
from bench.ledger_data import LedgerLoader, Txn
from bench.registry import Check, Load, Request, RunStats, no_errors, workload
from bench.runner import REPO
from bench.server import free_port
from bench.workloads import marketplace_search

if TYPE_CHECKING:
    from bench.registry import Figures
    from bench.runner import Context, Run

NAME = "soak"
CAPACITY = "soak-capacity"
SHARE = 0.5  # of the measured capacity
CAPACITY_SECONDS = 20  # at most (--seconds if shorter)
RATE_TOLERANCE = 0.10
FANS, REDEEMERS = 64, 32
COINS_EACH, DIAMONDS_EACH = 10_000_000, 100_000_000
STRIPE_KEY = "sk_test_bench"
PAYMENT_METHOD = "pm_card_visa"
MIX = (("profile", 28), ("feed", 8), ("supporters", 5), ("catalog", 4), ("wallet", 5),
       ("search", 15), ("gift", 22), ("tip", 8), ("redeem", 5))
GIFTS = ("Rose", "Panda", "Rainbow")
HUGE = 10**12  # a staff setting raised out of the way
SETTINGS = {
    "tips.daily_count": HUGE, "tips.daily_total": HUGE, "tips.velocity_tips_per_hour": HUGE,
    "tips.velocity_amount_per_hour": HUGE, "gifts.redeem_daily_max": HUGE,
    "gifts.redeem_review_threshold": HUGE, "ratelimit.tips.count": 1_000_000,
    "ratelimit.gift_sends.count": 1_000_000, "ratelimit.redemptions.count": 1_000_000,
}
# The money POSTs: plan kind → (the endpoint their Idempotency-Key records are stored under, table)
MONEY = {"tip": ("api:tip-list POST", "tips_tip"), "gift": ("api:gift-send-list POST", "gifts_giftsend"),
         "redeem": ("api:redemption-list POST", "gifts_redemption")}
QUIET_SECONDS = 60  # at most, for the requests still running when a phase ends


def _server_env() -> dict[str, str]:
    """Called when the workload's server starts: a free port for the fake Stripe, which
    ``prepare`` starts there (it reads the port back from ``run.env``)."""
    return {"STRIPE_API_BASE": f"http://127.0.0.1:{free_port()}", "STRIPE_SECRET_KEY": STRIPE_KEY,
            "BENCH_RATE_LIMITS": "on"}


# --- checks ----------------------------------------------------------------------------------------

def _total(figures: Figures, key: str) -> float:
    return sum(figures[NAME].per_round(key))


def _rate(figures: Figures) -> tuple[str, bool | None]:
    s = figures[NAME]
    capacity, target = s.per_round("capacity"), s.per_round("target")
    if not target:
        return "no data", False
    achieved = [r.rate for r in s.runs]
    ratios = [a / t for a, t in zip(achieved, target, strict=True)]
    text = "; ".join(f"capacity {c:,.1f} req/s → target {t:,.1f}, achieved {a:,.1f} ({q:.2f} ×)"
                     for c, t, a, q in zip(capacity, target, achieved, ratios, strict=True))
    lag = max(s.per_round("lag_p99_ms"), default=0.0)
    return f"{text}; sends late by p99 {lag:,.1f} ms", all(abs(q - 1) <= RATE_TOLERANCE for q in ratios)


def _exactly(figures: Figures) -> tuple[str, bool | None]:
    parts: list[str] = []
    bad = 0.0
    for kind in MONEY:
        ok, rows = _total(figures, f"{kind}_ok"), _total(figures, f"{kind}_rows")
        parts.append(f"{kind} {ok:,.0f} answered 2xx / {rows:,.0f} rows")
        bad += abs(ok - rows)
    lost, phantom = _total(figures, "keys_lost"), _total(figures, "keys_phantom")
    bad += lost + phantom
    return (f"{'; '.join(parts)}; keys answered 2xx but not stored {lost:,.0f}, stored but not "
            f"answered 2xx {phantom:,.0f}"), bad == 0


def _mismatches(label: str, keys: dict[str, str], describe: Callable[[Figures], str]) -> Check:
    """A judged line: ``describe`` says what was compared; ``keys`` (figure → what it counts) must
    all be 0, and those that are not are named."""
    def evaluate(figures: Figures) -> tuple[str, bool | None]:
        if not figures[NAME].per_round(next(iter(keys))):
            return "no data", False
        bad = {what: _total(figures, key) for key, what in keys.items() if _total(figures, key)}
        found = "; ".join(f"{what} {n:,.0f}" for what, n in bad.items()) or "none"
        return f"{describe(figures)}; differences: {found}", not bad
    return Check(label, evaluate)


def _f(figures: Figures, key: str) -> str:
    values = figures[NAME].per_round(key)
    return f"{values[-1]:,.0f}" if values else "—"


def _drift(figures: Figures) -> tuple[str, bool | None]:
    s = figures[NAME]
    first, last = s.per_round("window_first_p95_ms"), s.per_round("window_last_p95_ms")
    rss0, rss1 = s.per_round("worker_rss_start_mb"), s.per_round("worker_rss_end_mb")
    if not first:
        return "no data", None
    kinds = ", ".join(f"{kind} {s.per_round(f'{kind}_p95_ms')[-1]:,.0f}" for kind, _ in MIX
                      if s.per_round(f"{kind}_p95_ms"))
    return (f"p95 first tenth {first[-1]:,.1f} ms → last tenth {last[-1]:,.1f} ms; largest worker "
            f"RSS {rss0[-1]:,.0f} → {rss1[-1]:,.0f} MB; p95 ms by kind: {kinds}"), None


def _capacity_errors(figures: Figures) -> tuple[str, bool | None]:
    s = figures[CAPACITY]
    return (f"{s.errors:,} ({s.non2xx:,} non-2xx, {s.socket_errors:,} socket); at saturation, so "
            "reported, not judged: the money checks below cover whatever they did"), None


CHECKS = [
    no_errors(NAME),
    Check(f"errors in {CAPACITY} (reported)", _capacity_errors),
    Check(f"soak rate = {SHARE:g} × measured capacity (±{RATE_TOLERANCE:.0%})", _rate),
    Check("soak: POSTs answered 2xx = keys stored with a 2xx = new tip/gift/redemption rows",
          _exactly),
    _mismatches("stored 2xx responses = rows, per money endpoint (whole run)",
                {"records_minus_rows": "responses − rows"},
                lambda f: "; ".join(f"{k} {_f(f, f'{k}_records')} / {_f(f, f'{k}_rows_all')}"
                                    for k in MONEY)),
    _mismatches("gifts: one ledger transaction each; coins debited, diamonds credited = rows",
                {"gift_txn_not_one": "sends without exactly one transaction",
                 "gift_txn_diff": "transactions − sends", "gift_coins_diff": "coins",
                 "gift_diamonds_diff": "diamonds"},
                lambda f: (f"{_f(f, 'gift_rows_all')} sends, {_f(f, 'gift_coins')} coins → "
                           f"{_f(f, 'gift_diamonds')} diamonds")),
    _mismatches("tips: every payment succeeded, credited exactly once; pending = Σ net, inflow = Σ gross",
                {"tip_not_succeeded": "tips not succeeded",
                 "tip_txn_not_one": "tips without exactly one credit", "tip_txn_diff": "credits − tips",
                 "tip_net_diff": "net ¢", "tip_gross_diff": "gross ¢", "tip_fee_diff": "fees ¢"},
                lambda f: (f"{_f(f, 'tip_rows_all')} tips, gross {_f(f, 'tip_gross')} ¢, "
                           f"fees {_f(f, 'tip_fees')} ¢")),
    _mismatches("redemptions: approved, diamonds and cash posted exactly once = rows",
                {"redeem_not_approved": "not approved",
                 "redeem_txn_not_one": "without exactly one posting of each",
                 "redeem_diamonds_diff": "diamonds", "redeem_cash_diff": "cash ¢"},
                lambda f: (f"{_f(f, 'redeem_rows_all')} redemptions, {_f(f, 'redeem_diamonds')} "
                           f"diamonds → {_f(f, 'redeem_cash')} ¢")),
    _mismatches("every fan's coins, creator's diamonds and pending cash = what the rows imply",
                {"fan_coins_bad": "fans' coins", "creator_diamonds_bad": "creators' diamonds",
                 "creator_pending_bad": "creators' pending cash"},
                lambda f: (f"{_f(f, 'fans_checked')} fans, {_f(f, 'creator_accounts_checked')} "
                           "creator accounts")),
    _mismatches("provider: succeeded PaymentIntents = our succeeded tip payments",
                {"provider_count_diff": "count", "provider_amount_diff": "amount ¢",
                 "provider_unrecorded": "payments on one side only"},
                lambda f: f"{_f(f, 'provider_succeeded')} charged, {_f(f, 'provider_amount')} ¢"),
    Check("latency drift over the soak, memory (reported)", _drift),
]


@workload(
    NAME,
    "R14: 10 minutes of mixed traffic (browse, search, gift, tip, redeem) over the API at 50% of "
    "the mix's measured capacity; 0 errors, no money lost or duplicated, ledger_check clean.",
    checks=CHECKS,
    scale=100_000, smoke_scale=300,  # creators
    ledger_check=True,
    needs_static=True,  # the gift catalog names its icons through the static files manifest
    server_env=_server_env,
    seconds=600, reps=1,
)
def soak(ctx: Context) -> dict[str, Capacity | Soak]:
    world = _load(ctx)
    requests, kinds = _plan(ctx, world)
    counts = {kind: kinds.count(kind) for kind, _ in MIX}
    zipf = data.ZipfSampler(len(world.handles))
    ctx.notes.append(
        f"Data: {ctx.scale:,} creators as marketplace-search builds them ({len(world.handles):,} living, "
        f"each enrolled in tips and live-gifts and live; the top 1% get "
        f"{zipf.share_of_top(max(1, len(world.handles) // 100)):.0%} of the creator-directed "
        f"requests), {FANS} fans with {COINS_EACH:,} coins, {REDEEMERS} redeeming creators with "
        f"{DIAMONDS_EACH:,} diamonds, {marketplace_search.MEMBERS} brand members. Raised staff "
        f"settings: {', '.join(SETTINGS)}; abuse limits on. Plan of {len(requests):,}: "
        + ", ".join(f"{k} {n:,}" for k, n in counts.items()) + ".")
    ctx.notes.append(
        f"Phases: warm-up, then {CAPACITY} (wrk, unpaced, min({CAPACITY_SECONDS} s, --seconds)), then "
        f"{NAME} (bench/paced_sender.py, open loop, Poisson arrivals at {SHARE:g} × that rate, "
        "--seconds, every request waited for). The fake Stripe's CPU is counted as the load tool's.")
    shared = _Shared(requests, kinds, [r.user_id for r in world.redeemers])
    return {CAPACITY: Capacity(shared), NAME: Soak(shared)}


# --- data ------------------------------------------------------------------------------------------

@dataclass
class World:
    handles: list[str]  # living creators by rank (most followers first)
    user_ids: list[int]
    streams: list[int]  # their live streams, same order
    fans: list[data.Fan]
    members: list[data.Fan]
    redeemers: list[data.Fan]  # the top creators, with tokens
    gifts: list[int]  # catalog ids


def _load(ctx: Context) -> World:
    marketplace_search._load(ctx)  # creators 1..scale, Zipf followers, marketplace profiles
    members = marketplace_search._members(ctx)
    fans = data.load_fans(ctx, FANS, first_user_id=ctx.scale + len(members) + 1)
    ctx.sql("""
        INSERT INTO eligibility_enrollment (creator_id, program_id, status, terms_version, staff_granted,
            decided_requirements, created_at, updated_at)
        SELECT cp.id, p.id, 'enrolled', COALESCE(t.version, 'v1'), false, '[]', now(), now()
        FROM accounts_creatorprofile cp
        JOIN accounts_user u ON u.id = cp.user_id AND u.deleted_at IS NULL
        JOIN eligibility_program p ON p.slug IN ('tips', 'live-gifts')
        LEFT JOIN LATERAL (SELECT version FROM eligibility_termsversion tv WHERE tv.program_id = p.id
                           ORDER BY tv.id DESC LIMIT 1) t ON true""")
    ctx.sql("""
        INSERT INTO gifts_livestream (creator_id, title, started_at, ended_at)
        SELECT cp.id, 'Soak live', now(), NULL FROM accounts_creatorprofile cp
        JOIN accounts_user u ON u.id = cp.user_id AND u.deleted_at IS NULL""")
    rows = ctx.sql("""
        SELECT cp.user_id, cp.handle, ls.id FROM accounts_creatorprofile cp
        JOIN accounts_user u ON u.id = cp.user_id AND u.deleted_at IS NULL
        JOIN gifts_livestream ls ON ls.creator_id = cp.id
        ORDER BY cp.followers DESC, cp.id""")
    redeemers = [data.Fan(user_id, os.urandom(20).hex()) for user_id, _, _ in rows[:REDEEMERS]]
    ctx.copy("authtoken_token", ("key", "created", "user_id"),
             ((r.token, data.NOW, r.user_id) for r in redeemers))
    loader = LedgerLoader(ctx)
    coins_issued = loader.platform("coins_issued", "COIN")
    diamonds_issued = loader.platform("diamonds_issued", "DIAMOND")
    wallets = [(f.user_id, loader.owner(f.user_id, "coins", "COIN")) for f in fans]
    diamonds = [(r.user_id, loader.owner(r.user_id, "diamonds", "DIAMOND")) for r in redeemers]

    def history():
        for user_id, account in wallets:
            yield Txn(f"bench:coins:{user_id}", "coin_purchase",
                      ((coins_issued, -COINS_EACH), (account, COINS_EACH)))
        for user_id, account in diamonds:
            yield Txn(f"bench:diamonds:{user_id}", "bench_diamonds",
                      ((diamonds_issued, -DIAMONDS_EACH), (account, DIAMONDS_EACH)))

    loader.write(history)
    ctx.copy("core_setting", ("key", "value", "updated_at"),
             ((key, json.dumps(value), data.NOW) for key, value in SETTINGS.items()))
    gifts = dict(ctx.sql("SELECT name, id FROM gifts_gift WHERE active AND name = ANY(%s)", [list(GIFTS)]))
    missing = [name for name in GIFTS if name not in gifts]
    if missing:
        raise RuntimeError(f"the gift catalog has no {', '.join(missing)}")
    ctx.sql("ANALYZE")
    return World(handles=[h for _, h, _ in rows], user_ids=[u for u, _, _ in rows],
                 streams=[s for _, _, s in rows], fans=fans, members=members, redeemers=redeemers,
                 gifts=[gifts[name] for name in GIFTS])


def _plan(ctx: Context, world: World) -> tuple[list[Request], list[str]]:
    rng = ctx.rng
    zipf = data.ZipfSampler(len(world.handles))
    queries = [urlencode(q) for name, q in marketplace_search.QUERIES if name != "page-50"]
    names, weights = zip(*MIX, strict=True)
    kinds = rng.choices(names, weights, k=ctx.plan_size)
    requests = []
    for kind in kinds:
        rank = zipf.rank(rng)
        handle, stream = world.handles[rank - 1], world.streams[rank - 1]
        fan = world.fans[rng.randrange(len(world.fans))].token
        if kind == "profile":
            request = Request("GET", f"/api/v1/creators/{handle}/", token=fan)
        elif kind == "feed":
            request = Request("GET", f"/api/v1/live-streams/{stream}/feed/", token=fan)
        elif kind == "supporters":
            request = Request("GET", f"/api/v1/creators/{handle}/supporters/", token=fan)
        elif kind == "catalog":
            request = Request("GET", "/api/v1/gifts/", token=fan)
        elif kind == "wallet":
            request = Request("GET", "/api/v1/wallet/", token=fan)
        elif kind == "search":
            member = world.members[rng.randrange(len(world.members))].token
            request = Request("GET", f"/api/v1/marketplace/creators/?{rng.choice(queries)}", token=member)
        elif kind == "gift":
            body = {"creator": handle, "gift": rng.choice(world.gifts), "quantity": rng.randint(1, 5),
                    "live_stream": stream}
            request = Request("POST", "/api/v1/gift-sends/", token=fan, body=json.dumps(body))
        elif kind == "tip":
            body = {"creator": handle, "amount": {"amount": 100 * rng.randint(1, 20), "currency": "USD"},
                    "payment_method": PAYMENT_METHOD, "anonymous": rng.random() < 0.1}
            request = Request("POST", "/api/v1/tips/", token=fan, body=json.dumps(body))
        else:  # redeem
            redeemer = world.redeemers[rng.randrange(len(world.redeemers))].token
            request = Request("POST", "/api/v1/redemptions/", token=redeemer,
                              body=json.dumps({"diamonds": rng.randint(2_000, 20_000)}))
        requests.append(request)
    return requests, kinds


# --- measurements ----------------------------------------------------------------------------------

class _Shared:
    """The fake Stripe, the plan and what the capacity phase measured: one for both phases."""

    def __init__(self, requests: list[Request], kinds: list[str], redeemer_ids: list[int]) -> None:
        self.requests = requests
        self.kinds = kinds
        self.redeemer_ids = redeemer_ids  # loaded with DIAMONDS_EACH each
        self.stripe: subprocess.Popen | None = None
        self.base = ""
        self.capacity = 0.0
        self.prepared = False

    def start(self, run: Run) -> None:
        if self.prepared:
            return
        self.prepared = True
        self.base = run.env["STRIPE_API_BASE"]
        port = self.base.rsplit(":", 1)[1]
        with (run.tmp / "fake-stripe.log").open("ab") as out:
            self.stripe = subprocess.Popen(
                [sys.executable, "-m", "creatornext.payments.fake_stripe", "--port", port],
                cwd=REPO, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                preexec_fn=procs.die_with_parent)
        deadline = time.monotonic() + 60
        while True:
            try:
                self.provider("/v1/balance")
                break
            except OSError:
                if time.monotonic() > deadline or self.stripe.poll() is not None:
                    raise RuntimeError(f"the fake Stripe did not start; see {run.tmp}/fake-stripe.log") from None
                time.sleep(0.2)
        self._preflight(run)

    def provider(self, path: str) -> dict:
        request = urllib.request.Request(f"{self.base}{path}",
                                         headers={"Authorization": f"Bearer {STRIPE_KEY}"})
        with urllib.request.urlopen(request, timeout=120) as answer:
            return json.loads(answer.read())

    def _preflight(self, run: Run) -> None:
        """One request of each kind by hand: a refusal stops the run with the answer."""
        for kind, _ in MIX:
            first = self.requests[self.kinds.index(kind)]
            key = f"preflight-{os.getpid()}-{kind}"
            headers = {"Authorization": f"Token {first.token}"}
            if first.method != "GET":
                headers |= {"Idempotency-Key": key, "Content-Type": "application/json"}
            status, content = run.server.request(first.method, first.path, headers,
                                                 first.body.replace("{key}", key) or None)
            if not 200 <= status < 300:
                raise RuntimeError(f"{NAME}: pre-flight {kind} {first.method} {first.path} answered "
                                   f"{status}: {content[:500]!r}")

    def stripe_pids(self) -> list[int]:
        return [self.stripe.pid] if self.stripe is not None and self.stripe.poll() is None else []

    def close(self) -> None:
        if self.stripe is not None and self.stripe.poll() is None:
            self.stripe.kill()
            self.stripe.wait()
        self.stripe = None


def _quiet(run: Run) -> None:
    """Until no request is still at work: a phase's last requests (a tip waiting for the provider
    holds its transaction open) must not be counted in the next, nor missed by the checks."""
    deadline = time.monotonic() + QUIET_SECONDS
    calm = 0
    with run.db.cursor() as cur:
        while time.monotonic() < deadline and calm < 5:
            cur.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                        "AND pid <> pg_backend_pid() AND backend_type = 'client backend' "
                        "AND state <> 'idle'")
            calm = calm + 1 if cur.fetchone()[0] == 0 else 0
            time.sleep(0.1)


class _Backends:
    """CPU of the PostgreSQL backends serving the server, over a long run. gunicorn's workers
    replace their connections every CONN_MAX_AGE (60 s), so the harness's list of backend pids,
    taken once at the start, would lose nearly all of a 10-minute soak's database CPU; this
    polls /proc once a second for every backend of the workload's database instead (a backend
    that lives less than a second between two polls is missed)."""

    def __init__(self, run: Run) -> None:
        self.title = f" {run.db.info.dbname} ".encode()
        self.own = run.db.get_backend_pid()
        self.first: dict[int, float] = {pid: procs.cpu_seconds(pid) for pid in self._pids()}
        self.last = dict(self.first)
        self.started = time.monotonic()
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._poll, daemon=True)
        self.thread.start()

    def _pids(self) -> list[int]:
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit() and int(entry.name) != self.own:
                try:
                    title = (entry / "cmdline").read_bytes()
                except OSError:
                    continue
                if title.startswith(b"postgres: ") and self.title in title:
                    found.append(int(entry.name))
        return found

    def _poll(self) -> None:
        while not self.done.wait(1.0):
            for pid in self._pids():
                self.first.setdefault(pid, 0.0)  # new since the start: all its CPU is this run's
                self.last[pid] = max(self.last.get(pid, 0.0), procs.cpu_seconds(pid))

    def stop(self) -> float:
        """Cores used (CPU seconds ÷ wall seconds) since the start."""
        self.done.set()
        self.thread.join()
        for pid in self._pids():
            self.first.setdefault(pid, 0.0)
            self.last[pid] = max(self.last.get(pid, 0.0), procs.cpu_seconds(pid))
        wall = time.monotonic() - self.started
        return sum(max(0.0, self.last[pid] - self.first[pid]) for pid in self.first) / wall


def _rows(run: Run) -> dict[str, int]:
    with run.db.cursor() as cur:
        out = {}
        for kind, (_, table) in MONEY.items():
            cur.execute(f"SELECT count(*) FROM {table}")
            out[kind] = cur.fetchone()[0]
        return out


class Capacity:
    """wrk, unpaced: the mix's capacity. Its rate is what the soak is paced against."""

    def __init__(self, shared: _Shared) -> None:
        self.name = CAPACITY
        self.shared = shared
        self.http = HttpMeasurement(CAPACITY, Load(shared.requests, unique_keys=True))
        self.offset: int | None = None  # where the server log stood before the warm-up

    def prepare(self, run: Run) -> None:
        self.shared.start(run)
        self.offset = _log_size(run)
        self.http.prepare(run)  # the plan file, its own pre-flight, the warm-up (saturated too)

    def measure(self, run: Run, seconds: int) -> RunStats:
        _quiet(run)
        offset = _log_size(run) if self.offset is None else self.offset  # 1st round: with the warm-up
        self.offset = None
        stripe = procs.CpuMeter({"stripe": self.shared.stripe_pids()})
        stats = self.http.measure(run, min(seconds, CAPACITY_SECONDS))
        stripe_cpu = stripe.stop()["stripe"]
        stats.load_cpu = (stats.load_cpu or 0.0) + stripe_cpu
        stats.other_cpu = max(0.0, (stats.other_cpu or 0.0) - stripe_cpu)
        self.shared.capacity = stats.rate
        _quiet(run)
        stats.notes += _server_errors(run, offset)
        return stats

    def close(self) -> None:
        self.shared.close()


class Soak:
    """paced_sender at SHARE × the capacity; then every money check."""

    def __init__(self, shared: _Shared) -> None:
        self.name = NAME
        self.shared = shared
        self.rounds = 0

    def prepare(self, run: Run) -> None:
        self.shared.start(run)

    def measure(self, run: Run, seconds: int) -> RunStats:
        if not self.shared.capacity:
            raise RuntimeError(f"{NAME}: {CAPACITY} has not measured a capacity")
        self.rounds += 1
        target = SHARE * self.shared.capacity
        plan = run.tmp / f"{slug(NAME)}-{self.rounds}.tsv"
        plan.write_text("".join(f"{k}\t{r.method}\t{r.path}\t{r.token}\t{r.body}\n"
                                for k, r in zip(self.shared.kinds, self.shared.requests, strict=True)))
        prefix = f"soak-{os.getpid()}-{self.rounds}"
        result_path = run.tmp / f"{slug(NAME)}-{self.rounds}.json"
        _quiet(run)
        before = _rows(run)
        offset = _log_size(run)
        _, rss_start = run.server.rss_mb()
        meter = procs.CpuMeter({"server": run.server.pids(), "stripe": self.shared.stripe_pids()})
        backends = _Backends(run)
        argv = [sys.executable, "-m", "bench.paced_sender", str(plan),
                f"http://127.0.0.1:{run.server.port}/", f"{target:.3f}", str(seconds), str(result_path),
                prefix, str(run.options.seed + self.rounds)]
        finished = procs.run_measured(argv, run.tmp / f"{slug(NAME)}-{self.rounds}.out", cwd=REPO,
                                      timeout=seconds + 120)
        cpu = meter.stop()
        cpu["db"] = backends.stop()
        if finished.returncode:
            raise RuntimeError(f"{NAME}: the paced sender failed:\n"
                               + (run.tmp / f"{slug(NAME)}-{self.rounds}.out").read_text()[-2000:])
        result = json.loads(result_path.read_text())
        total_rss, worker_rss = run.server.rss_mb()
        _quiet(run)
        extra = self._soak_figures(run, result, prefix, before, target)
        money, notes = _money(run, self.shared)
        extra.update(money)
        extra.update(worker_rss_start_mb=rss_start, worker_rss_end_mb=worker_rss)
        notes = [_by_kind(result), _windows(result), *_server_errors(run, offset), *notes]
        for line in notes:
            print(f"[{NAME}] {line}", file=sys.stderr, flush=True)
        load_cpu = finished.cpu_cores + cpu["stripe"]
        return RunStats(
            requests=result["sent"], seconds=result["sending_seconds"], p50_ms=result["p50_ms"],
            p95_ms=result["p95_ms"], p99_ms=result["p99_ms"], non2xx=result["non2xx"],
            socket_errors=result["socket_errors"], server_rss_mb=total_rss,
            server_worker_max_rss_mb=worker_rss, server_cpu=cpu["server"], db_cpu=cpu["db"],
            load_cpu=load_cpu,
            other_cpu=max(0.0, cpu["machine"] - cpu["server"] - cpu["db"] - load_cpu),
            machine_cpu=cpu["machine"], extra=extra, notes=notes)

    def _soak_figures(self, run: Run, result: dict, prefix: str, before: dict[str, int],
                      target: float) -> dict[str, float]:
        """Exactly, for this round: keys answered 2xx = keys stored with a 2xx = new rows."""
        after = _rows(run)
        ok: set[str] = set()
        extra: dict[str, float] = {"capacity": self.shared.capacity, "target": target,
                                   "lag_p99_ms": result["lag_p99_ms"], "lag_max_ms": result["lag_max_ms"]}
        for kind in MONEY:
            keys = result["kinds"].get(kind, {}).get("ok_keys", [])
            ok.update(keys)
            extra[f"{kind}_ok"] = len(keys)
            extra[f"{kind}_rows"] = after[kind] - before[kind]
        for kind, figures in result["kinds"].items():
            extra[f"{kind}_p95_ms"] = figures["p95_ms"]
        with run.db.cursor() as cur:
            cur.execute("SELECT key FROM core_idempotencyrecord WHERE key LIKE %s "
                        "AND response_status BETWEEN 200 AND 299", [f"{prefix}-%"])
            stored = {row[0] for row in cur.fetchall()}
        extra["keys_lost"] = len(ok - stored)
        extra["keys_phantom"] = len(stored - ok)
        windows = [w for w in result["windows"] if w["answered"]]
        if windows:
            extra["window_first_p95_ms"] = windows[0]["p95_ms"]
            extra["window_last_p95_ms"] = windows[-1]["p95_ms"]
        return extra

    def close(self) -> None:
        self.shared.close()


# --- the money, after every request has finished ---------------------------------------------------

MONEY_SQL = {
    # Stored 2xx responses per money endpoint against the rows (the whole run, every phase).
    "records": """SELECT endpoint, count(*) FROM core_idempotencyrecord
                  WHERE response_status BETWEEN 200 AND 299 GROUP BY endpoint""",
    "gift": """
        SELECT count(*), COALESCE(sum(coins_spent), 0), COALESCE(sum(diamonds_credited), 0),
               count(*) FILTER (WHERE (SELECT count(*) FROM ledger_transaction t
                                       WHERE t.key = 'gift-send:' || g.id) <> 1)
        FROM gifts_giftsend g""",
    "gift_ledger": """
        SELECT (SELECT count(*) FROM ledger_transaction WHERE kind = 'gift' AND key LIKE 'gift-send:%%'),
               COALESCE(-sum(e.amount) FILTER (WHERE a.kind = 'coins'), 0),
               COALESCE(sum(e.amount) FILTER (WHERE a.kind = 'diamonds' AND a.owner_id IS NOT NULL), 0)
        FROM ledger_entry e JOIN ledger_transaction t ON t.id = e.transaction_id
        JOIN ledger_account a ON a.id = e.account_id
        WHERE t.kind = 'gift' AND t.key LIKE 'gift-send:%%'""",
    "tip": """
        SELECT count(*), count(*) FILTER (WHERE p.status IS DISTINCT FROM 'succeeded'),
               COALESCE(sum(tp.amount), 0), COALESCE(sum(p.fee), 0),
               count(*) FILTER (WHERE (SELECT count(*) FROM ledger_transaction t
                                       WHERE t.key = 'tip:' || tp.id || ':captured')
                                      <> CASE WHEN p.status = 'succeeded' THEN 1 ELSE 0 END)
        FROM tips_tip tp LEFT JOIN payments_payment p ON p.id = tp.payment_id""",
    "tip_ledger": """
        SELECT (SELECT count(*) FROM ledger_transaction WHERE kind = 'tip' AND key LIKE 'tip:%%:captured'),
               COALESCE(sum(e.amount) FILTER (WHERE a.kind IN ('pending', 'debt')), 0),
               COALESCE(-sum(e.amount) FILTER (WHERE a.kind = 'provider_inflow'), 0),
               COALESCE(sum(e.amount) FILTER (WHERE a.kind = 'processor_fees'), 0)
        FROM ledger_entry e JOIN ledger_transaction t ON t.id = e.transaction_id
        JOIN ledger_account a ON a.id = e.account_id
        WHERE t.kind = 'tip' AND t.key LIKE 'tip:%%:captured'""",
    "redeem": """
        SELECT count(*), count(*) FILTER (WHERE status <> 'approved'), COALESCE(sum(diamonds), 0),
               COALESCE(sum(amount) FILTER (WHERE status = 'approved'), 0),
               count(*) FILTER (WHERE (SELECT count(*) FROM ledger_transaction t
                                       WHERE t.key = 'redemption:' || r.id || ':diamonds') <> 1
                                   OR (SELECT count(*) FROM ledger_transaction t
                                       WHERE t.key = 'redemption:' || r.id || ':paid')
                                      <> CASE WHEN r.status = 'approved' THEN 1 ELSE 0 END)
        FROM gifts_redemption r""",
    "redeem_ledger": """
        SELECT COALESCE(-sum(e.amount) FILTER (WHERE t.kind = 'redemption_diamonds' AND a.kind = 'diamonds'), 0),
               COALESCE(sum(e.amount) FILTER (WHERE t.kind = 'redemption' AND a.kind IN ('pending', 'debt')), 0)
        FROM ledger_entry e JOIN ledger_transaction t ON t.id = e.transaction_id
        JOIN ledger_account a ON a.id = e.account_id
        WHERE t.kind IN ('redemption_diamonds', 'redemption')""",
    # Each fan's coins: what was loaded less what their gift sends spent.
    "fan_coins": """
        SELECT count(*), count(*) FILTER (WHERE a.balance <> %(coins)s - COALESCE(s.spent, 0))
        FROM ledger_account a
        LEFT JOIN (SELECT fan_id, sum(coins_spent) AS spent FROM gifts_giftsend GROUP BY fan_id) s
               ON s.fan_id = a.owner_id
        WHERE a.kind = 'coins' AND a.owner_id IS NOT NULL""",
    # Each creator's diamonds: loaded + gifts received − redeemed; pending cash: tips' net + redemptions.
    "creator_diamonds": """
        WITH expected AS (
            SELECT user_id, sum(d) AS d FROM (
                SELECT cp.user_id, g.diamonds_credited AS d FROM gifts_giftsend g
                JOIN accounts_creatorprofile cp ON cp.id = g.creator_id
                UNION ALL SELECT cp.user_id, -r.diamonds FROM gifts_redemption r
                JOIN accounts_creatorprofile cp ON cp.id = r.creator_id
                UNION ALL SELECT unnest(%(redeemers)s::bigint[]), %(diamonds)s) x
            GROUP BY user_id),
        actual AS (SELECT owner_id AS user_id, balance FROM ledger_account
                   WHERE kind = 'diamonds' AND asset = 'DIAMOND' AND owner_id IS NOT NULL)
        SELECT count(*), count(*) FILTER (WHERE COALESCE(e.d, 0) <> COALESCE(a.balance, 0))
        FROM expected e FULL JOIN actual a ON a.user_id = e.user_id""",
    "creator_pending": """
        WITH expected AS (
            SELECT user_id, sum(c) AS c FROM (
                SELECT cp.user_id, tp.amount - COALESCE(p.fee, 0) AS c FROM tips_tip tp
                JOIN payments_payment p ON p.id = tp.payment_id AND p.status = 'succeeded'
                JOIN accounts_creatorprofile cp ON cp.id = tp.creator_id
                UNION ALL SELECT cp.user_id, r.amount FROM gifts_redemption r
                JOIN accounts_creatorprofile cp ON cp.id = r.creator_id WHERE r.status = 'approved') x
            GROUP BY user_id),
        actual AS (SELECT owner_id AS user_id, balance FROM ledger_account
                   WHERE kind = 'pending' AND asset = 'USD' AND owner_id IS NOT NULL)
        SELECT count(*), count(*) FILTER (WHERE COALESCE(e.c, 0) <> COALESCE(a.balance, 0))
        FROM expected e FULL JOIN actual a ON a.user_id = e.user_id""",
    "tip_payments": """
        SELECT p.id, p.amount, p.provider_id FROM tips_tip tp
        JOIN payments_payment p ON p.id = tp.payment_id WHERE p.status = 'succeeded'""",
}


def _money(run: Run, shared: _Shared) -> tuple[dict[str, float], list[str]]:
    """The whole run's money: rows against the ledger, every owner's balance, the provider."""
    out: dict[str, float] = {}
    with run.db.cursor() as cur:
        def one(name: str, params: dict | None = None) -> tuple:
            cur.execute(MONEY_SQL[name], params or {})
            return cur.fetchone()

        cur.execute(MONEY_SQL["records"], {})
        records = dict(cur.fetchall())
        rows_all, coins, diamonds, gift_not_one = one("gift")
        txns, coins_debited, diamonds_credited = one("gift_ledger")
        out.update(gift_rows_all=rows_all, gift_coins=coins, gift_diamonds=diamonds,
                   gift_txn_not_one=gift_not_one, gift_txn_diff=abs(txns - rows_all),
                   gift_coins_diff=abs(coins_debited - coins),
                   gift_diamonds_diff=abs(diamonds_credited - diamonds))
        tips, not_succeeded, gross, fees, tip_not_one = one("tip")
        captured, net_credited, inflow, fees_booked = one("tip_ledger")
        out.update(tip_rows_all=tips, tip_gross=gross, tip_fees=fees, tip_not_succeeded=not_succeeded,
                   tip_txn_not_one=tip_not_one, tip_txn_diff=abs(captured - (tips - not_succeeded)),
                   tip_net_diff=abs(net_credited - (gross - fees)), tip_gross_diff=abs(inflow - gross),
                   tip_fee_diff=abs(fees_booked - fees))
        redemptions, not_approved, redeemed, cash, redeem_not_one = one("redeem")
        diamonds_debited, cash_credited = one("redeem_ledger")
        out.update(redeem_rows_all=redemptions, redeem_diamonds=redeemed, redeem_cash=cash,
                   redeem_not_approved=not_approved, redeem_txn_not_one=redeem_not_one,
                   redeem_diamonds_diff=abs(diamonds_debited - redeemed),
                   redeem_cash_diff=abs(cash_credited - cash))
        mismatch = 0
        for kind, (endpoint, _) in MONEY.items():
            stored, rows = records.get(endpoint, 0), out[f"{kind}_rows_all"]
            out[f"{kind}_records"] = stored
            mismatch += abs(stored - rows)
        out["records_minus_rows"] = mismatch
        fans, fans_bad = one("fan_coins", {"coins": COINS_EACH})
        diamond_accounts, diamonds_bad = one("creator_diamonds", {"redeemers": shared.redeemer_ids,
                                                                  "diamonds": DIAMONDS_EACH})
        pending_accounts, pending_bad = one("creator_pending")
        out.update(fans_checked=fans, fan_coins_bad=fans_bad, creator_diamonds_bad=diamonds_bad,
                   creator_pending_bad=pending_bad,
                   creator_accounts_checked=diamond_accounts + pending_accounts)
        cur.execute(MONEY_SQL["tip_payments"], {})
        ours = {provider_id: amount for _, amount, provider_id in cur.fetchall()}
    charged = {pi["id"]: pi for pi in shared.provider("/v1/payment_intents?limit=10000000")["data"]
               if pi.get("status") == "succeeded"}
    theirs = {pi_id: pi["amount"] for pi_id, pi in charged.items()}
    unrecorded, unknown = sorted(set(theirs) - set(ours)), sorted(set(ours) - set(theirs))
    out.update(provider_succeeded=len(theirs), provider_amount=sum(theirs.values()),
               provider_count_diff=abs(len(theirs) - len(ours)),
               provider_amount_diff=abs(sum(theirs.values()) - sum(ours.values())),
               provider_unrecorded=len(unrecorded) + len(unknown))
    notes = []
    if unrecorded:
        notes.append(f"{len(unrecorded)} card payment(s) succeeded at the provider with no succeeded "
                     "payment on our side (money taken, nothing credited): " + ", ".join(
                         f"{pi_id} {theirs[pi_id]} ¢ ({charged[pi_id].get('metadata', {}).get('ref', '?')})"
                         for pi_id in unrecorded[:10]))
    if unknown:
        notes.append(f"{len(unknown)} succeeded payment(s) the provider does not have as succeeded: "
                     + ", ".join(unknown[:10]))
    return {key: float(value) for key, value in out.items()}, notes


# --- what the run itself tells ---------------------------------------------------------------------

ACCESS_LINE = re.compile(r"^\d+\.\d+\.\d+\.\d+ - ")
EXCEPTION_LINE = re.compile(r"^((?:[a-z_]\w*\.)*[A-Z]\w*(?:Error|Exception|Detected|Timeout)\w*): (.+)$")
GUNICORN_TROUBLE = re.compile(r"\[(?:CRITICAL|ERROR)\] (WORKER TIMEOUT|Worker \S+ was sent \w+|[^(\d]{0,60})")
RELATION = re.compile(r'^CONTEXT: .* in relation "(\w+)"')


def _log_size(run: Run) -> int:
    return run.server.log.stat().st_size if run.server.log.exists() else 0


def _server_errors(run: Run, offset: int) -> list[str]:
    """What Django logged about failed requests since ``offset`` in the server's log, counted by
    request and last exception (a 500's traceback, a 4xx's warning)."""
    with run.server.log.open("rb") as log:
        log.seek(offset)
        text = log.read().decode(errors="replace")
    seen: Counter[str] = Counter()
    for line in text.splitlines():
        if match := GUNICORN_TROUBLE.search(line):
            seen[f"gunicorn: {match.group(1)}"] += 1
    for block in re.split(r"(?:ERROR|WARNING) django\.request: ", text)[1:]:
        lines = block.splitlines()
        exception = ""
        for line in lines[1:]:
            if ACCESS_LINE.match(line):
                break
            if match := EXCEPTION_LINE.match(line):
                exception = f"{match.group(1).rsplit('.', 1)[-1]}: {match.group(2)}"
            elif (match := RELATION.match(line)) and "(on " not in exception:
                exception += f" (on {match.group(1)})"
        seen[f"{lines[0].strip()}{' — ' + exception if exception else ''}"] += 1
    if not seen:
        return []
    return ["server log: " + "; ".join(f"{n} × {what}" for what, n in seen.most_common(10))]


def _by_kind(result: dict) -> str:
    parts = []
    for kind, _ in MIX:
        k = result["kinds"].get(kind)
        if not k:
            continue
        bad = sum(n for status, n in k["statuses"].items() if not status.startswith("2"))
        bad += sum(k["socket_errors"].values())
        text = f"{kind} {k['sent']:,} (p95 {k['p95_ms']:,.0f} ms, {bad} errors"
        if k["error_samples"]:
            sample = k["error_samples"][0]
            if title := re.search(r"<title>(.*?)</title>", sample, re.S):  # an HTML error page
                sample = f"{sample.split(':', 1)[0]}: {title.group(1)}"
            sample = re.sub(r"\s+", " ", sample)[:160]
            text += f", e.g. {sample!r}"
        parts.append(text + ")")
    return "requests by kind: " + "; ".join(parts)


def _windows(result: dict) -> str:
    return ("by tenth of the run (answered / errors / p50 / p95 ms): "
            + ", ".join(f"{w['answered']:,}/{w['errors']}/{w['p50_ms']:.0f}/{w['p95_ms']:.0f}"
                        for w in result["windows"]))
