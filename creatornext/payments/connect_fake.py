"""A stateful Stripe Connect stand-in, served by our fake Stripe next to localstripe.

localstripe has no Connect, so ``fake_stripe.py`` mounts this in front of it (one process, one
port: the ``stripe`` library and ``provider.py`` talk to it exactly as to Stripe). It follows
Stripe's documented behaviour for what payouts use:

- ``POST /v1/accounts`` (Express), ``GET /v1/accounts/{id}``, ``POST /v1/account_links``: the link
  opens a test-mode onboarding page; completing it enables payouts and sends a signed
  ``account.updated`` event to the webhook endpoints registered with localstripe.
- ``POST /v1/transfers`` (to a connected account, from the platform balance), ``GET /v1/transfers``
  (newest first; ``transfer_group``, ``destination``, ``created[gte]``, ``starting_after``,
  ``limit``), ``GET /v1/transfers/{id}``, ``POST /v1/transfers/{id}/reversals``.
- ``GET /v1/balance``: the platform's available balance, which transfers draw down.
- ``Idempotency-Key`` on every POST: the same key replays the first response for 24 hours (the
  stand-in's clock, which tests can move forward); the same key with other parameters is a 400
  ``idempotency_error``. 429s are not stored (Stripe: a request that did not execute).

Why a separate in-memory store behind HTTP rather than tables in our database (written down in
docs/decisions/0008-payouts.md): the provider's record must survive our transaction rolling back
and our worker dying — a stand-in sharing our connection or transaction would hide exactly the
"transfer made, our commit lost" case that R7 and R8 are about. One server process holds the
state; the web process, the Celery worker and the tests all reach it over HTTP like Stripe.

Faults for tests and ``bench/`` (``POST /_config/connect/faults``, JSON, merged):
``rate_limit_next`` (next N transfer creates answer 429, nothing made), ``timeout_after_create_next``
(next N make the transfer, then stall ``stall_seconds`` before answering: the client times out),
``random_429`` / ``random_timeout`` (probabilities), ``pause_nth`` + ``pause_seconds`` (the n-th
transfer made is held before its answer: a window to kill the caller in), ``max_writes_per_second``
(Stripe's per-endpoint write limit; 0 = none), ``fail_destinations`` (permanent 400s).
Inspect and tamper: ``GET /_config/connect/state``, ``POST /_config/connect/reset``,
``POST /_config/connect/balance``, ``POST /_config/connect/clock`` (``advance`` seconds),
``POST|DELETE /_config/connect/transfers/{id}`` (change an amount, make one vanish),
``POST /_config/connect/transfers`` (a transfer we never asked for), ``POST /_config/connect/accounts/{id}``.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import html
import json
import os
import random
import re
import secrets
import time
from collections import deque
from typing import Any
from urllib.parse import parse_qsl, urlencode

from aiohttp import ClientSession, web

IDEMPOTENCY_SECONDS = 24 * 3600
DEFAULT_BALANCE = 10_000_000_000  # minor units per currency until a test sets it
_PENDING: set[asyncio.Future] = set()  # webhook deliveries in flight (kept referenced)


def _id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(8)}"


def _unflatten(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """``metadata[item]=1`` → {"metadata": {"item": "1"}} (Stripe's form encoding)."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        parts = re.findall(r"[^\[\]]+|\[\]", key)
        node = out
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if last:
                node[part] = value
            else:
                node = node.setdefault(part, {})
    return out


def _error(status: int, message: str, *, code: str = "", param: str = "",
           kind: str = "invalid_request_error") -> web.Response:
    body = {"error": {"type": kind, "message": message, "code": code or None, "param": param or None}}
    return web.json_response(body, status=status)


class ConnectState:
    def __init__(self, state_file: str | None = None) -> None:
        self.state_file = state_file
        self.reset()
        if state_file and os.path.exists(state_file):
            with open(state_file) as f:
                saved = json.load(f)
            self.accounts.update(saved.get("accounts", {}))
            self.transfers.update(saved.get("transfers", {}))
            self.balance.update(saved.get("balance", {}))

    def reset(self) -> None:
        self.accounts: dict[str, dict[str, Any]] = {}
        self.transfers: dict[str, dict[str, Any]] = {}  # insertion order = creation order
        self.idempotency: dict[str, dict[str, Any]] = {}
        self.balance: dict[str, int] = {}
        self.clock_offset = 0
        self.faults: dict[str, Any] = {}
        self.creates = 0  # transfers made (not replays)
        self.requests = 0  # transfer create requests received
        self.replays = 0
        self.rate_limited = 0
        self.recent_writes: deque[float] = deque()

    def now(self) -> int:
        return int(time.time()) + self.clock_offset

    def save(self) -> None:
        if not self.state_file:
            return
        tmp = f"{self.state_file}.tmp"
        with open(tmp, "w") as f:
            json.dump({"accounts": self.accounts, "transfers": self.transfers,
                       "balance": self.balance}, f)
        os.replace(tmp, self.state_file)

    def available(self, currency: str) -> int:
        return self.balance.setdefault(currency, DEFAULT_BALANCE)

    def take_fault(self, name: str) -> bool:
        left = int(self.faults.get(name) or 0)
        if left > 0:
            self.faults[name] = left - 1
            return True
        return False


STATE = ConnectState()


# --- webhooks (to the endpoints registered with localstripe's /_config/webhooks) ---------------
async def _send_event(kind: str, obj: dict[str, Any], previous: dict[str, Any]) -> None:
    try:
        from localstripe.webhooks import _webhooks
    except ImportError:  # pragma: no cover - localstripe is a dependency of the fake
        return
    event = {"id": _id("evt"), "object": "event", "type": kind, "created": int(time.time()),
             "livemode": False, "api_version": "2024-06-20",
             "data": {"object": obj, "previous_attributes": previous}}
    payload = json.dumps(event).encode()
    await asyncio.sleep(0.2)
    for hook in list(_webhooks.values()):
        if hook.events is not None and kind not in hook.events:
            continue
        ts = int(time.time())
        mac = hmac.new(hook.secret.encode(), f"{ts}.".encode() + payload, hashlib.sha256).hexdigest()
        try:
            async with ClientSession() as session, session.post(
                    hook.url, data=payload, headers={"Content-Type": "application/json",
                                                     "Stripe-Signature": f"t={ts},v1={mac}"}):
                pass
        except Exception:  # noqa: S110 - a webhook that cannot be delivered is dropped (test mode)
            pass


def _account_update(account: dict[str, Any], **changes: Any) -> None:
    previous = {k: account.get(k) for k in changes if account.get(k) != changes[k]}
    account.update(changes)
    account["capabilities"] = {"transfers": "active" if account["payouts_enabled"] else "inactive"}
    account["requirements"] = {"currently_due": [] if account["details_submitted"] else
                               ["external_account", "individual.dob.day", "tos_acceptance.date"],
                               "disabled_reason": None if account["payouts_enabled"] else
                               "requirements.past_due"}
    if previous:
        task = asyncio.ensure_future(_send_event("account.updated", dict(account), previous))
        _PENDING.add(task)
        task.add_done_callback(_PENDING.discard)


# --- the API ---------------------------------------------------------------------------------
async def _params(request: web.Request) -> dict[str, Any]:
    if request.method == "POST":
        raw = await request.text()
        if request.content_type == "application/json" and raw:
            return json.loads(raw)
        return _unflatten(parse_qsl(raw, keep_blank_values=True))
    return _unflatten(list(request.query.items()))


def _int(value: Any, name: str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise _Bad(f"Invalid integer: {value}", param=name) from None
    return number


class _Bad(Exception):
    def __init__(self, message: str, *, code: str = "", param: str = "", status: int = 400) -> None:
        super().__init__(message)
        self.message, self.code, self.param, self.status = message, code, param, status


def _account_create(p: dict[str, Any]) -> dict[str, Any]:
    account = {"id": _id("acct"), "object": "account", "type": p.get("type", "express"),
               "country": p.get("country", "US"), "email": p.get("email"),
               "default_currency": "usd", "created": STATE.now(), "metadata": p.get("metadata", {}),
               "charges_enabled": False, "payouts_enabled": False, "details_submitted": False,
               "external_accounts": {"object": "list", "data": []}}
    _account_update(account)
    STATE.accounts[account["id"]] = account
    return account


def _account_link(p: dict[str, Any], base: str) -> dict[str, Any]:
    account = STATE.accounts.get(p.get("account", ""))
    if account is None:
        raise _Bad(f"No such account: '{p.get('account')}'", code="resource_missing", param="account")
    expires = STATE.now() + 300
    query = urlencode({"return_url": p.get("return_url", ""), "refresh_url": p.get("refresh_url", ""),
                       "exp": expires})
    return {"object": "account_link", "created": STATE.now(), "expires_at": expires,
            "url": f"{base}/_config/connect/onboard/{account['id']}?{query}"}


def _transfer_new(amount: int, currency: str, destination: str, group: str | None,
                  metadata: dict[str, Any], description: str = "") -> dict[str, Any]:
    transfer: dict[str, Any] = {"id": _id("tr"), "object": "transfer", "amount": amount, "amount_reversed": 0,
                "currency": currency, "destination": destination, "transfer_group": group,
                "metadata": metadata, "description": description or None, "created": STATE.now(),
                "livemode": False, "reversed": False,
                "reversals": {"object": "list", "data": [], "has_more": False}}
    STATE.transfers[transfer["id"]] = transfer
    STATE.creates += 1
    return transfer


def _transfer_create(p: dict[str, Any]) -> dict[str, Any]:
    amount = _int(p.get("amount"), "amount")
    currency = str(p.get("currency", "")).lower()
    if amount <= 0:
        raise _Bad("Amount must be at least 1.", code="amount_too_small", param="amount")
    if not re.fullmatch(r"[a-z]{3}", currency):
        raise _Bad("Invalid currency.", param="currency")
    destination = p.get("destination", "")
    account = STATE.accounts.get(destination)
    if account is None:
        raise _Bad(f"No such destination: '{destination}'", code="resource_missing", param="destination")
    if destination in (STATE.faults.get("fail_destinations") or []) or not account["payouts_enabled"]:
        raise _Bad("Your destination account needs to have at least one of the following capabilities "
                   "enabled: transfers, crypto_transfers, legacy_payments",
                   code="insufficient_capabilities_for_transfer",
                   param="destination")
    if STATE.available(currency) < amount:
        raise _Bad("You have insufficient available funds in your Stripe account.",
                   code="balance_insufficient")
    STATE.balance[currency] -= amount
    return _transfer_new(amount, currency, destination, p.get("transfer_group"),
                         p.get("metadata") or {}, p.get("description", ""))


def _list(items: list[dict[str, Any]], p: dict[str, Any], url: str) -> dict[str, Any]:
    limit = max(1, min(100, _int(p.get("limit", 10), "limit")))
    after = p.get("starting_after")
    if after:
        ids = [t["id"] for t in items]
        items = items[ids.index(after) + 1:] if after in ids else []
    return {"object": "list", "url": url, "data": items[:limit], "has_more": len(items) > limit}


def _transfers_list(p: dict[str, Any]) -> dict[str, Any]:
    items = list(reversed(STATE.transfers.values()))
    if p.get("transfer_group"):
        items = [t for t in items if t["transfer_group"] == p["transfer_group"]]
    if p.get("destination"):
        items = [t for t in items if t["destination"] == p["destination"]]
    created = p.get("created")
    if isinstance(created, dict) and created.get("gte"):
        items = [t for t in items if t["created"] >= _int(created["gte"], "created[gte]")]
    return _list(items, p, "/v1/transfers")


def _reversal_create(transfer_id: str, p: dict[str, Any]) -> dict[str, Any]:
    transfer = STATE.transfers.get(transfer_id)
    if transfer is None:
        raise _Bad(f"No such transfer: '{transfer_id}'", code="resource_missing", status=404)
    left = transfer["amount"] - transfer["amount_reversed"]
    amount = _int(p.get("amount", left), "amount")
    if not 0 < amount <= left:
        raise _Bad("Amount exceeds what is left to reverse.", param="amount")
    reversal = {"id": _id("trr"), "object": "transfer_reversal", "amount": amount,
                "currency": transfer["currency"], "transfer": transfer_id, "created": STATE.now(),
                "metadata": p.get("metadata") or {}}
    transfer["amount_reversed"] += amount
    transfer["reversed"] = transfer["amount_reversed"] == transfer["amount"]
    transfer["reversals"]["data"].insert(0, reversal)
    STATE.balance[transfer["currency"]] = STATE.available(transfer["currency"]) + amount
    return reversal


def _over_write_limit() -> bool:
    limit = int(STATE.faults.get("max_writes_per_second") or 0)
    if not limit:
        return False
    now = time.monotonic()
    while STATE.recent_writes and STATE.recent_writes[0] <= now - 1:
        STATE.recent_writes.popleft()
    if len(STATE.recent_writes) >= limit:
        return True
    STATE.recent_writes.append(now)
    return False


async def _transfer_post(request: web.Request, p: dict[str, Any]) -> web.Response:
    """Transfer creation with the faults a caller must survive."""
    STATE.requests += 1
    if STATE.take_fault("rate_limit_next") or random.random() < float(STATE.faults.get("random_429") or 0) \
            or _over_write_limit():
        STATE.rate_limited += 1
        return _error(429, "Too many requests hit the API too quickly.", code="rate_limit")
    stall = float(STATE.faults.get("stall_seconds") or 30)
    random_timeout = random.random() < float(STATE.faults.get("random_timeout") or 0)
    if random_timeout and random.random() < 0.5:
        await asyncio.sleep(stall)
        return _error(500, "Request timed out before it executed.", kind="api_error")
    response = await _idempotent(request, p, lambda: _transfer_create(p))
    if random_timeout or STATE.take_fault("timeout_after_create_next"):
        await asyncio.sleep(stall)  # made (and stored under its key); the caller hears nothing in time
    nth = int(STATE.faults.get("pause_nth") or 0)
    if nth and STATE.creates >= nth and not STATE.faults.get("_paused"):
        STATE.faults["_paused"] = True
        await asyncio.sleep(float(STATE.faults.get("pause_seconds") or 5))
    return response


async def _idempotent(request: web.Request, p: dict[str, Any], make) -> web.Response:
    key = request.headers.get("Idempotency-Key")
    fingerprint = hashlib.sha256(json.dumps([request.path, p], sort_keys=True).encode()).hexdigest()
    if key:
        stored = STATE.idempotency.get(key)
        if stored and stored["at"] > STATE.now() - IDEMPOTENCY_SECONDS:
            if stored["fp"] != fingerprint:
                return _error(400, "Keys for idempotent requests can only be used with the same "
                                   "parameters they were first used with.", kind="idempotency_error")
            STATE.replays += 1
            return web.json_response(stored["body"], status=stored["status"],
                                     headers={"Idempotent-Replayed": "true", "Idempotency-Key": key})
    try:
        body, status = make(), 200
    except _Bad as bad:
        body = {"error": {"type": "invalid_request_error", "message": bad.message,
                          "code": bad.code or None, "param": bad.param or None}}
        status = bad.status
    if key:
        STATE.idempotency[key] = {"at": STATE.now(), "fp": fingerprint, "status": status, "body": body}
    STATE.save()
    return web.json_response(body, status=status, headers={"Idempotency-Key": key} if key else None)


async def _api(request: web.Request) -> web.Response:
    if not request.headers.get("Authorization", "").startswith(("Bearer sk_", "Basic ")):
        return _error(401, "Invalid API Key provided.", kind="invalid_request_error")
    p = await _params(request)
    path, method = request.path.rstrip("/"), request.method
    base = f"{request.scheme}://{request.host}"
    try:
        if path == "/v1/balance" and method == "GET":
            currencies = set(STATE.balance) | {"usd"}
            return web.json_response({"object": "balance", "livemode": False, "available": [
                {"amount": STATE.available(c), "currency": c} for c in sorted(currencies)],
                "pending": [{"amount": 0, "currency": c} for c in sorted(currencies)]})
        if path == "/v1/accounts" and method == "POST":
            return await _idempotent(request, p, lambda: _account_create(p))
        if m := re.fullmatch(r"/v1/accounts/(acct_\w+)", path):
            account = STATE.accounts.get(m[1])
            if account is None:
                raise _Bad(f"No such account: '{m[1]}'", code="resource_missing", status=404)
            return web.json_response(account)
        if path == "/v1/account_links" and method == "POST":
            return await _idempotent(request, p, lambda: _account_link(p, base))
        if path == "/v1/transfers" and method == "POST":
            return await _transfer_post(request, p)
        if path == "/v1/transfers" and method == "GET":
            return web.json_response(_transfers_list(p))
        if (m := re.fullmatch(r"/v1/transfers/(tr_\w+)/reversals", path)) and method == "POST":
            return await _idempotent(request, p, lambda: _reversal_create(m[1], p))
        if (m := re.fullmatch(r"/v1/transfers/(tr_\w+)", path)) and method == "GET":
            transfer = STATE.transfers.get(m[1])
            if transfer is None:
                raise _Bad(f"No such transfer: '{m[1]}'", code="resource_missing", status=404)
            return web.json_response(transfer)
    except _Bad as bad:
        return _error(bad.status, bad.message, code=bad.code, param=bad.param)
    return _error(404, f"Unrecognized request URL ({method}: {path}).")


# --- test-mode onboarding page and configuration -----------------------------------------------
ONBOARD_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Test-mode Connect onboarding</title></head><body>
<h1>Connect onboarding (test mode)</h1><p>Account <code>{account}</code></p>
<form method="post"><button type="submit" id="complete">Complete onboarding</button></form>
</body></html>"""


async def _onboard(request: web.Request, account_id: str) -> web.Response:
    account = STATE.accounts.get(account_id)
    if account is None:
        return web.Response(status=404, text="No such account")
    if int(request.query.get("exp", "0")) < STATE.now():
        raise web.HTTPSeeOther(request.query.get("refresh_url") or "/")  # an expired link: start again
    if request.method == "GET":
        return web.Response(text=ONBOARD_PAGE.format(account=html.escape(account["id"])),
                            content_type="text/html")
    _account_update(account, details_submitted=True, charges_enabled=True, payouts_enabled=True,
                    external_accounts={"object": "list", "data": [
                        {"id": _id("ba"), "object": "bank_account", "last4": "6789"}]})
    STATE.save()
    raise web.HTTPSeeOther(request.query.get("return_url") or "/")


async def _config(request: web.Request) -> web.Response:
    path, method = request.path.rstrip("/"), request.method
    body: dict[str, Any] = {}
    if method == "POST":
        raw = await request.text()
        body = json.loads(raw) if raw else {}
    if path == "/_config/connect/reset":
        STATE.reset()
    elif path == "/_config/connect/faults":
        STATE.faults.update(body)
    elif path == "/_config/connect/balance":
        STATE.balance[body["currency"].lower()] = int(body["amount"])
    elif path == "/_config/connect/clock":
        STATE.clock_offset += int(body.get("advance", 0))
    elif path == "/_config/connect/transfers" and method == "POST":
        return web.json_response(_transfer_new(int(body["amount"]), body.get("currency", "usd"),
                                               body.get("destination", "acct_unknown"),
                                               body.get("transfer_group"), body.get("metadata") or {}))
    elif m := re.fullmatch(r"/_config/connect/transfers/(tr_\w+)", path):
        if method == "DELETE":
            STATE.transfers.pop(m[1], None)
        else:
            STATE.transfers[m[1]].update(body)
    elif m := re.fullmatch(r"/_config/connect/accounts/(acct_\w+)", path):
        _account_update(STATE.accounts[m[1]], **body)
    elif path != "/_config/connect/state":
        return web.Response(status=404)
    STATE.save()
    return web.json_response({
        "accounts": STATE.accounts, "transfers": list(STATE.transfers.values()),
        "balance": STATE.balance, "faults": STATE.faults, "creates": STATE.creates,
        "requests": STATE.requests, "replays": STATE.replays, "rate_limited": STATE.rate_limited,
        "now": STATE.now()})


# Only these paths are ours; everything else (e.g. /v1/balance_transactions) is localstripe's.
CONNECT_PATH = re.compile(r"^/v1/balance$|^/v1/(accounts|account_links|transfers)(/.*)?$")


@web.middleware
async def connect_middleware(request: web.Request, handler):
    path = request.path
    if path.startswith("/_config/connect/onboard/"):
        return await _onboard(request, path.rstrip("/").rsplit("/", 1)[-1])
    if path.startswith("/_config/connect"):
        return await _config(request)
    if CONNECT_PATH.match(path):
        return await _api(request)
    return await handler(request)


def install(app: web.Application, *, state_file: str | None = None) -> None:
    """Serve Connect in front of localstripe's routes (its /v1/balance has no Connect)."""
    global STATE
    STATE = ConnectState(state_file)
    app.middlewares.insert(0, connect_middleware)
