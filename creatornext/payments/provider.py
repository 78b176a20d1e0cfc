"""The provider contract, and its Stripe implementation: the only code that talks to Stripe.

Everything else sees ``ProviderPayment`` / ``ProviderRefund`` results, never Stripe objects.
Every mutating call sends an idempotency key derived from our own row id, so a retry after a
timeout creates nothing twice. Stripe keeps keys for 24 hours; our rows are retried sooner (the
webhook sweeper) or looked up by id.

The contract (what a second provider would implement):
- ``create_payment(payment, payment_method)`` — create and confirm a card payment;
  returns its state (succeeded, requires_action with a client secret, failed with a code).
- ``retrieve_payment(payment)`` — the provider's current state (after 3-D Secure, for example).
- ``refund(refund)`` — refund (part of) a succeeded payment.
- ``fee`` is read from the charge's balance transaction whenever a payment has succeeded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import stripe
from django.conf import settings

from creatornext.money import Money


class ProviderError(Exception):
    """The provider could not be reached or failed (retry later); nothing is known to have happened."""


@dataclass(frozen=True)
class ProviderPayment:
    id: str
    status: str  # our PaymentStatus values
    client_secret: str = ""
    charge_id: str = ""
    fee: int | None = None
    failure_code: str = ""
    failure_message: str = ""


@dataclass(frozen=True)
class ProviderRefund:
    id: str
    status: str  # succeeded / pending / failed


def to_provider_amount(money: Money) -> tuple[int, str]:
    """Money → Stripe's (amount, currency). Stripe counts in the currency's smallest unit, which is
    exactly our minor unit (cents; whole yen for zero-decimal JPY). The one conversion point."""
    return money.amount, money.currency.lower()


_STATUS = {
    "succeeded": "succeeded",
    "requires_action": "requires_action",
    "requires_confirmation": "created",
    "processing": "processing",
    "requires_capture": "processing",
    "canceled": "canceled",
}


def stripe_js_url() -> str:
    """Where pages load Stripe.js from: Stripe in production, the local fake's stand-in in test mode."""
    if settings.STRIPE_FAKE:
        return f"{settings.STRIPE_API_BASE}/js.stripe.com/v3/"
    return "https://js.stripe.com/v3/"


def client() -> stripe.StripeClient:
    return stripe.StripeClient(
        settings.STRIPE_SECRET_KEY,
        base_addresses={"api": settings.STRIPE_API_BASE},
        max_network_retries=0,  # we retry ourselves, with our own keys and backoff
    )


def _get(obj: Any, name: str, default: Any = None) -> Any:
    try:
        return obj[name]
    except (KeyError, TypeError, IndexError):
        return default


def _latest_charge_id(pi: Any) -> str:
    charge = _get(pi, "latest_charge")
    if charge is None:  # older API shape (localstripe): charges.data[0]
        data = _get(_get(pi, "charges"), "data") or []
        charge = data[0] if data else None
    if isinstance(charge, str):
        return charge
    return _get(charge, "id", "") or ""


def _fee_of(stripe_client: stripe.StripeClient, charge_id: str) -> int | None:
    if not charge_id:
        return None
    charge = stripe_client.v1.charges.retrieve(charge_id)
    txn = _get(charge, "balance_transaction")
    if not txn:
        return None
    if isinstance(txn, str):
        txn = stripe_client.v1.balance_transactions.retrieve(txn)
    return int(_get(txn, "fee", 0))


def _to_result(stripe_client: stripe.StripeClient, pi: Any) -> ProviderPayment:
    raw = _get(pi, "status", "")
    error = _get(pi, "last_payment_error") or {}
    # "requires_payment_method" after an attempt means it failed; before one, nothing happened yet.
    status = ("failed" if error else "created") if raw == "requires_payment_method" else _STATUS.get(raw, "processing")
    charge_id = _latest_charge_id(pi)
    return ProviderPayment(
        id=pi["id"], status=status, client_secret=_get(pi, "client_secret", "") or "",
        charge_id=charge_id,
        fee=_fee_of(stripe_client, charge_id) if status == "succeeded" else None,
        failure_code=_get(error, "code", "") or "", failure_message=_get(error, "message", "") or "",
    )


def create_payment(payment: Any, payment_method: str) -> ProviderPayment:
    stripe_client = client()
    amount, currency = to_provider_amount(Money(payment.amount, payment.currency))
    params = {
        "amount": amount, "currency": currency, "payment_method": payment_method, "confirm": True,
        "metadata": {"payment_id": str(payment.pk), "purpose": payment.purpose, "ref": payment.ref},
    }
    try:
        pi = stripe_client.v1.payment_intents.create(
            params, {"idempotency_key": payment.idempotency_key})  # type: ignore[arg-type]
    except stripe.CardError as exc:
        # Declined: Stripe still created the PaymentIntent; find it by our key's metadata if we
        # need it later. The payment is failed with the provider's code.
        err = exc.error
        pi_obj = _get(err, "payment_intent") if err is not None else None
        return ProviderPayment(id=_get(pi_obj, "id", "") or "", status="failed",
                               failure_code=exc.code or "card_declined",
                               failure_message=exc.user_message or str(exc))
    except stripe.InvalidRequestError as exc:
        return ProviderPayment(id="", status="failed", failure_code=exc.code or "invalid_request",
                               failure_message=exc.user_message or "The payment method was refused.")
    except stripe.StripeError as exc:
        raise ProviderError(str(exc)) from exc
    return _to_result(stripe_client, pi)


def retrieve_payment(payment: Any) -> ProviderPayment:
    stripe_client = client()
    try:
        pi = stripe_client.v1.payment_intents.retrieve(payment.provider_id)
        return _to_result(stripe_client, pi)
    except stripe.StripeError as exc:
        raise ProviderError(str(exc)) from exc


def fee_for_charge(charge_id: str) -> int | None:
    try:
        return _fee_of(client(), charge_id)
    except stripe.StripeError as exc:
        raise ProviderError(str(exc)) from exc


def refund(refund: Any) -> ProviderRefund:
    stripe_client = client()
    amount, _ = to_provider_amount(Money(refund.amount, refund.payment.currency))
    try:
        result = stripe_client.v1.refunds.create(
            {"payment_intent": refund.payment.provider_id, "amount": amount,
             "metadata": {"refund_id": str(refund.pk)}},  # type: ignore[typeddict-item]
            {"idempotency_key": refund.idempotency_key})
    except stripe.InvalidRequestError as exc:
        return ProviderRefund(id="", status="failed") if exc.http_status == 400 else _raise(exc)
    except stripe.StripeError as exc:
        raise ProviderError(str(exc)) from exc
    return ProviderRefund(id=result["id"], status=_get(result, "status", "succeeded") or "succeeded")


def _raise(exc: Exception) -> ProviderRefund:
    raise ProviderError(str(exc)) from exc
