"""HTTP measurements: wrk replays a request plan against the gunicorn the harness started.

wrk (Debian package, C + LuaJIT) is the load tool because it costs the least CPU per request on
this 2-core machine, where the load tool and the server share the cores; its CPU use is reported
beside every figure.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

from bench import procs
from bench.registry import Load, Request, RunStats

if TYPE_CHECKING:
    from bench.runner import Run

LUA = Path(__file__).resolve().parent / "lua" / "plan.lua"
RESULT = re.compile(r"^BENCH-RESULT (\{.*\})$", re.MULTILINE)
# A request slower than this counts as a socket error (wrk's default of 2 s would turn a slow,
# overloaded server into "errors" instead of latency).
TIMEOUT = "10s"


def slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-").lower()


def write_plan(path: Path, requests: list[Request] | tuple[Request, ...]) -> None:
    lines = []
    for r in requests:
        fields = (r.method, r.path, r.token, r.body)
        if any("\t" in f or "\n" in f for f in fields):
            raise ValueError(f"a plan field may not contain a tab or a newline: {r!r}")
        lines.append("\t".join(fields))
    path.write_text("\n".join(lines) + "\n")


class HttpMeasurement:
    def __init__(self, name: str, load: Load) -> None:
        if not load.requests:
            raise ValueError(f"{name}: the load has no requests")
        self.name = name
        self.load = load
        self.plan: Path | None = None
        self.rounds = 0

    def prepare(self, run: Run) -> None:
        self.plan = run.tmp / f"{slug(self.name)}.plan"
        write_plan(self.plan, list(self.load.requests))
        self._preflight(run)
        if run.options.warmup:
            self._wrk(run, run.options.warmup)

    def _preflight(self, run: Run) -> None:
        """One request by hand first: a misconfiguration (a 301 to HTTPS, a 400 on the host, a
        404) stops the run with the answer, instead of becoming a fast 'throughput'."""
        first = self.load.requests[0]
        key = f"preflight-{os.getpid()}-{slug(self.name)}"
        headers = {"Authorization": f"Token {first.token}"} if first.token else {}
        if self.load.unique_keys:
            headers["Idempotency-Key"] = key
        body = first.body.replace("{key}", key) if first.body else None
        if body:
            headers["Content-Type"] = "application/json"
        status, content = run.server.request(first.method, first.path, headers, body)
        if not 200 <= status < 300:
            raise RuntimeError(f"{self.name}: pre-flight {first.method} {first.path} answered "
                               f"{status}: {content[:500]!r}")

    def measure(self, run: Run, seconds: int) -> RunStats:
        meter = procs.CpuMeter({"server": run.server.pids(), "db": run.db_backend_pids()})
        result, finished = self._wrk(run, seconds)
        cpu = meter.stop(late={"db": run.db_backend_pids()})
        total_rss, worker_rss = run.server.rss_mb()
        return RunStats(
            requests=result["requests"],
            seconds=result["duration_us"] / 1e6,
            p50_ms=result["p50_us"] / 1000,
            p95_ms=result["p95_us"] / 1000,
            p99_ms=result["p99_us"] / 1000,
            non2xx=result["non2xx"],
            socket_errors=result["connect"] + result["read"] + result["write"] + result["timeout"],
            server_rss_mb=total_rss,
            server_worker_max_rss_mb=worker_rss,
            server_cpu=cpu["server"],
            db_cpu=cpu["db"],
            load_cpu=finished.cpu_cores,
            # Whatever else kept the cores busy (other people's jobs on a shared machine).
            other_cpu=max(0.0, cpu["machine"] - cpu["server"] - cpu["db"] - finished.cpu_cores),
            machine_cpu=cpu["machine"],
        )

    def _wrk(self, run: Run, seconds: int) -> tuple[dict, procs.Finished]:
        assert self.plan is not None, "prepare() first"
        self.rounds += 1
        run_id = f"{os.getpid():x}{slug(self.name)[:12]}{self.rounds}"
        connections = self.load.connections or run.options.connections
        threads = min(run.options.threads, connections)
        argv = [run.tools["wrk"], "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s",
                "--timeout", TIMEOUT, "-s", str(LUA), f"http://127.0.0.1:{run.server.port}/",
                "--", str(self.plan), run_id, "1" if self.load.unique_keys else "0"]
        out = run.tmp / f"wrk-{slug(self.name)}-{self.rounds}.out"
        finished = procs.run_measured(argv, out, timeout=seconds + 60)
        text = out.read_text(errors="replace")
        match = RESULT.search(text)
        if finished.returncode or not match:
            raise RuntimeError(f"wrk failed (exit {finished.returncode}) for {self.name}:\n{text[-2000:]}")
        return json.loads(match.group(1)), finished
