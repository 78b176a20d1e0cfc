"""A token bucket shared by every worker: provider calls per second across the whole platform.

Celery's ``rate_limit`` is per worker process; the provider's limit is per platform account. With
Redis (``REDIS_URL``) the bucket is one Redis hash updated by a Lua script against Redis' own
clock (atomic, one round trip). The embedded default has no Redis: the bucket is a locked database
row (``RateBucket``), which every process of the embedded platform shares.
Burst capacity is one second's worth of tokens.
"""

from __future__ import annotations

import functools
import time

from django.conf import settings
from django.db import transaction

from creatornext.payouts.models import RateBucket

_LUA = """
local key = KEYS[1]
local rate = tonumber(ARGV[1])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local data = redis.call('HMGET', key, 'tokens', 'at')
local tokens = tonumber(data[1]) or rate
local at = tonumber(data[2]) or now
tokens = math.min(rate, tokens + math.max(0, now - at) * rate / 1000000)
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
else
  wait = math.ceil((1 - tokens) * 1000000 / rate)
end
redis.call('HSET', key, 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('EXPIRE', key, 3600)
return wait
"""


@functools.cache
def _redis_script():
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL)
    return client.register_script(_LUA)


def _take_redis(name: str, rate: int) -> int:
    return int(_redis_script()(keys=[f"creatornext:bucket:{name}"], args=[rate]))


def _take_db(name: str, rate: int) -> int:
    now = int(time.time() * 1_000_000)
    full = rate * 1000
    with transaction.atomic():
        RateBucket.objects.get_or_create(name=name, defaults={"tokens_milli": full, "updated_us": now})
        bucket = RateBucket.objects.select_for_update(no_key=True).get(name=name)
        elapsed = max(0, now - bucket.updated_us)
        tokens = min(full, bucket.tokens_milli + elapsed * rate // 1000)
        wait = 0
        if tokens >= 1000:
            tokens -= 1000
        else:
            wait = -(-(1000 - tokens) * 1000 // rate)  # microseconds until one whole token
        bucket.tokens_milli, bucket.updated_us = tokens, now
        bucket.save(update_fields=["tokens_milli", "updated_us"])
    return wait


def acquire(name: str, rate: int) -> float:
    """Block until a token is taken; returns the seconds waited."""
    take = _take_redis if settings.REDIS_URL else _take_db
    waited = 0.0
    while True:
        wait_us = take(name, rate)
        if wait_us <= 0:
            return waited
        pause = min(wait_us / 1_000_000, 1.0)
        time.sleep(pause)
        waited += pause
