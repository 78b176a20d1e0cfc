"""Start the whole platform in the foreground: web (gunicorn), Celery worker and Celery beat.

``make run`` calls this after migrating and seeding. It prints where to go and how to log in,
then supervises the processes: if one dies the others are stopped and the command fails, and
Ctrl-C (or SIGTERM) stops them all cleanly. Storage follows the settings: the embedded default
(SQLite + filesystem broker) or PostgreSQL + Redis when DATABASE_URL / REDIS_URL are set.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


@dataclass
class Service:
    name: str
    argv: list[str]
    process: subprocess.Popen | None = None


class Command(BaseCommand):
    help = "Run web + Celery worker + beat together (what `make run` starts)."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument("--web-workers", type=int,
                            default=int(os.environ.get("WEB_CONCURRENCY", "2")))
        parser.add_argument("--worker-concurrency", type=int,
                            default=int(os.environ.get("CELERY_CONCURRENCY", "2")))

    def handle(self, *args, host: str, port: int, web_workers: int, worker_concurrency: int,
               **options):
        bindir = os.path.dirname(sys.executable)
        services = [
            Service("web", [os.path.join(bindir, "gunicorn"), "creatornext.wsgi:application",
                            "--bind", f"{host}:{port}", "--workers", str(web_workers),
                            "--access-logfile", "-", "--graceful-timeout", "10"]),
            Service("worker", [os.path.join(bindir, "celery"), "-A", "creatornext", "worker",
                               "--loglevel", "INFO", "--concurrency", str(worker_concurrency),
                               "--hostname", f"worker-{port}@%h"]),
            # An empty --pidfile keeps beat from writing celerybeat.pid into the work tree.
            Service("beat", [os.path.join(bindir, "celery"), "-A", "creatornext", "beat",
                             "--loglevel", "INFO", "--pidfile="]),
        ]
        if settings.STRIPE_FAKE:
            # Test-mode payments against the local fake Stripe, which posts its webhooks to us.
            fake_port = urlsplit(settings.STRIPE_API_BASE).port or 8420
            services.insert(0, Service("stripe", [
                sys.executable, "-m", "creatornext.payments.fake_stripe", "--port", str(fake_port),
                "--webhook-url", f"http://{host}:{port}/webhooks/stripe/",
                "--webhook-secret", settings.STRIPE_WEBHOOK_SECRETS[0],
                # Connect stand-in accounts and transfers survive a restart (payout accounts point at them)
                "--connect-state", str(settings.VAR_DIR / "connect_fake.json")]))
        stopping = False

        def stop(signum, frame):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)

        for service in services:
            service.process = subprocess.Popen(service.argv)
        self._banner(host, port)

        failed: Service | None = None
        while not stopping and failed is None:
            time.sleep(0.5)
            failed = next((s for s in services if s.process and s.process.poll() is not None),
                          None)
        self._stop_all(services)
        if failed is not None and failed.process is not None and not stopping:
            raise CommandError(f"{failed.name} exited with code {failed.process.returncode}; "
                               "stopped the other services.")
        self.stdout.write("Creator Next stopped.")

    def _banner(self, host: str, port: int) -> None:
        database = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
        broker = "Redis" if settings.CELERY_BROKER_URL.startswith("redis") else "embedded filesystem"
        lines = [
            "",
            "=" * 64,
            f"  Creator Next is running at http://{host}:{port}/",
            f"  API docs: http://{host}:{port}/api/docs/   health: http://{host}:{port}/healthz",
            f"  Database: {database}   Celery broker: {broker}",
            "  Payments: " + (f"Stripe test mode against the local fake at {settings.STRIPE_API_BASE}"
                              " (card pm_card_visa; 3-D Secure 4000002500003155)"
                              if settings.STRIPE_FAKE else f"Stripe at {settings.STRIPE_API_BASE}"),
        ]
        lines += self._demo_logins()
        lines += ["  Press Ctrl-C to stop web, worker and beat.", "=" * 64, ""]
        self.stdout.write("\n".join(lines))
        self.stdout.flush()

    def _demo_logins(self) -> list[str]:
        try:
            from creatornext.accounts.demo import DEMO_STAFF_TOTP_BASE32, DEMO_USERS
        except ImportError:
            return []
        out = ["  Demo logins (username / password):"]
        out += [f"    {u.role:<8} {u.username} / {u.password}" for u in DEMO_USERS]
        out += [f"  Admin two-factor: add the TOTP secret {DEMO_STAFF_TOTP_BASE32} to an authenticator app,",
                "    or print the current code with `python manage.py demo_totp`."]
        return out

    def _stop_all(self, services: list[Service]) -> None:
        for service in services:
            if service.process and service.process.poll() is None:
                service.process.terminate()
        deadline = time.monotonic() + 15
        for service in services:
            if not service.process:
                continue
            try:
                service.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                service.process.kill()
                service.process.wait()
