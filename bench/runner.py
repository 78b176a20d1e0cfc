"""Runs one workload: fresh database, data, production server, interleaved rounds, checks.

The order of events, and why:
1. The workload's database is a copy of a template migrated once per invocation (CREATE DATABASE
   ... TEMPLATE takes a fraction of a second; migrating takes seconds), so each workload starts
   from exactly what a deployment's migrations produce, and never sees another workload's rows.
2. gunicorn starts right away: its workers boot while the data loads (they touch the database only
   when the first request arrives).
3. Each measurement gets a pre-flight request and a warm-up; then the rounds run baselines and
   workload loads alternately, reversing the order every other round, so slow drift of a shared,
   noisy machine hits both sides of every ratio alike.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import random
import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
from psycopg2.extensions import connection as Connection

from bench import database
from bench.http import HttpMeasurement
from bench.pgbench import PgbenchMeasurement
from bench.registry import (
    Load,
    Measurement,
    Request,
    RunStats,
    Summary,
    Workload,
    WorkloadResult,
)
from bench.server import Gunicorn

REPO = Path(__file__).resolve().parent.parent
LEDGER_CHECK = "manage.py ledger_check clean"

BASELINES: dict[str, Callable[[], Measurement]] = {
    "B-json": lambda: HttpMeasurement("B-json", Load([Request("GET", "/bench/json/")])),
    "B-insert": lambda: HttpMeasurement(
        "B-insert", Load([Request("POST", "/bench/insert/", body='{"value": 1}')])),
    "B-pg": PgbenchMeasurement,
}


@dataclass(frozen=True)
class Options:
    seconds: int = 10  # one measured run
    reps: int = 3
    warmup: int = 2  # seconds of wrk before a load's first round (0: pre-flight request only)
    connections: int = 32
    threads: int = 1  # wrk threads: one is enough for ~10k req/s and leaves a core to the server
    workers: int | None = None  # None: as the Dockerfile says
    scale: int | None = None
    extra_baselines: tuple[str, ...] = ()
    smoke: bool = False
    profile_dir: Path | None = None
    server_url: str = "postgres://postgres@127.0.0.1:5432/postgres"
    redis_url: str = "redis://127.0.0.1:6379/13"
    seed: int = 20260101
    template_cache: bool = True  # reuse a migrated template from an earlier run (database.py)
    keep_data: str | None = None  # keep the workload's loaded database under this name
    # What the command line set explicitly ("seconds", "reps"): it beats a workload's own default.
    given: frozenset[str] = frozenset()

    def for_workload(self, workload: Workload) -> Options:
        """These options with ``workload``'s own length and rounds where the command line gave
        none (not in --smoke, which is always 1 round of 1 s)."""
        if self.smoke:
            return self
        seconds = self.seconds if "seconds" in self.given or workload.seconds is None else workload.seconds
        reps = self.reps if "reps" in self.given or workload.reps is None else workload.reps
        return dataclasses.replace(self, seconds=seconds, reps=reps)


@dataclass
class Context:
    """What a workload's setup function gets: the empty, migrated database and the sizes."""

    db: Connection  # autocommit connection to the workload's own database
    scale: int
    smoke: bool
    rng: random.Random
    plan_size: int  # how many requests a load's plan should hold
    reps: int = 3  # rounds each measurement will run (fixed-work measurements need data for each)
    notes: list[str] = field(default_factory=list)  # lines for the report ("Data: ...")
    env: dict[str, str] = field(default_factory=dict)  # the server's environment (for manage.py)

    def copy(self, table: str, columns: tuple[str, ...], rows) -> int:
        return database.copy_rows(self.db, table, columns, rows)

    def sql(self, query: str, params: Any = None) -> list[tuple]:
        with self.db.cursor() as cur:
            cur.execute(query, params)
            return cur.fetchall() if cur.description else []


@dataclass
class Run:
    """What measurements get: the server, the database, the tools and the options."""

    options: Options
    server: Gunicorn
    db_url: str
    tmp: Path
    tools: dict[str, str]
    env: dict[str, str]
    db: Connection  # the harness's own connection to the workload's database

    def django_env(self) -> dict[str, str]:
        """The server's environment with the app's own settings: for the harness's Django children
        (a Celery worker, a service driver), which must see what the server sees."""
        return {**self.env, "DJANGO_SETTINGS_MODULE": "creatornext.settings"}

    def db_backend_pids(self) -> list[int]:
        """The PostgreSQL processes serving the app's connections (gunicorn keeps them open
        between requests: CONN_MAX_AGE), so their CPU can be charged to the server."""
        with self.db.cursor() as cur:
            cur.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                        "AND pid <> pg_backend_pid() AND backend_type = 'client backend'")
            return [row[0] for row in cur.fetchall()]


