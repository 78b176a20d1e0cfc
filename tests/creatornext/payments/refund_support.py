"""Refund objects as Stripe sends them, and a stand-in for the one answer localstripe cannot give.

localstripe makes every refund ``succeeded`` at once. Stripe's Refund object (API reference)
has ``status`` ``pending`` / ``requires_action`` / ``succeeded`` / ``failed`` / ``canceled``, and
its status changes arrive as ``charge.refund.updated`` and (API 2024-10-28 on) ``refund.created``
/ ``refund.updated`` / ``refund.failed``, each carrying the refund object: tests build and sign
those themselves. ``provider_answering_pending`` stands in for Stripe's ``POST /v1/refunds`` when
it answers ``pending`` (e.g. ``pending_reason: processing``): a loopback HTTP server the real
``stripe`` library talks to, so our provider code runs unchanged.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from django.test import override_settings

from tests.support.stripe import event

_ids = itertools.count(1)


def refund_object(payment, *, status: str, refund_id: str, amount: int | None = None, ours=None,
                  failure_reason: str | None = None) -> dict[str, Any]:
    """A refund of ``payment``; ``ours``: our Refund row (its id in the metadata, as we send it)."""
    metadata = {"refund_id": str(ours.pk), "payment_id": str(payment.pk)} if ours is not None else {}
    return {"id": refund_id, "object": "refund", "amount": amount if amount is not None else payment.amount,
            "currency": payment.currency.lower(), "status": status, "charge": payment.charge_id,
            "payment_intent": payment.provider_id, "metadata": metadata,
            "failure_reason": failure_reason, "balance_transaction": f"txn_{refund_id}",
            "failure_balance_transaction": f"txn_{refund_id}_failure" if status == "failed" else None}


def refund_event(kind: str, payment, **kwargs: Any) -> dict[str, Any]:
    return event(kind, refund_object(payment, **kwargs))


class _Refunds(BaseHTTPRequestHandler):
    """``POST /v1/refunds`` answered as Stripe does for a refund the bank has not settled."""

    def do_POST(self) -> None:
        form = parse_qs(self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode())
        if self.path != "/v1/refunds":
            self.send_error(404)
            return
        metadata = {key[len("metadata["):-1]: values[0] for key, values in form.items()
                    if key.startswith("metadata[")}
        body = json.dumps({
            "id": f"re_pending_{next(_ids)}_{time.time_ns()}", "object": "refund",
            "amount": int(form["amount"][0]), "currency": "usd", "status": "pending",
            "pending_reason": "processing", "payment_intent": form["payment_intent"][0], "charge": None,
            "metadata": metadata, "balance_transaction": None, "created": int(time.time()),
        }).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@contextlib.contextmanager
def provider_answering_pending() -> Iterator[None]:
    """While inside: the provider answers every refund request ``pending``."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Refunds)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with override_settings(STRIPE_API_BASE=f"http://127.0.0.1:{server.server_address[1]}"):
            yield
    finally:
        server.shutdown()
        server.server_close()
