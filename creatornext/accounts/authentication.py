"""API token authentication: DRF's, with its one query compiled once.

It runs on every authenticated API request (the gift-send burst among them), and building and
compiling ``Token.objects.select_related("user").get(key=...)`` cost more CPU than running it; so
did PostgreSQL's planning of it.
Same rules and messages as DRF's ``TokenAuthentication``.
"""

from __future__ import annotations

from typing import Any

from django.db import DEFAULT_DB_ALIAS
from django.db.models import OuterRef
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


class TokenAuthentication(authentication.TokenAuthentication):
    def authenticate_credentials(self, key: str) -> tuple[User, Token]:
        row: dict[str, Any] | None = _TOKEN_AND_USER.first(key=key)
        if row is None:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        user = User.from_db(DEFAULT_DB_ALIAS, _USER_FIELDS, [row[f"user__{f}"] for f in _USER_FIELDS])
        if not user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        setattr(user, selectors.BRAND_MEMBER_ATTR, row["brand_member"])
        token = Token.from_db(DEFAULT_DB_ALIAS, _TOKEN_FIELDS, [row[f] for f in _TOKEN_FIELDS])
        token.user = user
        return user, token
