"""Test support for the Connect stand-in (creatornext/payments/connect_fake.py): its configuration
endpoints, and creators with an enabled payout account and available cash."""

from __future__ import annotations

import datetime
import json
import urllib.request
from typing import Any

from django.conf import settings
from django.utils import timezone

from creatornext.payments import provider


def call(path: str, body: dict[str, Any] | None = None, method: str | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"{settings.STRIPE_API_BASE}/_config/connect/{path}", data=data,
                                     method=method or ("POST" if body is not None else "GET"),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read() or b"null")


def reset() -> None:
    call("reset", {})


def faults(**values: Any) -> None:
    call("faults", values)


def state() -> dict[str, Any]:
    return call("state")


def transfers() -> list[dict[str, Any]]:
    return state()["transfers"]


def enabled_account(user, *, cooled: bool = True):
    """A connected, payouts-enabled account at the stand-in, outside its cooling-off."""
    from creatornext.payouts.models import PayoutAccount

    created = provider.connect_account_create(email=user.email, country="US", metadata={},
                                              idempotency_key=f"test-acct-{user.pk}-{timezone.now().timestamp()}")
    call(f"accounts/{created.id}", {"payouts_enabled": True, "details_submitted": True})
    changed = timezone.now() - datetime.timedelta(days=6 if cooled else 0)
    account, _ = PayoutAccount.objects.update_or_create(user=user, defaults={
        "provider_id": created.id, "payouts_enabled": True, "details_submitted": True, "changed_at": changed})
    return account
