"""`make run` itself, on the embedded default: start it, use it, stop it (issue: Foundation).

A real process tree (make → runplatform → gunicorn, Celery worker, Celery beat) on SQLite and the
filesystem broker, in a temporary data folder. Proves the web process's task reaches the worker
and beat's schedule fires, through /healthz's heartbeats.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
import yaml
from drf_spectacular.validation import validate_schema

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.smoke


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, timeout: float = 5) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def _wait_for(predicate, timeout: float, what: str, log: Path):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
            if last:
                return last
        except OSError as exc:
            last = exc
        time.sleep(0.5)
    pytest.fail(f"Timed out waiting for {what} (last: {last!r}). make run printed:\n"
                + log.read_text()[-4000:])


def _assert_the_ledger_is_append_only(path: Path) -> None:
    """The embedded database refuses to rewrite ledger history, as PostgreSQL does (SQLite drops a
    table's triggers when a migration rebuilds it: ledger migration 0006 puts them back)."""
    db = sqlite3.connect(path, timeout=30, isolation_level=None)
    try:
        db.execute("BEGIN IMMEDIATE")
        txn = db.execute("INSERT INTO ledger_transaction (key, kind, ref, memo, metadata, created_at) "
                         "VALUES ('smoke:append-only', 'smoke', '', '', '{}', '2026-01-01') RETURNING id").fetchone()[0]
        account = db.execute("INSERT INTO ledger_account (owner_id, kind, asset, balance, rule, lock_rank, "
                             "created_at) VALUES (NULL, 'adjustments', 'XTS', NULL, 'any', 0, '2026-01-01') "
                             "RETURNING id").fetchone()[0]
        db.execute("INSERT INTO ledger_entry (transaction_id, account_id, asset, owner_id, amount, created_at) "
                   "VALUES (?, ?, 'XTS', NULL, 1, '2026-01-01')", [txn, account])
        for statement in ("UPDATE ledger_transaction SET memo = 'rewritten' WHERE id = ?",
                          "DELETE FROM ledger_transaction WHERE id = ?",
                          "UPDATE ledger_entry SET amount = 2 WHERE transaction_id = ?",
                          "DELETE FROM ledger_entry WHERE transaction_id = ?"):
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                db.execute(statement, [txn])
        assert db.execute("SELECT memo FROM ledger_transaction WHERE id = ?", [txn]).fetchone() == ("",)
        assert db.execute("SELECT amount FROM ledger_entry WHERE transaction_id = ?", [txn]).fetchall() == [(1,)]
    finally:
        db.execute("ROLLBACK")  # the probe rows go too
        db.close()


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def test_make_run_serves_the_platform_and_runs_worker_and_beat(tmp_path):
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items()
           if k not in {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "CREATORNEXT_DEV",
                        "MAKEFLAGS", "MAKELEVEL", "MFLAGS"}}
    stripe_port = _free_port()
    env.update(PORT=str(port), CREATORNEXT_VAR_DIR=str(tmp_path / "var"),
               HEARTBEAT_INTERVAL_SECONDS="2", STRIPE_API_BASE=f"http://127.0.0.1:{stripe_port}")
    log = tmp_path / "make-run.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(["make", "--no-print-directory", "run"], cwd=REPO, env=env,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        # The platform comes up on the embedded default
        _wait_for(lambda: _get(f"{base}/healthz")[0] == 200, 240, "/healthz", log)
        status, body = _get(f"{base}/healthz")
        health = json.loads(body)
        assert health["database"] == "ok" and health["broker"] == "ok"
        printed = log.read_text()
        assert f"running at http://127.0.0.1:{port}/" in printed
        assert "Database: sqlite3" in printed and "embedded filesystem" in printed
        assert re.search(r"staff\s+demo_staff / \S+", printed), printed[-2000:]
        assert (tmp_path / "var" / "db.sqlite3").exists()
        _assert_the_ledger_is_append_only(tmp_path / "var" / "db.sqlite3")

        # Payments in test mode: the local fake Stripe is up, on loopback, with its Stripe.js stand-in
        assert f"local fake at http://127.0.0.1:{stripe_port}" in printed
        assert _get(f"http://127.0.0.1:{stripe_port}/js.stripe.com/v3/")[0] == 200

        # Pages, schema and docs
        status, html = _get(f"{base}/")
        assert status == 200 and b"Creator Next" in html
        status, raw = _get(f"{base}/api/schema/")
        assert status == 200
        document = yaml.safe_load(raw)
        assert document["openapi"].startswith("3.")
        validate_schema(document)
        status, docs = _get(f"{base}/api/docs/")
        assert status == 200
        assets = re.findall(rb'(?:src|href)="([^"]+)"', docs)
        assert assets, "Swagger UI page references no assets"
        assert all(a.startswith((b"/static/", b"/api/")) for a in assets), assets
        for asset in (a.decode() for a in assets if a.startswith(b"/static/")):
            assert _get(base + asset)[0] == 200, asset

        # A task sent by the web process runs on the worker; beat's schedule fires
        def heartbeats():
            report = json.loads(_get(f"{base}/healthz")[1])["heartbeats"]
            return report if report["web"]["count"] >= 1 and report["beat"]["count"] >= 2 else None

        report = _wait_for(heartbeats, 90, "worker and beat heartbeats", log)
        assert report["web"]["fresh"] and report["beat"]["fresh"]
    finally:
        pgid = os.getpgid(proc.pid)
        os.killpg(pgid, signal.SIGTERM)
        try:
            proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            os.killpg(pgid, signal.SIGKILL)
            raise
        deadline = time.monotonic() + 20
        while _group_alive(pgid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not _group_alive(pgid), "make run left processes behind"