@dataclass
class Outcome:
    workload: Workload
    figures: dict[str, Summary]
    baselines: tuple[str, ...]
    loads: tuple[str, ...]
    checks: list[tuple[str, str, bool | None]]  # label, measured, verdict
    notes: list[str]
    server: dict[str, Any]
    started: dt.datetime
    elapsed: float
    ledger_check: str | None = None
    options: Options | None = None  # as the workload ran (its own --seconds / --reps defaults)

    @property
    def passed(self) -> bool:
        return all(ok is not False for _, _, ok in self.checks)

    @property
    def ledger_clean(self) -> bool:
        return all(ok is not False for label, _, ok in self.checks if label == LEDGER_CHECK)


def production_env(db_url: str, options: Options, tmp: Path,
                   settings: str = "bench.settings") -> dict[str, str]:
    """The production shape, from nothing: whatever the caller's shell or test runner has set
    (CREATORNEXT_DEV, DJANGO_DEBUG, a test DATABASE_URL...) must not leak into the server."""
    bindir = Path(sys.executable).parent
    return {
        "PATH": f"{bindir}:/usr/local/bin:/usr/bin:/bin",
        "HOME": os.environ.get("HOME", "/root"),
        "LANG": "C.UTF-8",
        "PYTHONUNBUFFERED": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "DJANGO_SETTINGS_MODULE": settings,
        "SECRET_KEY": secrets.token_urlsafe(48),  # 64 characters
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        # Plain HTTP on loopback stands for the TLS proxy's back side; everything else secure.
        "SECURE_SSL_REDIRECT": "false",
        "DATABASE_URL": db_url,
        # Connections kept for the whole run (production: 60 s). The harness charges database CPU
        # to the backends it finds at the start and end of a round; a backend replaced mid-round
        # (its CONN_MAX_AGE ran out) took its CPU with it and showed up as other people's jobs.
        "DB_CONN_MAX_AGE": "3600",
        "REDIS_URL": options.redis_url,
        "CREATORNEXT_VAR_DIR": str(tmp / "var"),
        "STATIC_ROOT": str(tmp / "static"),
    }


def _as_measurements(name: str, result: WorkloadResult) -> dict[str, Measurement]:
    if isinstance(result, Load):
        return {name: HttpMeasurement(name, result)}
    if isinstance(result, Mapping):
        return {key: HttpMeasurement(key, value) if isinstance(value, Load) else value
                for key, value in result.items()}
    return {result.name: result}


def _scale(workload: Workload, options: Options) -> int:
    if options.scale is not None:
        return options.scale
    return workload.smoke_scale if options.smoke else workload.scale


def _collectstatic(env: dict[str, str], log: Path) -> None:
    with log.open("ab") as out:
        subprocess.run([sys.executable, "manage.py", "collectstatic", "--noinput"], cwd=REPO,
                       env=env, stdout=out, stderr=subprocess.STDOUT, check=True)


def _ledger_check(env: dict[str, str], tmp: Path) -> tuple[bool, str]:
    """A money workload's last word: any difference in the ledger fails the workload."""
    result = subprocess.run([sys.executable, "manage.py", "ledger_check"], cwd=REPO,
                            env={**env, "DJANGO_SETTINGS_MODULE": "creatornext.settings"},
                            capture_output=True, text=True, check=False)
    text = (result.stdout + result.stderr).strip()
    (tmp / "ledger_check.out").write_text(text)
    return result.returncode == 0, text


def start_server(workload: Workload, options: Options, db_name: str, tmp: Path) -> Gunicorn:
    """The production server for ``workload``, pointed at its (maybe not yet existing) database:
    workers touch the database only on the first request, so they may boot while it is made."""
    extra = workload.server_env() if callable(workload.server_env) else workload.server_env
    env = {**production_env(database.url_for(options.server_url, db_name), options, tmp),
           **(extra or {})}
    (tmp / "var").mkdir(exist_ok=True)
    (tmp / "static").mkdir(exist_ok=True)
    if workload.needs_static:
        # WhiteNoise indexes STATIC_ROOT when the workers boot: collect before starting.
        _collectstatic(env, tmp / "collectstatic.log")
    server = Gunicorn(REPO, env, tmp / f"gunicorn-{workload.name}.log", options.workers)
    server.start()
    return server


