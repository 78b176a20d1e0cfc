"""The suite's own isolation: `make test` runs two pytest-xdist workers at once (P9), and tests
clear the cache (FLUSHDB) between them, so each worker must work in its own Redis database."""

from __future__ import annotations

import os
import uuid
from urllib.parse import urlsplit

import redis
from django.conf import settings
from django.core.cache import cache

from creatornext.celery import app as celery_app
from tests.conftest import CONFIGURED_REDIS_URL


def _db(url: str) -> int:
    return int(urlsplit(url).path.strip("/") or 0)


def test_the_cache_the_broker_and_started_processes_use_this_workers_redis_database():
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    n = int(worker[2:]) if worker.startswith("gw") else 0
    base = _db(CONFIGURED_REDIS_URL)
    assert _db(settings.REDIS_URL) == (base - n if base >= n else base + n)
    assert celery_app.conf.broker_url == settings.REDIS_URL == os.environ["REDIS_URL"]
    # The cache really writes there (not only the setting says so)
    key = f"isolation-{uuid.uuid4().hex}"
    cache.set(key, 1, 30)
    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        assert any(key in k.decode() for k in client.scan_iter(match=f"*{key}*"))
    finally:
        client.close()
