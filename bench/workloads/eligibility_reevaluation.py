"""eligibility-reevaluation (issue 6): the daily re-evaluation of 100,000 enrolled creators.

What the beat task does each day, driven the way its steps run (``eligibility.services.
reevaluation_step`` with the configured batch size, ``ELIGIBILITY_REEVALUATION_BATCH_SIZE``,
default 1,000), in a child process of the harness (``bench/service.py``) with the production
settings, against the bench database: a new ``ReevaluationRun``, batch after batch until it is
finished. Measured: the whole pass (seconds, creators/s), each step's latency, and every query it
sends (counted with ``connection.execute_wrapper``: queries per creator over the whole pass); and,
after the pass, one batch under Django's ``CaptureQueriesContext`` to show what the queries are.

Data: 100,000 creators (Zipf-ranked followers, as ``bench/data.py`` makes them, lifted so that
every creator meets Creator Next's thresholds; 0.5% deleted accounts, which the pass skips), each
enrolled in the programs they qualify for: Creator Next for personal accounts, Tips from 100,000
followers, Video Gifts and (for a third) the Marketplace from 10,000, LIVE Gifts for business
accounts and half the others. A settling pass (not measured) runs first. Before each measured
round, 1% of the personal creators change: their followers drop below 1,000 (odd rounds: their
programs pause, with the audit event and the email) or come back (even rounds: they resume), so
every round does the same amount of work, as a day with 1% movement would.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from bench import procs, service
from bench.data import load_creators
from bench.registry import Check, RunStats, workload

if TYPE_CHECKING:
    from bench.registry import Figures
    from bench.runner import Context, Run

NAME = "eligibility-reevaluation"
FLIP_EVERY = 100  # 1% of the creators change between rounds


def _checked_all(figures: Figures) -> tuple[str, bool | None]:
    s = figures[NAME]
    checked, expected = s.per_round("checked"), s.per_round("expected")
    changes = s.per_round("changes")
    ok = checked == expected and len(set(changes)) == 1 and changes[0] > 0
    return (f"checked {', '.join(f'{c:,.0f}' for c in checked)} of "
            f"{', '.join(f'{e:,.0f}' for e in expected)}; changes per round "
            f"{', '.join(f'{c:,.0f}' for c in changes)}"), ok


def _queries(figures: Figures) -> tuple[str, bool | None]:
    s = figures[NAME]
    per_creator = [q / c for q, c in zip(s.per_round("queries"), s.per_round("checked"), strict=True)]
    sample = s.per_round("sample_queries")[0]
    size = s.per_round("sample_size")[0]
    return (f"{max(per_creator):.3f} per creator over a whole pass (changes included); "
            f"{sample:.0f} for a batch of {size:,.0f} without changes"), None


def _projection(figures: Figures) -> tuple[str, bool | None]:
    s = figures[NAME]
    creators = s.runs[0].requests
    return (f"{creators / s.rate:,.1f} s for {creators:,} creators at the median rate "
            f"({s.rate:,.0f}/s); 1,000,000 ≈ {1_000_000 / s.rate / 60:,.1f} min"), None


@workload(
    NAME,
    "Issue 6: the daily re-evaluation of 100,000 enrolled creators, in batches as the beat task "
    "runs them (service level, no HTTP): time, creators/s, queries per creator.",
    checks=[
        Check("every creator with an active enrolment checked; same changes each round", _checked_all),
        Check("queries (reported)", _queries),
        Check("time per pass (reported)", _projection),
    ],
    scale=100_000, smoke_scale=500,
)
def eligibility_reevaluation(ctx: Context) -> Reevaluation:
    load_creators(ctx, ctx.scale)
    programs = dict(ctx.sql("SELECT slug, id FROM eligibility_program"))
    versions = dict(ctx.sql("SELECT slug, rules_version FROM eligibility_program"))
    # Lift everyone over Creator Next's thresholds (followers 1,000, views 1,000, 3 posts), with a
    # recent public post (Video Gifts), keeping the Zipf shape above that.
    ctx.sql("""UPDATE accounts_creatorprofile SET followers = followers + 1000,
               views_30d = GREATEST(views_30d, 1000 + id % 5000), posts_30d = 3 + posts_30d % 40,
               last_public_post_at = now() - (id % 20) * interval '1 day',
               standing = 'good', fraud_flag = false""")
    who = {
        "creator-next": "p.account_type = 'personal'",
        "tips": "p.account_type = 'personal' AND p.followers >= 100000",
        "video-gifts": "p.account_type = 'personal' AND p.followers >= 10000",
        "live-gifts": "(p.account_type = 'business' OR p.id %% 2 = 0)",
        "marketplace": "p.followers >= 10000 AND p.id %% 3 = 0",
    }
    for slug, condition in who.items():
        ctx.sql(
            "INSERT INTO eligibility_enrollment (status, terms_version, terms_accepted_at, "
            "staff_granted, rules_version, decided_requirements, status_changed_at, created_at, "
            "updated_at, creator_id, program_id) "
            "SELECT 'enrolled', 'v1', now(), false, %s, '[]', now(), now(), now(), p.id, %s "
            f"FROM accounts_creatorprofile p WHERE {condition}",
            [versions[slug], programs[slug]])
    ctx.sql("CREATE TABLE bench_flip AS SELECT p.id, p.followers FROM accounts_creatorprofile p "
            "JOIN accounts_user u ON u.id = p.user_id WHERE u.deleted_at IS NULL "
            "AND p.account_type = 'personal' AND p.id %% %s = 7", [FLIP_EVERY])
    counts = ctx.sql("SELECT g.slug, count(*) FROM eligibility_enrollment e JOIN eligibility_program "
                     "g ON g.id = e.program_id GROUP BY g.slug ORDER BY g.slug")
    flips = ctx.sql("SELECT count(*) FROM bench_flip")[0][0]
    ctx.notes.append(
        f"Data: {ctx.scale:,} creators; enrolments {', '.join(f'{s} {n:,}' for s, n in counts)}; "
        f"{flips:,} creators change before each round. Latency figures are per step (one batch).")
    return Reevaluation(NAME)


class Reevaluation:
    def __init__(self, name: str) -> None:
        self.name = name
        self.child: service.ServiceProcess | None = None
        self.rounds = 0

    def prepare(self, run: Run) -> None:
        [self.child] = service.start_all(__name__, run.django_env(), run.tmp, "eligibility", 1)
        settle = self.child.call("run_pass", timeout=3600)
        with (run.tmp / "eligibility-settle.txt").open("w") as out:
            out.write(f"settling pass: {settle}\n")
        if settle["changes"]:
            print(f"[{self.name}] the settling pass changed {settle['changes']} enrolments "
                  "(the loader and the rules disagree there)", flush=True)

    def measure(self, run: Run, seconds: int) -> RunStats:
        assert self.child is not None
        self.rounds += 1
        with run.db.cursor() as cur:
            if self.rounds % 2:  # followers drop under Creator Next's 1,000
                cur.execute("UPDATE accounts_creatorprofile p SET followers = 500 FROM bench_flip f "
                            "WHERE p.id = f.id")
            else:
                cur.execute("UPDATE accounts_creatorprofile p SET followers = f.followers "
                            "FROM bench_flip f WHERE p.id = f.id")
            cur.execute("SELECT count(DISTINCT creator_id) FROM eligibility_enrollment "
                        "WHERE status IN ('enrolled', 'paused')")
            expected = cur.fetchone()[0]
        meter = procs.CpuMeter({"server": [self.child.pid], "db": run.db_backend_pids()})
        result = self.child.call("run_pass", timeout=3600)
        cpu = meter.stop()
        sample = self.child.call("sample_batch")
        steps = sorted(result["step_ms"]) or [0.0]

        def pct(p: float) -> float:
            return steps[min(len(steps) - 1, int(p / 100 * len(steps)))]

        return RunStats(
            requests=result["checked"], seconds=result["seconds"],
            p50_ms=pct(50), p95_ms=pct(95), p99_ms=pct(99),
            server_cpu=cpu["server"], db_cpu=cpu["db"], load_cpu=0.0,
            other_cpu=max(0.0, cpu["machine"] - cpu["server"] - cpu["db"]),
            machine_cpu=cpu["machine"], unit="creators/s",
            latency_of=f"step of {result['batch_size']} creators",
            extra={"checked": result["checked"], "expected": expected, "changes": result["changes"],
                   "queries": result["queries"], "batches": result["batches"],
                   "sample_queries": sample["queries"], "sample_size": sample["checked"]})

    def close(self) -> None:
        if self.child is not None:
            self.child.close()
            self.child = None


# --- the child side ------------------------------------------------------------------------------

def _run_pass() -> dict:
    from django.db import connection

    from eligibility import services
    from eligibility.models import ReevaluationRun

    queries = 0

    def count(execute, sql, params, many, context):
        nonlocal queries
        queries += 1
        return execute(sql, params, many, context)

    step_ms = []
    started = time.monotonic()
    with connection.execute_wrapper(count):
        run = ReevaluationRun.objects.create(kind=ReevaluationRun.Kind.MANUAL)
        while run.finished_at is None:
            clock = time.perf_counter()
            run = services.reevaluation_step(run_id=run.pk, enqueue_next=False)
            step_ms.append((time.perf_counter() - clock) * 1000)
    return {"checked": run.creators_checked, "changes": run.changes, "batches": run.batches,
            "queries": queries, "step_ms": step_ms, "seconds": time.monotonic() - started,
            "batch_size": services._batch_size()}


def _sample_batch() -> dict:
    """One batch (the first, nothing left to change) under CaptureQueriesContext."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from eligibility import selectors, services

    book = selectors.rule_book()
    with CaptureQueriesContext(connection) as captured:
        result = services.reevaluation_batch(after_creator_id=0, limit=services._batch_size(),
                                             book=book)
    return {"checked": result.checked, "changed": result.changed,
            "queries": len(captured.captured_queries),
            "sql": [q["sql"][:120] for q in captured.captured_queries]}


SERVICE = {"run_pass": _run_pass, "sample_batch": _sample_batch}