def run_workload(workload: Workload, options: Options, *, server: Gunicorn, template: str,
                 db_name: str, tmp: Path, tools: dict[str, str], created: list[str],
                 log: Callable[[str], None]) -> Outcome:
    started = dt.datetime.now(dt.UTC)
    clock = time.monotonic()
    options = options.for_workload(workload)
    db_url = database.url_for(options.server_url, db_name)
    try:
        database.create(options.server_url, db_name, template=template)
        created.append(db_name)
        # The cache (rate limits, idempotency, heartbeats) starts empty, like the database.
        redis.Redis.from_url(options.redis_url).flushdb()
        conn = database.connect(db_url)
        try:
            ctx, loads = _set_up(workload, options, conn, log, server.env)
            baselines = workload_baselines(workload, options)
            measurements = {**{name: BASELINES[name]() for name in baselines}, **loads}
            server.wait_ready("/bench/json/")
            run = Run(options, server, db_url, tmp, tools, server.env, conn)
            try:
                figures = _measure(measurements, run, log, workload.name)
            finally:
                _close(measurements.values())
            checks = [(c.label, *c.evaluate(figures)) for c in workload.checks]
            ledger = None
            if workload.ledger_check:
                ok, ledger = _ledger_check(server.env, tmp)
                checks.append((LEDGER_CHECK, "clean" if ok else "DIFFERENCES", ok))
        finally:
            conn.close()
    finally:
        server_info = {"argv": [Path(server.argv[0]).name, *server.argv[1:]],
                       "workers": server.workers, "pids": server.pids()}
        server.stop()
        if options.keep_data:
            database.rename(options.server_url, db_name, options.keep_data)
            log(f"Kept the loaded database as {options.keep_data}")
        else:
            database.drop(options.server_url, db_name)
    notes = (ctx.notes + [f"{name}, round {i}: {line}" for name, summary in figures.items()
                          for i, stats in enumerate(summary.runs, start=1) for line in stats.notes]
             + _noise_notes(figures))
    return Outcome(workload=workload, figures=figures, baselines=tuple(baselines),
                   loads=tuple(loads), checks=checks, notes=notes, server=server_info,
                   started=started, elapsed=time.monotonic() - clock, ledger_check=ledger,
                   options=options)


def _set_up(workload: Workload, options: Options, conn: Connection,
            log: Callable[[str], None], env: dict[str, str]) -> tuple[Context, dict[str, Measurement]]:
    """Load the workload's data and return what it wants measured."""
    ctx = Context(db=conn, scale=_scale(workload, options), smoke=options.smoke,
                  rng=random.Random(options.seed), plan_size=2_000 if options.smoke else 50_000,
                  reps=options.reps, env=env)
    log(f"[{workload.name}] loading data (scale {ctx.scale:,})...")
    clock = time.monotonic()
    result = workload.setup(ctx)
    database.analyze(conn)
    ctx.notes.append(f"Data loaded in {time.monotonic() - clock:.1f} s.")
    return ctx, _as_measurements(workload.name, result)


def _close(measurements) -> None:
    """Measurements that keep processes between rounds (a Celery worker, service drivers) stop
    them here; the harness's process-group kill and PR_SET_PDEATHSIG are the backstops."""
    for measurement in measurements:
        close = getattr(measurement, "close", None)
        if close is not None:
            close()


def _noise_notes(figures: dict[str, Summary]) -> list[str]:
    """Say so when other jobs used the machine during the run: the ratios hold up better than
    the absolute figures, but both are noisier."""
    busy = max((s.other_cpu or 0.0 for s in figures.values()), default=0.0)
    if busy < 0.25:
        return []
    return [f"Warning: other processes used up to {busy:.2f} cores during the measurements "
            "(last column): this machine was shared, the figures are noisy."]


def workload_baselines(workload: Workload, options: Options) -> list[str]:
    names = list(workload.baselines)
    for extra in options.extra_baselines:
        if extra not in names:
            names.append(extra)
    return names


def _measure(measurements: dict[str, Measurement], run: Run, log: Callable[[str], None],
             workload: str) -> dict[str, Summary]:
    for name, measurement in measurements.items():
        log(f"[{workload}] preparing {name}...")
        measurement.prepare(run)
    runs: dict[str, list[RunStats]] = {name: [] for name in measurements}
    order = list(measurements)
    for rep in range(run.options.reps):
        for name in order if rep % 2 == 0 else reversed(order):
            stats = _measure_one(measurements[name], run, name)
            runs[name].append(stats)
            log(f"[{workload}] round {rep + 1}/{run.options.reps} {name}: "
                f"{stats.rate:,.0f} {stats.unit}, p95 {stats.p95_ms:.1f} ms, "
                f"errors {stats.non2xx + stats.socket_errors}, load-tool CPU "
                f"{stats.load_cpu or 0:.2f} cores")
    return {name: Summary(name, stats) for name, stats in runs.items()}


def _measure_one(measurement: Measurement, run: Run, name: str) -> RunStats:
    profile = run.options.profile_dir
    if profile is None or name in BASELINES:
        return measurement.measure(run, run.options.seconds)
    from bench.profile import profiled

    with profiled(run, name, profile):
        return measurement.measure(run, run.options.seconds)
