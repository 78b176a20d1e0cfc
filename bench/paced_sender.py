"""Load tool for a fixed rate: sends a request plan open-loop at RATE requests/s for SECONDS.

``python -m bench.paced_sender PLAN URL RATE SECONDS RESULT [KEY_PREFIX] [SEED]``

PLAN holds one request a line, ``KIND <TAB> METHOD <TAB> PATH <TAB> TOKEN <TAB> BODY`` (TOKEN and
BODY may be empty), replayed in order (round and round if the run outlasts it). Requests start at
Poisson arrival times (mean rate RATE, seeded), whatever the answers so far: a slow server gets
more requests in flight, as from real clients, instead of fewer (wrk's closed loop). Every request
that is not a GET carries an ``Idempotency-Key`` of its own (``KEY_PREFIX-<n>``; ``{key}`` in
BODY becomes it). When SECONDS are over nothing new starts, and every request in flight is
waited for (10 s at most, then it counts as a timeout), so each request sent has exactly one
outcome, and RESULT (JSON) lists, per KIND, the statuses, socket errors, latency percentiles and
the keys of the requests answered 2xx: what the caller reconciles with the database, exactly.

Why not wrk: wrk has no rate control, and its ``delay()`` hook waits with the connection already
open. gunicorn's sync workers serve one connection at a time and close it after each response,
so wrk reconnects at once and the worker that accepts such a connection sits blocked until wrk
decides to send: the server is busier than the rate says, and wrk's latency leaves that wait
out. This tool connects only when a request is due (``Connection: close``, one connection per
request, as gunicorn's sync workers serve it anyway). A request costs it about a tenth of a
millisecond of CPU (asyncio, no HTTP library); its CPU use is reported as the load tool's.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time
from collections import Counter
from urllib.parse import urlsplit

TIMEOUT = 10.0  # seconds: a slower answer counts as a socket error (timeout), as with wrk
MAX_IN_FLIGHT = 256  # beyond this, new requests wait (and their lag shows it)
SAMPLES = 5  # error answers kept per kind, for the report
WINDOWS = 10  # the run cut into this many equal windows: does latency drift as data accumulates?


def read_plan(path: str) -> list[tuple[str, str, str, str, str]]:
    plan = []
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            line = line.rstrip("\n")
            if line:
                kind, method, target, token, body = line.split("\t", 4)
                plan.append((kind, method, target, token, body))
    if not plan:
        raise SystemExit(f"{path}: empty plan")
    return plan


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(pct / 100 * len(ordered)))]


class Kind:
    def __init__(self) -> None:
        self.sent = 0
        self.statuses: Counter[int] = Counter()
        self.socket_errors: Counter[str] = Counter()
        self.latencies: list[float] = []
        self.ok_keys: list[str] = []
        self.samples: list[str] = []

    def summary(self) -> dict:
        return {"sent": self.sent, "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
                "socket_errors": dict(self.socket_errors),
                "p50_ms": percentile(self.latencies, 50), "p95_ms": percentile(self.latencies, 95),
                "p99_ms": percentile(self.latencies, 99), "ok_keys": self.ok_keys,
                "error_samples": self.samples}


def raw_request(host: str, method: str, target: str, token: str, body: str, key: str | None) -> bytes:
    headers = [f"{method} {target} HTTP/1.1", f"Host: {host}", "Connection: close"]
    if token:
        headers.append(f"Authorization: Token {token}")
    if key is not None:
        headers.append(f"Idempotency-Key: {key}")
        body = body.replace("{key}", key)
    data = body.encode()
    if data or method not in ("GET", "HEAD"):
        headers += ["Content-Type: application/json", f"Content-Length: {len(data)}"]
    return ("\r\n".join(headers) + "\r\n\r\n").encode() + data


async def exchange(host: str, port: int, raw: bytes) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(raw)
        await writer.drain()
        answer = await reader.read()  # until the server closes (Connection: close)
    finally:
        writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    parts = head.split(b" ", 2)
    if len(parts) < 2 or not parts[1].isdigit():
        raise ConnectionError(f"no HTTP answer ({len(answer)} bytes)")
    return int(parts[1]), body


async def run(plan: list[tuple[str, str, str, str, str]], url: str, rate: float, seconds: float,
              prefix: str, seed: int) -> dict:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    host_header = f"{host}:{port}"
    loop = asyncio.get_running_loop()
    rng = random.Random(seed)
    kinds: dict[str, Kind] = {}
    lags: list[float] = []
    timeline: list[tuple[float, float, bool]] = []  # (started, ms, ok) of every request answered
    slots = asyncio.Semaphore(MAX_IN_FLIGHT)
    in_flight: set[asyncio.Task] = set()

    async def send(kind: Kind, raw: bytes, key: str | None, due: float) -> None:
        started = loop.time()
        lags.append((started - due) * 1000)
        try:
            status, body = await asyncio.wait_for(exchange(host, port, raw), TIMEOUT)
        except TimeoutError:
            kind.socket_errors["timeout"] += 1
            timeline.append((started - start, TIMEOUT * 1000, False))
            return
        except (OSError, ConnectionError) as exc:
            kind.socket_errors[type(exc).__name__] += 1
            timeline.append((started - start, (loop.time() - started) * 1000, False))
            return
        finally:
            slots.release()
        kind.latencies.append((loop.time() - started) * 1000)
        kind.statuses[status] += 1
        timeline.append((started - start, kind.latencies[-1], 200 <= status < 300))
        if 200 <= status < 300:
            if key is not None:
                kind.ok_keys.append(key)
        elif len(kind.samples) < SAMPLES:
            kind.samples.append(f"{status}: {body[:300].decode(errors='replace')}")

    wall_start = time.time()
    start = due = loop.time()
    last_sent = start
    n = 0
    while True:
        due += rng.expovariate(rate)
        if due - start >= seconds:
            break
        wait = due - loop.time()
        if wait > 0:
            await asyncio.sleep(wait)
        await slots.acquire()
        name, method, target, token, body = plan[n % len(plan)]
        key = f"{prefix}-{n}" if method != "GET" else None
        n += 1
        kind = kinds.setdefault(name, Kind())
        kind.sent += 1
        last_sent = loop.time()
        task = asyncio.create_task(send(kind, raw_request(host_header, method, target, token, body, key), key,
                                        due))
        in_flight.add(task)
        task.add_done_callback(in_flight.discard)
    sending = max(last_sent - start, 1e-6)
    if in_flight:
        await asyncio.gather(*in_flight)
    everything = [lat for k in kinds.values() for lat in k.latencies]
    width = seconds / WINDOWS
    windows = []
    # A request due just before the end can start just after it (the loop's lag): it belongs to
    # the last window, not to none.
    window_of = [min(int(at // width), WINDOWS - 1) for at, _, _ in timeline]
    for w in range(WINDOWS):
        inside = [(ms, ok) for (_, ms, ok), at_w in zip(timeline, window_of, strict=True) if at_w == w]
        windows.append({"from_s": w * width, "answered": len(inside),
                        "errors": sum(1 for _, ok in inside if not ok),
                        "p50_ms": percentile([ms for ms, _ in inside], 50),
                        "p95_ms": percentile([ms for ms, _ in inside], 95)})
    return {
        "started": wall_start, "sending_seconds": sending, "drained_seconds": loop.time() - start,
        "rate_target": rate, "sent": n,
        "answered": sum(sum(k.statuses.values()) for k in kinds.values()),
        "non2xx": sum(v for k in kinds.values() for s, v in k.statuses.items() if not 200 <= s < 300),
        "socket_errors": sum(sum(k.socket_errors.values()) for k in kinds.values()),
        "p50_ms": percentile(everything, 50), "p95_ms": percentile(everything, 95),
        "p99_ms": percentile(everything, 99),
        "lag_p50_ms": percentile(lags, 50), "lag_p99_ms": percentile(lags, 99),
        "lag_max_ms": max(lags, default=0.0),
        "kinds": {name: k.summary() for name, k in kinds.items()}, "windows": windows,
    }


def main(argv: list[str]) -> int:
    if len(argv) not in (5, 6, 7):
        raise SystemExit(__doc__.splitlines()[2].strip())
    plan_path, url, rate, seconds, result_path = argv[:5]
    prefix = argv[5] if len(argv) > 5 else f"paced-{int(time.time())}"
    seed = int(argv[6]) if len(argv) > 6 else 1
    if float(rate) <= 0:
        raise SystemExit("RATE must be positive")
    result = asyncio.run(run(read_plan(plan_path), url, float(rate), float(seconds), prefix, seed))
    with open(result_path, "w", encoding="utf-8") as out:
        json.dump(result, out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
