"""Shared fixtures. The suite runs against PostgreSQL and Redis (see `make test`)."""

from __future__ import annotations

import contextlib
import os
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.conf import settings
from django.db import connection

from creatornext.celery import app as celery_app
from creatornext.ledger.checks import ledger_check
from creatornext.ledger.models import Account
from tests.support import state
from tests.support.stripe import free_port, start_fake_stripe

CONFIGURED_REDIS_URL = settings.REDIS_URL  # before the line below gives an xdist worker its own


def _own_redis_database() -> None:
    """Each pytest-xdist worker (`make test` runs two) gets a Redis database of its own, as
    pytest-django gives it a PostgreSQL database of its own (the worker's name added to the test
    database's): tests clear the cache (FLUSHDB) and R7's Celery worker takes tasks from there.
    Worker n uses the configured database number minus n (make test: 15, 14), never one a running
    platform uses by default (0). Runs when this module is imported: pytest-django has read the
    settings, nothing has opened the cache or the broker yet."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not worker.startswith("gw") or not settings.REDIS_URL:
        return
    n = int(worker[2:])
    parts = urlsplit(CONFIGURED_REDIS_URL)
    base = int(parts.path.strip("/") or 0)
    url = urlunsplit(parts._replace(path=f"/{base - n if base >= n else base + n}"))
    settings.REDIS_URL = settings.CELERY_BROKER_URL = url
    settings.CACHES = {**settings.CACHES, "default": {**settings.CACHES["default"], "LOCATION": url}}
    os.environ["REDIS_URL"] = url  # what the processes tests start read


_own_redis_database()

# Every refused action must also leave every ledger balance as it was.
state.register_probe("ledger_balances", lambda: dict(
    Account.objects.exclude(balance=None).order_by("pk").values_list("pk", "balance")))


@pytest.fixture(scope="session", autouse=True)
def _production_services(django_db_setup, django_db_blocker):
    """The suite proves behaviour on the production database; SQLite would hide locking bugs."""
    with django_db_blocker.unblock():
        vendor = connection.vendor
    if vendor != "postgresql":
        pytest.exit(f"The test suite needs PostgreSQL (DATABASE_URL); got {vendor}. Run `make test`.",
                    returncode=2)
    if not settings.REDIS_URL:
        pytest.exit("The test suite needs Redis (REDIS_URL). Run `make test`.", returncode=2)


@pytest.fixture(scope="session", autouse=True)
def _bench_template_cache(_production_services):
    """The bench smoke (tests/bench) starts from a migrated template, kept between runs as a dump
    (bench/database.py). On a machine without one, the suite's own database — just migrated, no
    test has run yet — is that schema: dumping it costs ~1 s here, migrating again cost the smoke
    ~4 s of its ten."""
    import os
    from pathlib import Path

    from bench import database

    path = database.template_dump_path(database.schema_fingerprint(Path(__file__).resolve().parents[1]))
    if path.exists():
        return
    name = settings.DATABASES["default"]["TEST"]["NAME"]  # the suite's database (creatornext/settings.py)
    # (pytest-django creates it only when some collected test uses the database: otherwise
    # pg_dump finds nothing, and the harness migrates its own as before.)
    database.save_template_dump(database.url_for(os.environ["DATABASE_URL"], "postgres"), name, path,
                                add_baseline_table=True)


@pytest.fixture(autouse=True)
def _celery_eager():
    """Tasks run in-process in unit tests; the real worker is proven by the `make run` smoke."""
    previous = celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates
    celery_app.conf.task_always_eager = True
    celery_app.conf.task_eager_propagates = True
    yield
    celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = previous


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # PBKDF2 costs ~0.3 s a user; the hasher itself is not under test here.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _abuse_limits_off(settings):
    # Tests send many requests as one caller; tests/creatornext/test_abuse_limits.py switches them on.
    settings.RATE_LIMITS_ENABLED = False


@pytest.fixture(autouse=True)
def _clean_cache():
    from django.core.cache import cache

    from creatornext.ledger.services import clear_account_cache

    cache.clear()
    yield
    cache.clear()
    clear_account_cache()  # platform accounts remembered by id: the test's rows are gone


@pytest.fixture
def client():
    """pytest-django's client, whose force_login also passes staff two-factor (tests/support/otp.py)."""
    from tests.support.otp import OtpClient

    return OtpClient()


@pytest.fixture
def queued(monkeypatch):
    """Webhook drains the code queues are recorded, not run (Celery's publish replaced by a list):
    the test runs the drains itself."""
    from creatornext.payments import tasks

    sent: list[tuple] = []
    monkeypatch.setattr(tasks.process_webhook_events, "delay", lambda *a: sent.append(a))
    return sent


@pytest.fixture
def nothing_changed(db):
    """``with nothing_changed(): refused_call()`` fails, naming each difference, if anything moved."""

    @contextlib.contextmanager
    def check():
        before = state.snapshot()
        yield
        changes = state.diff(before, state.snapshot())
        assert not changes, "A refused action changed state:\n" + "\n".join(changes)

    return check


@pytest.fixture(autouse=True)
def _ledger_stays_consistent(request):
    """After every test that touched the database, the ledger must prove itself (ledger_check)."""
    uses_db = request.node.get_closest_marker("django_db") or (
        {"db", "transactional_db", "live_server"} & set(request.fixturenames))
    if not uses_db or request.node.get_closest_marker("ledger_corrupted"):
        yield
        return
    request.getfixturevalue("_django_db_helper")  # so this teardown runs before the rollback
    yield
    problems = ledger_check()
    assert not problems, "ledger_check after the test:\n" + "\n".join(problems)


@pytest.fixture(scope="session")
def fake_stripe():
    """localstripe launched by our own launcher, on a free loopback port, for the whole session."""
    port = free_port()
    proc = start_fake_stripe(port)
    old = settings.STRIPE_API_BASE
    settings.STRIPE_API_BASE = f"http://127.0.0.1:{port}"
    yield settings.STRIPE_API_BASE
    settings.STRIPE_API_BASE = old
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def send_event(django_capture_on_commit_callbacks):
    """Deliver a signed provider event to the webhook endpoint and run what it queued; assert it
    was processed (``duplicate``: whether the endpoint had seen it before)."""
    from django.test import Client

    from creatornext.payments.models import WebhookEvent
    from tests.support.stripe import deliver

    def _send(evt, duplicate=False):
        with django_capture_on_commit_callbacks(execute=True):
            response = deliver(Client(), evt, settings.STRIPE_WEBHOOK_SECRETS[0])
        assert response.status_code == 200 and response.json()["duplicate"] is duplicate
        stored = WebhookEvent.objects.get(event_id=evt["id"])
        assert stored.status == WebhookEvent.Status.PROCESSED, stored.last_error
    return _send
