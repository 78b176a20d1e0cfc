"""Abuse limits (PRODUCT.md §7, API.md 429 ``rate_limited``): fixed-window counters in the cache.

    throttle_classes = [throttling.limit("tips")]        # on a DRF view: POSTs per caller
    retry = throttling.hit("login_page", client_ip)      # anywhere else: None, or seconds to wait

Each scope has two staff-editable settings, ``ratelimit.<scope>.count`` and
``ratelimit.<scope>.window_seconds``. A window is one cache key, created with ``add`` and counted
with ``incr``: atomic in Redis (production), and good enough in the file cache of the embedded
default (one process group, a lost increment only lets one extra request through).

Log-in lockout counts *failed* log-ins per username (not per address, so a botnet cannot spread its
guesses); after ``accounts.lockout.failures`` failures within ``accounts.lockout.window_seconds``
the account refuses every log-in, the right password included, until the window ends. The price is
that anyone can lock an account for one window; the window is short and staff can change it.

``settings.RATE_LIMITS_ENABLED = False`` switches limits (not the lockout's counting) off: the
test suite and the benchmarks measure other things and send many requests as one caller.
"""

from __future__ import annotations

import hashlib
import time

from django.conf import settings
from django.core.cache import cache
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from creatornext.core import config
from creatornext.core.api import ApiError

# scope → (default count, default window in seconds). One place for every abuse limit.
DEFAULTS: dict[str, tuple[int, int]] = {
    "login": (20, 300),          # log-in attempts per address (API token and the page)
    "register": (10, 3600),      # sign-ups per address
    "tips": (30, 60),            # tips per fan
    "gift_sends": (120, 60),     # gift sends per fan (a LIVE stream sends in bursts)
    "coin_purchases": (10, 600),  # coin purchases per fan
    "redemptions": (10, 3600),   # diamond redemptions per creator
    "withdrawals": (10, 3600),   # withdrawals per creator
}

SETTINGS = {
    scope: (
        config.register(f"ratelimit.{scope}.count", count,
                        f"Most {scope.replace('_', ' ')} requests per caller in one window", minimum=1),
        config.register(f"ratelimit.{scope}.window_seconds", window,
                        f"Length of the {scope.replace('_', ' ')} rate-limit window, seconds",
                        minimum=1, maximum=86_400),
    )
    for scope, (count, window) in DEFAULTS.items()
}

LOCKOUT_FAILURES = config.register("accounts.lockout.failures", 5,
                                   "Failed log-ins of one username before it is locked", minimum=1)
LOCKOUT_WINDOW = config.register("accounts.lockout.window_seconds", 900,
                                 "How long failed log-ins count, and how long a lockout lasts, seconds",
                                 minimum=1, maximum=86_400)


def _count(key: str, window: int) -> tuple[int, int]:
    """Count one event in the current fixed window of ``key``; → (events so far, seconds left)."""
    now = int(time.time())
    start = now - now % window
    cache_key = f"rl:{key}:{start}"
    cache.add(cache_key, 0, window + 5)
    try:
        n = cache.incr(cache_key)
    except ValueError:  # expired between add and incr
        cache.add(cache_key, 1, window + 5)
        n = 1
    return n, start + window - now


def hit(scope: str, ident: str) -> int | None:
    """Count one request of ``ident`` in ``scope``; None if allowed, else seconds until allowed."""
    if not getattr(settings, "RATE_LIMITS_ENABLED", True):
        return None
    count_def, window_def = SETTINGS[scope]
    n, left = _count(f"{scope}:{ident}", config.get(window_def))
    return None if n <= config.get(count_def) else max(left, 1)


class RateLimited(ApiError):
    """429 ``rate_limited`` with a ``Retry-After`` header (DRF's handler sends ``wait`` as it)."""

    def __init__(self, wait: int, message: str) -> None:
        super().__init__(429, "rate_limited", message)
        self.wait = wait


def client_ip(request) -> str:
    # REMOTE_ADDR only: X-Forwarded-For is whatever the client wrote unless a trusted proxy
    # rewrites it, and gunicorn is configured with the proxy's address when there is one.
    return request.META.get("REMOTE_ADDR") or "unknown"


class ConfigThrottle(BaseThrottle):
    """DRF throttle for one scope: limits writes (POST by default) per user, or per address."""

    scope = ""
    methods = frozenset({"POST"})

    def allow_request(self, request: Request, view) -> bool:
        self._wait: int | None = None
        if request.method not in self.methods:
            return True
        user = request.user
        ident = f"u{user.pk}" if user is not None and user.is_authenticated else f"ip{client_ip(request)}"
        self._wait = hit(self.scope, ident)
        return self._wait is None

    def wait(self) -> float | None:
        return self._wait


def limit(scope: str) -> type[ConfigThrottle]:
    """A throttle class for ``scope`` (one of DEFAULTS), for a view's ``throttle_classes``."""
    if scope not in DEFAULTS:
        raise KeyError(f"Unknown rate-limit scope {scope!r}")
    return type(f"{scope.title().replace('_', '')}Throttle", (ConfigThrottle,), {"scope": scope})


# --- log-in lockout ------------------------------------------------------------------------------
def _lockout_key(username: str) -> str:
    # Hashed: usernames are personal data and cache keys have a restricted alphabet.
    return "lockout:" + hashlib.sha256(username.strip().casefold().encode()).hexdigest()[:32]


def lockout_wait(username: str) -> int | None:
    """Seconds until ``username`` may log in again, or None if it is not locked."""
    window = config.get(LOCKOUT_WINDOW)
    now = int(time.time())
    key = f"rl:{_lockout_key(username)}:{now - now % window}"
    failures = cache.get(key) or 0
    if failures < config.get(LOCKOUT_FAILURES):
        return None
    return max(window - now % window, 1)


def lockout_failure(username: str) -> None:
    """Count one failed log-in of ``username``."""
    _count(_lockout_key(username), config.get(LOCKOUT_WINDOW))


def lockout_message(wait: int) -> str:
    minutes = -(-wait // 60)
    return (f"Too many failed log-ins for this account. Try again in {minutes} minute"
            f"{'s' if minutes != 1 else ''}, or reset your password.")


def rate_limited_message(wait: int) -> str:
    return f"Too many requests. Try again in {wait} second{'s' if wait != 1 else ''}."
