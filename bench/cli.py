"""``python -m bench [WORKLOAD ...]``: the entry point behind ``make bench``.

Whatever happens (a failure, Ctrl-C, SIGTERM), the ``finally`` below stops the server and drops
every database this run created; children also die with the harness if it is SIGKILLed
(``procs.die_with_parent``), and the next run drops databases a killed run left.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import os
import pkgutil
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import database, procs, report
from bench.registry import WORKLOADS, Workload
from bench.runner import (
    BASELINES,
    REPO,
    Options,
    Outcome,
    production_env,
    run_workload,
    start_server,
)
from bench.server import Gunicorn

RESULTS = REPO / "docs" / "benchmarks.md"


def load_workloads() -> None:
    """Import every module of bench/workloads/: each registers itself with @workload."""
    import bench.workloads as package

    for module in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{package.__name__}.{module.name}")


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description="Creator Next benchmarks (see bench/README.md).")
    parser.add_argument("workloads", nargs="*", metavar="WORKLOAD",
                        help="workloads to run (default: all); --list shows them")
    parser.add_argument("--list", action="store_true", help="list the workloads and exit")
    parser.add_argument("--smoke", action="store_true",
                        help="CI mode: 1 round of 1 s, tiny data, no warm-up, writes no results "
                             "unless --results is given")
    parser.add_argument("--seconds", type=int,
                        help="length of one measured run (default 10, or the workload's own)")
    parser.add_argument("--reps", type=int,
                        help="rounds per measurement (default 3, or the workload's own)")
    parser.add_argument("--warmup", type=int, help="seconds of warm-up per load (default 2)")
    parser.add_argument("--connections", type=int, default=32,
                        help="concurrent connections (default 32)")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (default 1)")
    parser.add_argument("--workers", type=int,
                        help="gunicorn workers (default: the Dockerfile's)")
    parser.add_argument("--scale", type=int, help="rows of the workload's main table")
    parser.add_argument("--baselines", default="",
                        help="extra baselines measured with every workload: comma-separated "
                             f"names from {', '.join(BASELINES)}, or 'all'")
    parser.add_argument("--results", type=Path,
                        help=f"Markdown file to append to (default {RESULTS.relative_to(REPO)}; "
                             "none in --smoke)")
    parser.add_argument("--no-results", action="store_true", help="append nowhere")
    parser.add_argument("--json", type=Path, help="also write every figure to this JSON file")
    parser.add_argument("--profile", type=Path, metavar="DIR",
                        help="py-spy flame graphs of the workers during each load (installs "
                             "py-spy); the run is not written to the results")
    parser.add_argument("--pg", default=Options.server_url,
                        help="PostgreSQL server (any database; the harness creates its own)")
    parser.add_argument("--redis", default=Options.redis_url, help="Redis for the served app")
    parser.add_argument("--no-template-cache", action="store_true",
                        help="migrate a fresh template even if an earlier run kept one for the "
                             "same migrations and packages")
    parser.add_argument("--keep-data", metavar="NAME",
                        help="keep the loaded database under this name instead of dropping it "
                             "(for EXPLAIN work on the same data; one workload only)")
    args = parser.parse_args(argv)
    if args.keep_data and len(args.workloads) != 1:
        parser.error("--keep-data keeps one workload's database: name exactly one workload")
    return args


def build_options(args: argparse.Namespace) -> Options:
    smoke = args.smoke
    extra = [b.strip() for b in args.baselines.split(",") if b.strip()]
    if extra == ["all"]:
        extra = list(BASELINES)
    unknown = [b for b in extra if b not in BASELINES]
    if unknown:
        raise SystemExit(f"unknown baseline(s): {', '.join(unknown)}; known: {', '.join(BASELINES)}")
    return Options(
        seconds=args.seconds or (1 if smoke else 10),
        reps=args.reps or (1 if smoke else 3),
        warmup=args.warmup if args.warmup is not None else (0 if smoke else 2),
        connections=args.connections, threads=args.threads, workers=args.workers,
        scale=args.scale, extra_baselines=tuple(extra), smoke=smoke, profile_dir=args.profile,
        server_url=args.pg, redis_url=args.redis, template_cache=not args.no_template_cache,
        keep_data=args.keep_data,
        given=frozenset(name for name in ("seconds", "reps") if getattr(args, name) is not None))


def results_path(args: argparse.Namespace) -> Path | None:
    if args.no_results or args.profile:
        return None
    if args.results:
        return args.results
    return None if args.smoke else RESULTS


def _interrupt(signum: int, frame: object) -> None:
    # SIGTERM / SIGHUP become KeyboardInterrupt, so the same `finally` cleans up as for Ctrl-C.
    raise KeyboardInterrupt(f"signal {signum}")


_STARTED = time.monotonic()


def log(message: str) -> None:
    print(f"{time.monotonic() - _STARTED:6.1f}s {message}", file=sys.stderr, flush=True)


def _versions(options: Options, tools: dict[str, str]) -> dict[str, str]:
    wrk = subprocess.run([tools["wrk"], "--version"], capture_output=True, text=True, check=False)
    wrk_version = (wrk.stdout or wrk.stderr).split(" [")[0].strip() or "wrk"
    return {"postgresql": database.server_version(options.server_url), "wrk": wrk_version}


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    load_workloads()
    if args.list:
        for workload in WORKLOADS.values():
            print(f"{workload.name:<20} {workload.description}")
        return 0
    names = args.workloads or list(WORKLOADS)
    missing = [n for n in names if n not in WORKLOADS]
    if missing:
        raise SystemExit(f"unknown workload(s): {', '.join(missing)}; `python -m bench --list`")
    options = build_options(args)
    signal.signal(signal.SIGTERM, _interrupt)
    # SIGHUP too, unless the caller chose to ignore it (nohup).
    if signal.getsignal(signal.SIGHUP) is not signal.SIG_IGN:
        signal.signal(signal.SIGHUP, _interrupt)
    return Session(options, results_path(args), args.json).run([WORKLOADS[n] for n in names])


class Session:
    """One invocation: the migrated template database, then each workload in turn."""

    def __init__(self, options: Options, results: Path | None, json_path: Path | None) -> None:
        self.options = options
        self.results = results
        self.json_path = json_path
        self.template = f"{database.PREFIX}{os.getpid()}_tpl"
        self.db_name = f"{database.PREFIX}{os.getpid()}"
        self.created: list[str] = []
        self.servers: list[Gunicorn] = []
        self.outcomes: list[Outcome] = []

    def tools(self, workloads: list[Workload]) -> dict[str, str]:
        tools = {"wrk": procs.ensure_tool("wrk")}
        wanted = {b for w in workloads for b in w.baselines} | set(self.options.extra_baselines)
        if "B-pg" in wanted:
            tools["pgbench"] = procs.ensure_tool("pgbench")
        return tools

    def run(self, workloads: list[Workload]) -> int:
        clock = time.monotonic()
        tmp = Path(tempfile.mkdtemp(prefix="creatornext-bench-"))
        ok = False
        try:
            tools = self.tools(workloads)
            stale = database.drop_stale(self.options.server_url)
            if stale:
                log(f"Dropped databases left by killed bench runs: {', '.join(stale)}")
            versions = _versions(self.options, tools)
            machine = procs.machine()
            # The first server boots while the template migrates (see runner.start_server).
            first = self._start_server(workloads[0], tmp)
            self._prepare_template(tmp)
            for index, workload in enumerate(workloads):
                server = first if index == 0 else self._start_server(workload, tmp)
                outcome = run_workload(
                    workload, self.options, server=server, template=self.template,
                    db_name=self.db_name, tmp=tmp, tools=tools, created=self.created, log=log)
                self.outcomes.append(outcome)
                self._publish(outcome, machine, versions)
            ok = True
        except KeyboardInterrupt:
            log("Interrupted: stopping the server and dropping the bench databases.")
            return 130
        finally:
            # A second Ctrl-C must not cut the clean-up short.
            for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                signal.signal(signum, signal.SIG_IGN)
            self._cleanup()
            self._write_json(time.monotonic() - clock)
            if ok:
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                log(f"Logs of this run are kept in {tmp}")
        return 0 if self.options.smoke or all(o.passed for o in self.outcomes) else 1

    def _start_server(self, workload: Workload, tmp: Path) -> Gunicorn:
        server = start_server(workload, self.options, self.db_name, tmp)
        self.servers.append(server)
        return server

    def _prepare_template(self, tmp: Path) -> None:
        dump = None
        database.drop_legacy_caches(self.options.server_url)
        if self.options.template_cache:
            dump = database.template_dump_path(database.schema_fingerprint(REPO))
            if database.restore_template_dump(self.options.server_url, self.template, dump):
                self.created.append(self.template)
                log(f"Restored the migrated template from {dump} (saved by an earlier run "
                    "for these very migrations and packages; --no-template-cache migrates afresh)")
                return
        log(f"Creating and migrating {self.template}...")
        database.create(self.options.server_url, self.template)
        self.created.append(self.template)
        url = database.url_for(self.options.server_url, self.template)
        env = production_env(url, self.options, tmp, settings="creatornext.settings")
        database.migrate(sys.executable, env, REPO, tmp / "migrate.log")
        conn = database.connect(url)
        try:
            database.create_baseline_table(conn)
        finally:
            conn.close()
        if dump and database.save_template_dump(self.options.server_url, self.template, dump):
            log(f"Saved the migrated template as {dump} for the next runs")

    def _publish(self, outcome: Outcome, machine: dict[str, str], versions: dict[str, str]) -> None:
        text = report.markdown(outcome, self.options, machine, versions)
        print(text, flush=True)
        if self.results is not None:
            report.append(self.results, text)
            log(f"Appended to {self.results}")

    def _cleanup(self) -> None:
        for server in self.servers:
            server.stop()
        for name in reversed(self.created):
            try:
                database.drop(self.options.server_url, name)
            except Exception as exc:  # keep dropping the others; say what is left
                log(f"Could not drop database {name}: {exc}")

    def _write_json(self, elapsed: float) -> None:
        if self.json_path is None:
            return
        document = {
            "finished": dt.datetime.now(dt.UTC).isoformat(), "elapsed_s": elapsed,
            "harness_pid": os.getpid(), "databases": list(self.created),
            "workloads": [report.as_json(o) for o in self.outcomes],
        }
        self.json_path.write_text(json.dumps(document, indent=2))
