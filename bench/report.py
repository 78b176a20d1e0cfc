"""The report of a workload: a Markdown section, printed and appended to docs/benchmarks.md, and a
JSON document for tools (the CI smoke test reads it)."""

from __future__ import annotations

import dataclasses
import platform
from pathlib import Path
from typing import Any

from bench.registry import Summary
from bench.runner import Options, Outcome

RESULTS_HEADER = """# Benchmarks

Appended by `make bench` (`bench/README.md` explains how to run a workload and read these tables).
Every figure is a ratio against baselines measured by the same harness in the same run, on a shared,
noisy machine: compare ratios, not absolute figures. Newest last.
"""


def _n(value: float | None, digits: int = 0) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def _rate(summary: Summary) -> str:
    low, high = summary.rate_spread
    spread = (high - low) / 2 / summary.rate * 100 if summary.rate else 0.0
    if len(summary.runs) == 1:
        return f"{summary.rate:,.0f} {summary.unit}"
    return f"{summary.rate:,.0f} {summary.unit} ({low:,.0f}–{high:,.0f}, ±{spread:.1f}%)"


def _p95(summary: Summary) -> str:
    low, high = summary.p95_spread
    if len(summary.runs) == 1:
        return _n(summary.percentile_ms(95), 2)
    return f"{summary.percentile_ms(95):,.2f} ({low:,.2f}–{high:,.2f})"


def _errors(summary: Summary) -> str:
    if not summary.errors:
        return "0"
    return f"{summary.non2xx} non-2xx, {summary.socket_errors} socket"


def _rss(summary: Summary) -> str:
    if summary.server_rss_mb is None:
        return "—"
    return f"{summary.server_rss_mb:,.0f} ({_n(summary.worker_rss_mb)})"


def _server_command(argv: list[str]) -> str:
    """The command as run, with the free port the harness picked left out (it varies)."""
    shown = list(argv)
    if "--bind" in shown:
        shown[shown.index("--bind") + 1] = "127.0.0.1:<port>"
    return " ".join(shown)


def measurement_table(outcome: Outcome) -> list[str]:
    rows = ["| measurement | rate (min–max) | p50 ms | p95 ms (min–max) | p99 ms | errors "
            "| server RSS MB (largest worker) | CPU cores: server / DB / load tool / others |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, summary in outcome.figures.items():
        rows.append(
            f"| {name} | {_rate(summary)} | {_n(summary.percentile_ms(50), 2)} | {_p95(summary)} "
            f"| {_n(summary.percentile_ms(99), 2)} | {_errors(summary)} "
            f"| {_rss(summary)} | {_n(summary.server_cpu, 2)} / "
            f"{_n(summary.db_cpu, 2)} / {_n(summary.load_cpu, 2)} / {_n(summary.other_cpu, 2)} |")
    return rows


def ratio_table(outcome: Outcome) -> list[str]:
    """Every load against every baseline of the same unit (req/s against req/s)."""
    rows = []
    for load in outcome.loads:
        for baseline in outcome.baselines:
            a, b = outcome.figures[load], outcome.figures[baseline]
            if a.unit != b.unit:
                continue
            if a.latency_of != b.latency_of:  # a batch's latency is not a request's
                rows.append(f"| {load} ÷ {baseline} | {a.rate / b.rate:.2f} × | — | — |")
                continue
            rows.append(f"| {load} ÷ {baseline} | {a.rate / b.rate:.2f} × "
                        f"| {a.percentile_ms(95) / b.percentile_ms(95):.2f} × "
                        f"| {a.percentile_ms(99) / b.percentile_ms(99):.2f} × |")
    if not rows:
        return []
    return ["| ratio | rate | p95 | p99 |", "| --- | --- | --- | --- |", *rows]


def check_table(outcome: Outcome) -> list[str]:
    rows = ["| target | measured | result |", "| --- | --- | --- |"]
    for label, measured, ok in outcome.checks:
        verdict = "—" if ok is None else ("PASS" if ok else "FAIL")
        rows.append(f"| {label} | {measured} | {verdict} |")
    return rows


def verdict(outcome: Outcome, options: Options) -> str:
    result = "PASS" if outcome.passed else "FAIL"
    if options.smoke:
        return f"{result} (smoke run: 1-second rounds on a tiny data set; not a result)"
    if options.profile_dir:
        return f"{result} (profiled run: py-spy slows the server; not a result)"
    return result


def markdown(outcome: Outcome, options: Options, machine: dict[str, str],
             versions: dict[str, str]) -> str:
    workload = outcome.workload
    ran = outcome.options or options  # with the workload's own length and rounds
    when = outcome.started.strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"## {workload.name} — {when}",
        "",
        workload.description,
        "",
        f"- Machine: {machine['cores']} cores, {machine['memory_gib']} GiB, {machine['cpu']}, "
        f"Linux {machine['kernel']}; PostgreSQL {versions['postgresql']}; "
        f"Python {platform.python_version()}.",
        f"- Server: `{_server_command(outcome.server['argv'])}` (the Dockerfile's command), production "
        "settings (no CREATORNEXT_DEV), PostgreSQL + Redis.",
        f"- Load: {versions['wrk']}, {options.threads} thread(s), {options.connections} connections; "
        f"{ran.reps} round(s) × {ran.seconds} s per measurement, baselines interleaved; "
        "medians, spread = min–max.",
        *[f"- {note}" for note in outcome.notes],
    ]
    if workload.notes:
        lines.append(f"- {workload.notes}")
    lines += ["", *measurement_table(outcome), ""]
    ratios = ratio_table(outcome)
    if ratios:
        lines += [*ratios, ""]
    lines += [*check_table(outcome), ""]
    if outcome.ledger_check is not None and not outcome.ledger_clean:
        lines += ["`manage.py ledger_check` said:", "", "```", outcome.ledger_check[-3000:], "```", ""]
    lines += [f"**Result: {verdict(outcome, options)}** (workload took {outcome.elapsed:.0f} s)", ""]
    return "\n".join(lines)


def append(path: Path, text: str) -> None:
    if not path.exists() or not path.read_text().strip():
        path.write_text(RESULTS_HEADER)
    with path.open("a") as out:
        out.write("\n" + text)


def as_json(outcome: Outcome) -> dict[str, Any]:
    figures = {}
    for name, summary in outcome.figures.items():
        figures[name] = {
            "unit": summary.unit, "rate": summary.rate, "rate_min": summary.rate_spread[0],
            "rate_max": summary.rate_spread[1], "p50_ms": summary.percentile_ms(50),
            "p95_ms": summary.percentile_ms(95), "p99_ms": summary.percentile_ms(99),
            "errors": summary.errors, "non2xx": summary.non2xx,
            "socket_errors": summary.socket_errors, "server_rss_mb": summary.server_rss_mb,
            "worker_rss_mb": summary.worker_rss_mb,
            "server_cpu": summary.server_cpu, "db_cpu": summary.db_cpu,
            "load_cpu": summary.load_cpu, "other_cpu": summary.other_cpu,
            "runs": [dataclasses.asdict(r) for r in summary.runs],
        }
    return {
        "workload": outcome.workload.name, "passed": outcome.passed,
        "started": outcome.started.isoformat(), "elapsed_s": outcome.elapsed,
        "baselines": list(outcome.baselines), "loads": list(outcome.loads),
        "figures": figures,
        "checks": [{"label": label, "measured": measured, "ok": ok}
                   for label, measured, ok in outcome.checks],
        "server": outcome.server, "notes": outcome.notes, "ledger_check": outcome.ledger_check,
    }
