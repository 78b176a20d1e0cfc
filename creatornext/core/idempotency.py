"""The ``Idempotency-Key`` mechanism of API.md, as a decorator for API view handlers.

    class TipCreateApi(APIView):
        @idempotent
        def post(self, request): ...

- No header → 400 ``idempotency_key_required``; 1–255 characters.
- A 2xx response is stored with the key; the same key and the same body (canonical JSON) returns
  it again, same status and body; a different body → 409 ``idempotency_conflict``.
- A refusal (4xx, or an exception) rolls back everything the request wrote, the key included, so
  it may be retried with the same key.
- A duplicate arriving while the first runs blocks on the unique index until the first commits,
  then replays it (PostgreSQL waits for the in-flight insert; SQLite's IMMEDIATE transactions
  serialise writers).
- Keys are scoped to the caller and the endpoint; ``idempotency_cleanup`` drops them after
  ``IDEMPOTENCY_KEY_TTL_HOURS`` (≥ 24).
"""

from __future__ import annotations

import functools
import hashlib
import json
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.encoders import JSONEncoder

from creatornext.core.api import ApiError
from creatornext.core.models import IdempotencyRecord

HEADER = "Idempotency-Key"


def canonical_fingerprint(data) -> str:
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                           cls=JSONEncoder)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _key_from(request: Request) -> str:
    key = request.headers.get(HEADER)
    if key is None:
        raise ApiError(400, "idempotency_key_required",
                       f"This request moves money: send an {HEADER} header (1–255 characters).")
    if not 1 <= len(key) <= 255:
        raise ApiError(400, "invalid", f"{HEADER} must be 1–255 characters.",
                       {HEADER: ["Must be 1–255 characters."]})
    return key


def _replay(record: IdempotencyRecord, fingerprint: str) -> Response:
    if record.fingerprint != fingerprint:
        raise ApiError(409, "idempotency_conflict",
                       f"This {HEADER} was already used with a different request body.")
    response = Response(json.loads(record.response_body), status=record.response_status)
    response["Idempotent-Replayed"] = "true"
    return response


def _claim(user_id: int, endpoint: str, key: str, fingerprint: str) -> int | None:
    """Insert the key's record and return its id, or None if the key is already taken.

    One statement (no savepoint round trips: this runs on every money request). A duplicate that
    is still in flight makes PostgreSQL wait for its transaction: if it commits, this inserts
    nothing and the caller replays it; if it rolls back, this insert goes ahead.
    """
    assert IdempotencyRecord._meta.db_table == "core_idempotencyrecord"
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO core_idempotencyrecord (user_id, endpoint, key, fingerprint, response_body, created_at) "
            "VALUES (%s, %s, %s, %s, '', %s) ON CONFLICT (user_id, endpoint, key) DO NOTHING RETURNING id",
            [user_id, endpoint, key, fingerprint, now])
        row = cursor.fetchone()
    return row[0] if row else None


def _store(record_id: int, status: int, body: str) -> None:
    """The response on the claimed record: plain SQL, as the claim (the ORM's update cost ~10 % of
    a gift send's Python: compiling the query each time)."""
    with connection.cursor() as cursor:
        cursor.execute("UPDATE core_idempotencyrecord SET response_status = %s, response_body = %s "
                       "WHERE id = %s", [status, body, record_id])


class Claim:
    """The request's claimed key, inside an ``@idempotent`` handler (``claim_of(request)``).

    A handler whose last statement can write the response too (the gift send: ``expression``)
    saves the decorator's own UPDATE, a round trip while the request holds its row locks. The body
    must be what the handler returns (``json.dumps(data, cls=JSONEncoder)`` of the Response's data).
    """

    def __init__(self, record_id: int) -> None:
        self.record_id = record_id
        self.stored: int | None = None  # the status written by the handler's own statement

    def expression(self, name: str, *, after: str, status: int, data: Any) -> tuple[str, list[Any]]:
        """``name AS (UPDATE <the record> … WHERE EXISTS (SELECT FROM after) RETURNING 1)``, and
        its params, for a PostgreSQL statement that writes one row only if ``after`` wrote."""
        if not (name.isidentifier() and after.isidentifier()):
            raise ValueError("Expression names are plain identifiers")
        self.stored = status  # if the statement fails, the request rolls back, the claim included
        # Only the two checked identifiers are interpolated; every value is a parameter.
        return (f"{name} AS (UPDATE core_idempotencyrecord SET response_status = %s::smallint, "  # noqa: S608  # nosec B608
                f"response_body = %s::text WHERE id = %s::bigint AND EXISTS (SELECT FROM {after}) "
                "RETURNING 1)"), [status, json.dumps(data, cls=JSONEncoder), self.record_id]


_CLAIM = "idempotency_claim"


def claim_of(request: Request) -> Claim:
    """The key ``@idempotent`` claimed for this request (inside the handler only)."""
    claim = getattr(request, _CLAIM, None)
    if not isinstance(claim, Claim):
        raise RuntimeError("Not inside an @idempotent handler")
    return claim


def idempotent(handler):
    @functools.wraps(handler)
    def wrapper(view, request: Request, *args, **kwargs):
        user = request.user
        assert user.is_authenticated, "idempotent endpoints require a signed-in caller"
        key = _key_from(request)
        fingerprint = canonical_fingerprint(request.data)
        match = request.resolver_match
        endpoint = f"{match.view_name if match else view.__class__.__name__} {request.method}"
        with transaction.atomic():
            record_id = _claim(user.pk, endpoint, key, fingerprint)
            if record_id is None:
                # Committed by an earlier (or just-finished concurrent) request: replay it.
                existing = IdempotencyRecord.objects.get(user=user, endpoint=endpoint, key=key)
                return _replay(existing, fingerprint)
            claim = Claim(record_id)
            setattr(request, _CLAIM, claim)
            response = handler(view, request, *args, **kwargs)
            if not 200 <= response.status_code < 300:
                transaction.set_rollback(True)  # a refusal stores nothing
            elif claim.stored is None:
                # Stored exactly as it will be rendered, so a replay is byte-for-byte the same.
                _store(record_id, response.status_code, json.dumps(response.data, cls=JSONEncoder))
            elif claim.stored != response.status_code:
                raise RuntimeError(f"Stored a {claim.stored} response, returned a {response.status_code}")
            return response

    return wrapper


def idempotency_cleanup() -> int:
    cutoff = timezone.now() - timedelta(hours=settings.IDEMPOTENCY_KEY_TTL_HOURS)
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    return deleted
