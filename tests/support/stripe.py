"""Test support for the payments boundary: the launched fake Stripe, and events we build and sign
ourselves for what localstripe cannot produce (fees in events, disputes, duplicates, re-ordering)."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from typing import Any

_ids = itertools.count(1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_fake_stripe(port: int, webhook_url: str = "", webhook_secret: str = "") -> subprocess.Popen:
    argv = [sys.executable, "-m", "creatornext.payments.fake_stripe", "--port", str(port)]
    if webhook_url:
        argv += ["--webhook-url", webhook_url, "--webhook-secret", webhook_secret]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/js.stripe.com/v3/", timeout=1):
                return proc
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError("the fake Stripe server exited at start") from None
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("the fake Stripe server did not start")


def sign(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    ts = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{ts}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={ts},v1={mac}"


def event(kind: str, obj: dict[str, Any], event_id: str | None = None) -> dict[str, Any]:
    return {"id": event_id or f"evt_test_{next(_ids)}_{time.time_ns()}", "object": "event",
            "type": kind, "created": int(time.time()), "data": {"object": obj}}


def deliver(client, evt: dict[str, Any], secret: str, timestamp: int | None = None):
    payload = json.dumps(evt).encode()
    return client.post("/webhooks/stripe/", payload, content_type="application/json",
                       HTTP_STRIPE_SIGNATURE=sign(payload, secret, timestamp))


def pi_succeeded(payment, *, fee: int | None = None) -> dict[str, Any]:
    charge: dict[str, Any] = {"id": payment.charge_id or f"ch_test_{payment.pk}", "object": "charge"}
    if fee is not None:
        charge["balance_transaction"] = {"id": f"txn_{payment.pk}", "fee": fee}
    return event("payment_intent.succeeded", {
        "id": payment.provider_id or f"pi_test_{payment.pk}", "object": "payment_intent",
        "status": "succeeded", "metadata": {"payment_id": str(payment.pk)},
        "latest_charge": charge})


def charge_refunded(payment, amount_refunded: int) -> dict[str, Any]:
    return event("charge.refunded", {
        "id": payment.charge_id or f"ch_test_{payment.pk}", "object": "charge",
        "payment_intent": payment.provider_id or f"pi_test_{payment.pk}",
        "amount_refunded": amount_refunded, "refunded": True,
        "metadata": {"payment_id": str(payment.pk)}})


def dispute(payment, kind: str = "charge.dispute.created", status: str = "needs_response") -> dict[str, Any]:
    return event(kind, {
        "id": f"dp_test_{payment.pk}", "object": "dispute", "status": status,
        "charge": payment.charge_id or f"ch_test_{payment.pk}",
        "payment_intent": payment.provider_id or f"pi_test_{payment.pk}",
        "amount": payment.amount, "metadata": {"payment_id": str(payment.pk)}})


def card(number: str) -> str:
    """A payment method for a test card number at the fake provider (e.g. 4000002500003155: 3-D
    Secure required)."""
    from creatornext.payments import provider

    return provider.client().v1.payment_methods.create({
        "type": "card", "card": {"number": number, "exp_month": 12, "exp_year": 2030, "cvc": "123"}})["id"]


def authenticate(payment, *, success: bool = True) -> None:
    """The payer answers 3-D Secure in the browser (what Stripe.js does against the fake)."""
    import urllib.parse

    from django.conf import settings

    body = urllib.parse.urlencode({"client_secret": payment.client_secret, "success": str(success).lower(),
                                   "key": "pk_test_x"}).encode()
    urllib.request.urlopen(urllib.request.Request(
        f"{settings.STRIPE_API_BASE}/v1/payment_intents/{payment.provider_id}/_authenticate",
        data=body, method="POST"), timeout=5).read()
