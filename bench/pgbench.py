"""B-pg: pgbench's built-in TPC-B-like script on the same PostgreSQL server, in the bench database.

It bounds what any write path of ours can reach here: every transaction waits for its commit to
be flushed, as ours do. Latency percentiles come from pgbench's per-transaction log.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from bench import procs
from bench.registry import RunStats

if TYPE_CHECKING:
    from bench.runner import Run

# 10 branches, so 16 clients contend a little as real hot rows do, not on a single row.
SCALE = 10
SMOKE_SCALE = 1
CLIENTS = 16
THREADS = 2


def _percentile(sorted_values: list[int], pct: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, max(0, round(pct / 100 * len(sorted_values)) - 1))
    return float(sorted_values[index])


class PgbenchMeasurement:
    def __init__(self, name: str = "B-pg") -> None:
        self.name = name
        self.rounds = 0

    def prepare(self, run: Run) -> None:
        scale = SMOKE_SCALE if run.options.smoke else SCALE
        # G: generate the rows inside the server (fastest); the tables live in the bench
        # database and go with it.
        argv = [run.tools["pgbench"], "-i", "-q", "-s", str(scale), "-I", "dtGvp", run.db_url]
        finished = procs.run_measured(argv, run.tmp / "pgbench-init.out")
        if finished.returncode:
            raise RuntimeError("pgbench -i failed:\n" + (run.tmp / "pgbench-init.out").read_text())

    def measure(self, run: Run, seconds: int) -> RunStats:
        self.rounds += 1
        prefix = run.tmp / f"pgbench-log-{self.rounds}"
        out = run.tmp / f"pgbench-{self.rounds}.out"
        argv = [run.tools["pgbench"], "-n", "-c", str(CLIENTS), "-j", str(THREADS),
                "-T", str(seconds), "--log", f"--log-prefix={prefix}", run.db_url]
        meter = procs.CpuMeter({})
        finished = procs.run_measured(argv, out, timeout=seconds + 60)
        machine = meter.stop()["machine"]
        text = out.read_text(errors="replace")
        tps = re.search(r"^tps = ([\d.]+)", text, re.MULTILINE)
        processed = re.search(r"number of transactions actually processed: (\d+)", text)
        failed = re.search(r"number of failed transactions: (\d+)", text)
        if finished.returncode or not tps or not processed:
            raise RuntimeError(f"pgbench failed (exit {finished.returncode}):\n{text[-2000:]}")
        latencies = self._latencies_us(prefix)
        count = int(processed.group(1))
        return RunStats(
            requests=count,
            # So that rate == pgbench's tps (which leaves out the connection set-up time).
            seconds=count / float(tps.group(1)),
            p50_ms=_percentile(latencies, 50) / 1000,
            p95_ms=_percentile(latencies, 95) / 1000,
            p99_ms=_percentile(latencies, 99) / 1000,
            non2xx=int(failed.group(1)) if failed else 0,
            load_cpu=finished.cpu_cores,
            # pgbench's backends come and go with it, so their CPU is not told apart from other
            # jobs': only the machine's total is known.
            machine_cpu=machine,
            unit="tx/s",
        )

    @staticmethod
    def _latencies_us(prefix: Path) -> list[int]:
        """Column 3 of each log line is the transaction's latency in microseconds."""
        values = []
        for log in prefix.parent.glob(prefix.name + ".*"):
            for line in log.read_text().splitlines():
                fields = line.split()
                if len(fields) >= 3:
                    values.append(int(fields[2]))
            log.unlink()
        values.sort()
        return values
