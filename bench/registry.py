"""The one place workloads are registered, and the words they are written in.

A workload is a function decorated with ``@workload(...)``. It loads its data into the fresh
database (``ctx``) and returns what to measure: a ``Load`` (HTTP requests that wrk replays), or a
dict of named loads, or any object with the ``Measurement`` shape for things that are not HTTP
requests. The harness measures those next to the baselines the workload names, evaluates its
``checks`` and writes the report. Modules in ``bench/workloads/`` are imported automatically.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, TypeAlias

if TYPE_CHECKING:
    from bench.runner import Context, Run


# --- What gets measured --------------------------------------------------------------------------

@dataclass(frozen=True)
class Request:
    """One HTTP request of a plan. ``token`` is a DRF token (sent as ``Authorization: Token``);
    ``{key}`` in ``body`` is replaced by a value unique to each request sent."""

    method: str
    path: str
    token: str = ""
    body: str = ""


@dataclass(frozen=True)
class Load:
    """HTTP requests that wrk replays in order, round and round, from ``connections`` sockets.

    ``requests`` is the plan: make it long enough (``ctx.plan_size``) and draw it with the skew
    real traffic has. ``unique_keys`` adds an ``Idempotency-Key`` header unique to every request.
    """

    requests: Sequence[Request]
    unique_keys: bool = False
    connections: int | None = None  # None: the run's --connections


@dataclass
class RunStats:
    """The figures of one measured run (one repetition of one measurement)."""

    requests: int
    seconds: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    non2xx: int = 0
    socket_errors: int = 0
    server_rss_mb: float | None = None
    server_worker_max_rss_mb: float | None = None
    server_cpu: float | None = None  # cores busy (CPU seconds / wall seconds)
    db_cpu: float | None = None  # the PostgreSQL backends serving the server's connections
    load_cpu: float | None = None
    other_cpu: float | None = None  # the rest of the machine: not ours, noise
    machine_cpu: float | None = None  # all cores together
    unit: str = "req/s"
    # What one latency sample is ("request", or e.g. "batch of 200 postings"): latency ratios are
    # only shown between measurements whose samples are the same kind of thing.
    latency_of: str = "request"
    # Figures a workload's own checks read (e.g. {"credited": 10000}): see ``Summary.per_round``.
    extra: dict[str, float] = field(default_factory=dict)
    # Lines for the report that only the run itself can tell (e.g. what the server logged).
    notes: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


class Measurement(Protocol):
    """Anything the harness can measure repeatedly. ``Load`` is wrapped in the HTTP one."""

    name: str

    def prepare(self, run: Run) -> None: ...

    def measure(self, run: Run, seconds: int) -> RunStats: ...


WorkloadResult: TypeAlias = Load | Measurement | Mapping[str, Load | Measurement]


# --- Summaries and checks ------------------------------------------------------------------------

@dataclass
class Summary:
    """One measurement over all repetitions: medians, with the spread (min–max) of rate and p95."""

    name: str
    runs: list[RunStats]

    def _median(self, attr: str) -> float | None:
        values = [getattr(r, attr) for r in self.runs if getattr(r, attr) is not None]
        return statistics.median(values) if values else None

    @property
    def unit(self) -> str:
        return self.runs[0].unit

    @property
    def latency_of(self) -> str:
        return self.runs[0].latency_of

    def per_round(self, key: str) -> list[float]:
        """One workload-specific figure, per round (absent in a round: left out)."""
        return [r.extra[key] for r in self.runs if key in r.extra]

    @property
    def rate(self) -> float:
        return statistics.median(r.rate for r in self.runs)

    @property
    def rate_spread(self) -> tuple[float, float]:
        rates = [r.rate for r in self.runs]
        return min(rates), max(rates)

    @property
    def p95_spread(self) -> tuple[float, float]:
        values = [r.p95_ms for r in self.runs]
        return min(values), max(values)

    def percentile_ms(self, pct: int) -> float:
        value = self._median(f"p{pct}_ms")
        assert value is not None
        return value

    @property
    def errors(self) -> int:
        return sum(r.non2xx + r.socket_errors for r in self.runs)

    @property
    def non2xx(self) -> int:
        return sum(r.non2xx for r in self.runs)

    @property
    def socket_errors(self) -> int:
        return sum(r.socket_errors for r in self.runs)

    @property
    def server_rss_mb(self) -> float | None:
        values = [r.server_rss_mb for r in self.runs if r.server_rss_mb is not None]
        return max(values) if values else None

    @property
    def worker_rss_mb(self) -> float | None:
        values = [r.server_worker_max_rss_mb for r in self.runs
                  if r.server_worker_max_rss_mb is not None]
        return max(values) if values else None

    @property
    def server_cpu(self) -> float | None:
        return self._median("server_cpu")

    @property
    def db_cpu(self) -> float | None:
        return self._median("db_cpu")

    @property
    def load_cpu(self) -> float | None:
        return self._median("load_cpu")

    @property
    def other_cpu(self) -> float | None:
        return self._median("other_cpu")


Figures = Mapping[str, Summary]


@dataclass(frozen=True)
class Check:
    """One line of a target. ``evaluate`` returns what was measured (text) and True/False, or
    None for a figure that is reported but not judged."""

    label: str
    evaluate: Callable[[Figures], tuple[str, bool | None]]


def latency_ratio_at_most(load: str, baseline: str, factor: float, percentile: int = 95) -> Check:
    def evaluate(figures: Figures) -> tuple[str, bool | None]:
        below = figures[baseline].percentile_ms(percentile)
        if not below:  # nothing measured (a 1-second smoke round can end before any answer)
            return "no data", False
        ratio = figures[load].percentile_ms(percentile) / below
        return f"{ratio:.2f} ×", ratio <= factor

    return Check(f"{load} p{percentile} ≤ {factor:g} × {baseline} p{percentile}", evaluate)


def rate_ratio_at_least(load: str, baseline: str, factor: float) -> Check:
    def evaluate(figures: Figures) -> tuple[str, bool | None]:
        if not figures[baseline].rate:  # nothing measured (a 1-second smoke round)
            return "no data", False
        ratio = figures[load].rate / figures[baseline].rate
        return f"{ratio:.2f} ×", ratio >= factor

    return Check(f"{load} rate ≥ {factor:g} × {baseline} rate", evaluate)


def rate_ratio_reported(load: str, baseline: str) -> Check:
    def evaluate(figures: Figures) -> tuple[str, bool | None]:
        if not figures[baseline].rate:
            return "no data", None
        return f"{figures[load].rate / figures[baseline].rate:.2f} ×", None

    return Check(f"{load} rate ÷ {baseline} rate (reported)", evaluate)


def no_errors(*names: str) -> Check:
    """No non-2xx answer and no socket error in any repetition of these measurements."""

    def evaluate(figures: Figures) -> tuple[str, bool | None]:
        total = sum(figures[name].errors for name in names)
        return str(total), total == 0

    return Check(f"0 errors ({', '.join(names)})", evaluate)


# --- The registry --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Workload:
    name: str
    description: str
    setup: Callable[[Context], WorkloadResult]
    baselines: tuple[str, ...] = ()
    checks: tuple[Check, ...] = ()
    scale: int = 0  # rows of the main table at full size (ctx.scale); --scale overrides it
    smoke_scale: int = 0
    ledger_check: bool = False  # money workloads: run `manage.py ledger_check` afterwards
    needs_static: bool = False  # pages: run collectstatic as the production image does
    notes: str = ""  # a line for the report
    # Extra environment for the server (and the harness's Django children: Celery worker, service
    # drivers, ledger_check), e.g. the webhook secret the bench signs events with. A callable is
    # called each time the workload's server starts (e.g. to pick a free port for a stand-in that
    # the workload's ``prepare`` starts and finds again in ``run.env``).
    server_env: Mapping[str, str] | Callable[[], Mapping[str, str]] | None = None
    # Length of a measured run and number of rounds when the command line gives no --seconds /
    # --reps (and not in --smoke): the harness's 3 × 10 s otherwise (the soak runs 1 × 600 s).
    seconds: int | None = None
    reps: int | None = None


WORKLOADS: dict[str, Workload] = {}


def workload(name: str, description: str, *, baselines: Sequence[str] = (),
             checks: Sequence[Check] = (), scale: int = 0, smoke_scale: int | None = None,
             ledger_check: bool = False, needs_static: bool = False,
             notes: str = "",
             server_env: Mapping[str, str] | Callable[[], Mapping[str, str]] | None = None,
             seconds: int | None = None, reps: int | None = None,
             ) -> Callable[[Callable[[Context], WorkloadResult]], Callable[[Context], WorkloadResult]]:
    """Register ``setup`` as the workload ``name`` (see the module docstring and README)."""

    def register(setup: Callable[[Context], WorkloadResult]) -> Callable[[Context], WorkloadResult]:
        if name in WORKLOADS:
            raise ValueError(f"workload {name!r} is registered twice")
        WORKLOADS[name] = Workload(
            name=name, description=description, setup=setup, baselines=tuple(baselines),
            checks=tuple(checks), scale=scale,
            smoke_scale=scale if smoke_scale is None else smoke_scale,
            ledger_check=ledger_check, needs_static=needs_static, notes=notes,
            server_env=server_env if callable(server_env) else dict(server_env or {}),
            seconds=seconds, reps=reps)
        return setup

    return register
