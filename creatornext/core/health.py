"""Health: is the database answering, is the broker reachable, are the worker and beat alive.

``/healthz`` answers 200 when the database and the broker work, 503 otherwise. It also reports
when a worker last ran a task sent by the web process and when beat last fired, and sends a new
web heartbeat task when the last one is older than the heartbeat interval (at most one per
interval across all web processes, through the shared cache), so a monitor that polls
``/healthz`` sees the whole chain web → broker → worker, and beat → broker → worker.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.utils import timezone

from creatornext.celery import app as celery_app
from creatornext.core.models import Heartbeat


def check_database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:
        return f"error: {exc.__class__.__name__}"
    return "ok"


def check_broker() -> str:
    try:
        with celery_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
    except Exception as exc:
        return f"error: {exc.__class__.__name__}"
    return "ok"


def heartbeat_report() -> dict[str, Any]:
    interval = timedelta(seconds=settings.HEARTBEAT_INTERVAL_SECONDS)
    now = timezone.now()
    report: dict[str, Any] = {}
    beats = {h.source: h for h in Heartbeat.objects.filter(source__in=["web", "beat"])}
    for source in ("web", "beat"):
        beat = beats.get(source)
        report[source] = {
            "last_seen": beat.last_seen.isoformat() if beat else None,
            "count": beat.count if beat else 0,
            # A beat fires every interval; more than three missed intervals means it is down.
            "fresh": bool(beat and now - beat.last_seen <= 3 * interval),
        }
    return report


def send_web_heartbeat_if_due() -> bool:
    from creatornext.core.tasks import record_heartbeat

    if not cache.add("healthz:web-heartbeat-sent", 1, timeout=settings.HEARTBEAT_INTERVAL_SECONDS):
        return False
    record_heartbeat.delay("web")
    return True


def health() -> tuple[bool, dict[str, Any]]:
    database = check_database()
    broker = check_broker()
    ok = database == "ok" and broker == "ok"
    body: dict[str, Any] = {"status": "ok" if ok else "error", "database": database,
                            "broker": broker}
    if database == "ok":
        body["heartbeats"] = heartbeat_report()
    if ok:
        send_web_heartbeat_if_due()
    return ok, body
