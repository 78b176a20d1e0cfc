"""API token authentication: DRF's, with its one query compiled once.

It runs on every authenticated API request (the gift-send burst among them), and building and
compiling ``Token.objects.select_related("user").get(key=...)`` cost more CPU than running it; so
did PostgreSQL's planning of it.
Same rules and messages as DRF's ``TokenAuthentication``.

With ``remember=True`` (the gift send, whose own first query confirms the token) it goes one step
further: no query at all for a token the process has seen.
"""

from __future__ import annotations

import threading
from typing import Any

from django.db import DEFAULT_DB_ALIAS
from django.db.models import Exists, OuterRef, QuerySet
from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions
from rest_framework.authtoken.models import Token

from creatornext.accounts import selectors
from creatornext.accounts.models import User
from creatornext.core.prepared import PreparedQuery

_USER_FIELDS = [f.attname for f in User._meta.concrete_fields]
_TOKEN_FIELDS = [f.attname for f in Token._meta.concrete_fields]
# Planned once per connection too (``server``): planning the token-and-user join cost PostgreSQL
# ~0.14 ms a request, three times running it (pgbench on one connection: 0.197 ms as a plain
# statement, 0.060 ms prepared); its plan — the token's primary key, then the user's — never
# depends on the key.
# It also answers whether the user belongs to a brand (``selectors.is_brand_member``).
_TOKEN_AND_USER = PreparedQuery(
    lambda a: Token.objects.filter(key=a["key"])
    .annotate(brand_member=selectors.brand_member_exists(OuterRef("user_id")))
    .values(*_TOKEN_FIELDS, *[f"user__{f}" for f in _USER_FIELDS], "brand_member"),
    server="auth_token_and_user", key=str)


def _token_row(key: str) -> dict[str, Any]:
    row: dict[str, Any] | None = _TOKEN_AND_USER.first(key=key)
    if row is None:
        raise exceptions.AuthenticationFailed(_("Invalid token."))
    if not row["user__is_active"]:
        raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
    return row


def _from_row(row: dict[str, Any]) -> tuple[User, Token]:
    """A fresh user and token from a row (each request gets its own instances)."""
    user = User.from_db(DEFAULT_DB_ALIAS, _USER_FIELDS, [row[f"user__{f}"] for f in _USER_FIELDS])
    token = Token.from_db(DEFAULT_DB_ALIAS, _TOKEN_FIELDS, [row[f] for f in _TOKEN_FIELDS])
    token.user = user
    return user, token


# key → the token-and-user row of an active user, per process, for ``remember=True``. Bounded (a
# row is ~2 KB: at most ~8 MB of a web worker's memory, TARGETS P8): the oldest half goes when it
# is full, and a key that is not remembered costs only the look-up it always did.
_REMEMBERED: dict[str, dict[str, Any]] = {}
_REMEMBERED_MAX = 4_096
_REMEMBERED_LOCK = threading.Lock()


class TokenAuthentication(authentication.TokenAuthentication):
    def __init__(self, *, remember: bool = False) -> None:
        """``remember``: no query once this process has seen the token, for an endpoint whose own
        first query confirms it, in the same round trip as the rest of its checks.

        The gift send is the platform's hottest request and the token look-up was a whole
        database round trip of its three (decision 0021). A remembered token may since have been
        deleted, or its user deactivated or edited; so a view that remembers must, before it
        writes anything or reads anything of the user's but the id, run a query that checks
        ``token_confirmed`` and refuse with ``confirm_token`` when it fails — the gift send's
        facts query does, and reads the fan's date of birth there too. Brand membership is not
        remembered (it is looked up if asked)."""
        self.remember = remember

    def authenticate_credentials(self, key: str) -> tuple[User, Token]:
        row = _REMEMBERED.get(key) if self.remember else None
        if row is not None:
            return _from_row(row)
        row = _token_row(key)
        if self.remember:
            with _REMEMBERED_LOCK:
                if len(_REMEMBERED) >= _REMEMBERED_MAX:
                    for old in list(_REMEMBERED)[: _REMEMBERED_MAX // 2]:
                        _REMEMBERED.pop(old, None)
                _REMEMBERED[key] = row
        user, token = _from_row(row)
        setattr(user, selectors.BRAND_MEMBER_ATTR, row["brand_member"])
        return user, token


def _confirming(key: OuterRef | str, user: OuterRef | int) -> QuerySet[Token]:
    return Token.objects.filter(key=key, user_id=user, user__is_active=True)


def token_confirmed(key: OuterRef | str, user: OuterRef | int) -> Exists:
    """Whether the token with ``key`` (still) exists, belongs to ``user`` and that user is active:
    for the query that confirms a remembered token (``TokenAuthentication(remember=True)``)."""
    return Exists(_confirming(key, user))


def confirm_token(key: str, user: int, confirmed: bool | None = None) -> None:
    """Answer 401 (and forget the token) unless it is confirmed: by ``confirmed``, what the
    caller's own query found with ``token_confirmed``, or (None) by a query of its own."""
    if confirmed is None:
        confirmed = _confirming(key, user).exists()
    if not confirmed:
        with _REMEMBERED_LOCK:
            _REMEMBERED.pop(key, None)
        raise exceptions.AuthenticationFailed(_("Invalid token."))
