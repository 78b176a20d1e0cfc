"""Pieces of the harness that the smoke run does not reach, tested in milliseconds (no database).

- The events ``tip-webhooks`` builds and signs are accepted by the app's own verification, and
  carry the fee where the app reads it (so no provider call is needed).
- The migrated-template cache is keyed by everything migrations depend on, and nothing else.
- The paced sender (the soak's load tool) sends each request once, with a key of its own, and
  reports every outcome; a workload's own length and rounds give way to the command line's.
- CPU of a process that began during a round (a replaced database backend) counts for its group.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from bench import paced_sender
from bench.cli import build_options, parse
from bench.database import schema_fingerprint
from bench.registry import Workload
from bench.webhook_sender import sign
from bench.workloads.tip_webhooks import SECRET, event
from creatornext.payments import webhooks


def test_bench_events_are_verified_by_the_app_and_carry_the_fee(settings):
    settings.STRIPE_WEBHOOK_SECRETS = ["whsec_old_one", SECRET]
    payload = event(42, 1_000, 59).encode()

    verified = webhooks.verify(payload, sign(payload, SECRET))

    assert verified is not None and verified["type"] == "payment_intent.succeeded"
    obj = verified["data"]["object"]
    assert obj["metadata"]["payment_id"] == "42"
    assert webhooks._fee(obj["latest_charge"]) == 59
    # and what the provider would refuse, the app refuses too
    assert webhooks.verify(payload, sign(payload, "whsec_wrong")) is None
    assert webhooks.verify(payload + b" ", sign(payload, SECRET)) is None
    assert json.loads(payload)["id"] == "evt_bench_42"


def test_template_cache_key_follows_migrations_and_what_they_import(tmp_path: Path):
    app = tmp_path / "shop"
    (app / "migrations").mkdir(parents=True)
    (app / "__init__.py").write_text("")
    (app / "migrations" / "__init__.py").write_text("")
    (app / "seeding.py").write_text("ROWS = 1\n")
    (app / "views.py").write_text("X = 1\n")
    (app / "migrations" / "0001_initial.py").write_text("from shop.seeding import ROWS\n")
    first = schema_fingerprint(tmp_path)

    (app / "views.py").write_text("X = 2\n")  # not a migration's concern
    assert schema_fingerprint(tmp_path) == first

    (app / "seeding.py").write_text("ROWS = 2\n")  # a data migration's input
    second = schema_fingerprint(tmp_path)
    assert second != first

    (app / "migrations" / "0002_more.py").write_text("")
    assert schema_fingerprint(tmp_path) not in (first, second)


def test_paced_sender_sends_each_request_once_and_reports_every_outcome():
    seen: list[tuple[str, str, str | None, bytes]] = []

    class Handler(BaseHTTPRequestHandler):  # HTTP/1.0: one request a connection, like gunicorn's sync worker
        def _answer(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            seen.append((self.command, self.path, self.headers.get("Idempotency-Key"), body))
            self.send_response(500 if self.path == "/fail" else (201 if self.command == "POST" else 200))
            self.end_headers()
            self.wfile.write(b'{"ok": true}')

        do_GET = do_POST = _answer

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    plan = [("read", "GET", "/r", "", ""), ("write", "POST", "/w", "tok", '{"ref": "{key}"}'),
            ("broken", "GET", "/fail", "", "")]
    try:
        # In a thread of its own: the browser suite's Playwright keeps an event loop running in
        # this one (asyncio.run refuses to nest), as the harness runs the sender in its own process.
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            result = pool.submit(asyncio.run, paced_sender.run(
                plan, f"http://127.0.0.1:{server.server_port}/", 300, 0.5, "t", 7)).result(timeout=60)
    finally:
        server.shutdown()
        server.server_close()

    kinds = result["kinds"]
    assert result["sent"] == result["answered"] == len(seen) == sum(k["sent"] for k in kinds.values())
    assert 90 <= result["sent"] <= 210  # 300/s for 0.5 s, Poisson arrivals
    assert kinds["read"]["statuses"] == {"200": kinds["read"]["sent"]} and kinds["read"]["ok_keys"] == []
    assert result["non2xx"] == kinds["broken"]["sent"] and kinds["broken"]["error_samples"]
    posted = [(key, body) for method, _, key, body in seen if method == "POST"]
    keys = [key for key, _ in posted]
    assert len(set(keys)) == len(keys) == kinds["write"]["sent"]
    assert sorted(kinds["write"]["ok_keys"]) == sorted(keys)
    assert all(json.loads(body) == {"ref": key} for key, body in posted)
    assert sum(w["answered"] for w in result["windows"]) == result["answered"]


def test_a_workloads_own_length_gives_way_to_the_command_line():
    soak_like = Workload(name="w", description="", setup=lambda ctx: None, seconds=600, reps=1)
    plain = Workload(name="p", description="", setup=lambda ctx: None)

    assert (build_options(parse([])).for_workload(soak_like).seconds,
            build_options(parse([])).for_workload(soak_like).reps) == (600, 1)
    assert build_options(parse(["--seconds", "20"])).for_workload(soak_like).seconds == 20
    assert build_options(parse(["--reps", "2"])).for_workload(soak_like).reps == 2
    assert build_options(parse([])).for_workload(plain).seconds == 10
    smoke = build_options(parse(["--smoke"])).for_workload(soak_like)
    assert (smoke.seconds, smoke.reps) == (1, 1)


def test_a_process_that_starts_during_a_round_has_its_cpu_counted_in_its_group():
    # A database backend replaced mid-round (CONN_MAX_AGE ran out) must not be reported as
    # another job's CPU: given as ``late``, all of its CPU counts for its group.
    import subprocess
    import sys

    from bench import procs

    meter = procs.CpuMeter({"db": []})
    busy = subprocess.Popen([sys.executable, "-c", "import time\nt = time.process_time()\n"
                             "while time.process_time() - t < 0.3: pass\ninput()"],
                            stdin=subprocess.PIPE)
    try:
        while procs.cpu_seconds(busy.pid) < 0.3:
            pass
        without = meter.stop()
        with_late = meter.stop(late={"db": [busy.pid]})
    finally:
        busy.communicate(b"\n", timeout=10)
    assert without["db"] == 0.0
    assert with_late["db"] > 0  # the late process's ≥ 0.3 s of CPU over the round's wall time
