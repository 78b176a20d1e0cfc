"""Provider events for payouts, registered with the payments webhook dispatcher at start-up."""

from __future__ import annotations

from typing import Any

from creatornext.payments import provider
from creatornext.payments.webhooks import register_event_type
from creatornext.payouts import services


def on_account_updated(event: dict[str, Any]) -> bool:
    """``account.updated``: keep the payout account's status in sync. False (ignored) when the
    account is not one of ours."""
    obj = event.get("data", {}).get("object", {}) or {}
    if not str(obj.get("id", "")).startswith("acct_"):
        return False
    state = provider.account_from(obj)
    account = services.payout_account_apply(provider_account=state, provider_time=int(event.get("created", 0)),
                                            source=f"webhook:{event.get('id', '')}")
    return account is not None


def register() -> None:
    register_event_type("account.updated", on_account_updated)
