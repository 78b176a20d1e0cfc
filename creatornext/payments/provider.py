"""The provider contract, and its Stripe implementation: the only code that talks to Stripe.

Everything else sees ``ProviderPayment`` / ``ProviderRefund`` results, never Stripe objects.
Every mutating call sends an idempotency key derived from our own row id, so a retry after a
timeout creates nothing twice. Stripe keeps keys for 24 hours; our rows are retried sooner (the
webhook sweeper) or looked up by id.

The contract (what a second provider would implement):
- ``create_payment(payment, payment_method)`` — create and confirm a card payment;
  returns its state (succeeded, requires_action with a client secret, failed with a code).
- ``retrieve_payment(payment)`` — the provider's current state (after 3-D Secure, for example).
- ``cancel_payment(payment)`` — give up one the payer did not complete; its state if it can't be.
- ``refund(refund)`` — refund (part of) a succeeded payment; ``refund_from(obj)`` reads a refund
  object from an event, ``refunds_of_payment(intent_id)`` lists a payment's refunds. Each says
  succeeded, pending or failed (``_REFUND_STATUS``): only a succeeded one has moved money.
- ``fee`` is read from the charge's balance transaction whenever a payment has succeeded; None
  while the charge has none yet (never guessed).
- ``dispute_from_event(kind, obj)`` — what a dispute event means for us: a chargeback whose funds
  the provider withdrew, or an inquiry that moved no money (the one place that decides).
- Connect (payouts): ``connect_account_create/retrieve/link``, ``transfer_create`` (idempotency key
  from our item), ``transfers_list`` (by ``transfer_group``: the lookup once a key may have expired),
  ``transfer_reverse``, ``balance_available``; tests and ``make run`` use ``connect_fake.py``.
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
    """A refund as the provider reports it. ``status`` is ours (``_REFUND_STATUS``): "succeeded",
    "pending" or "failed"; ``provider_status`` the provider's own word, kept for staff.
    ``refund_id``: our Refund row's id, from the refund's metadata (None for one made elsewhere)."""

    id: str
    status: str
    amount: int = 0
    refund_id: int | None = None
    provider_status: str = ""
    failure_reason: str = ""


# Stripe's refund statuses (API reference, the Refund object's ``status``): ``pending``,
# ``requires_action``, ``succeeded``, ``failed``, ``canceled``. Only ``succeeded`` means the money
# went back to the payer; a succeeded refund can still fail later (the card was closed): Stripe
# then puts the money back in our balance (``failure_balance_transaction``) and says so in
# ``charge.refund.updated`` / ``refund.updated`` / ``refund.failed``. A status Stripe adds later
# counts as pending: it moves nothing.
_REFUND_STATUS = {"succeeded": "succeeded", "pending": "pending", "requires_action": "pending",
                  "failed": "failed", "canceled": "failed"}


def refund_from(obj: Any, *, refund_id: int | None = None) -> ProviderRefund:
    """A Stripe refund object (an API answer or an event's) as our result."""
    raw = str(_get(obj, "status", "") or "")
    ours = str(_get(_get(obj, "metadata"), "refund_id", "") or "")
    return ProviderRefund(id=str(_get(obj, "id", "") or ""), status=_REFUND_STATUS.get(raw, "pending"),
                          amount=int(_get(obj, "amount", 0) or 0),
                          refund_id=refund_id if refund_id is not None else (int(ours) if ours.isdigit() else None),
                          provider_status=raw, failure_reason=str(_get(obj, "failure_reason", "") or ""))


@dataclass(frozen=True)
class ProviderDispute:
    """A dispute as the provider reports it. ``funds_withdrawn``: a chargeback, the provider took
    the disputed amount (and its dispute fee) from our balance; otherwise an inquiry, which moved
    no money. ``outcome``: "won" / "lost" once a chargeback is decided. ``closed``: nothing more
    will happen to this dispute (an inquiry closed in our favour, a decided chargeback)."""

    id: str
    status: str  # the provider's own word, kept for staff
    funds_withdrawn: bool
    outcome: str | None = None
    closed: bool = False


# Stripe's dispute statuses (API reference, the Dispute object's ``status``). An inquiry (a
# "retrieval" for some card brands) is ``warning_*``: the issuer asks about the payment, no funds
# are withdrawn and no dispute fee is charged; it closes as ``warning_closed`` or escalates into a
# chargeback. A chargeback is withdrawn from the balance when it is opened (``needs_response``),
# and stays withdrawn while it is reviewed and if it is lost.
_CHARGEBACK_STATUSES = frozenset({"needs_response", "under_review", "won", "lost"})
_CLOSED_STATUSES = frozenset({"warning_closed", "won", "lost", "prevented"})


def dispute_from_event(kind: str, obj: dict[str, Any]) -> ProviderDispute:
    """A ``charge.dispute.*`` event's dispute. Funds were withdrawn when the event says so
    (``charge.dispute.funds_withdrawn``), when the dispute is a chargeback by its status, or when
    its ``balance_transactions`` (empty for an inquiry) hold a withdrawal. Anything else — an
    inquiry, ``prevented``, a status Stripe adds later — moves no money here."""
    status = str(obj.get("status") or "")
    withdrawals = [txn for txn in obj.get("balance_transactions") or []
                   if isinstance(txn, dict) and int(txn.get("amount") or 0) < 0]
    withdrawn = kind == "charge.dispute.funds_withdrawn" or status in _CHARGEBACK_STATUSES or bool(withdrawals)
    return ProviderDispute(id=str(obj.get("id") or ""), status=status, funds_withdrawn=withdrawn,
                           outcome=status if status in ("won", "lost") else None,
                           closed=status in _CLOSED_STATUSES)


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


def cancel_payment(payment: Any) -> ProviderPayment:
    """Cancel a payment the payer did not complete (3-D Secure abandoned, a tab closed), so that it
    can never charge later. The provider refuses to cancel one that succeeded or is processing
    meanwhile: then its current state is returned, for the caller to apply."""
    stripe_client = client()
    try:
        pi = stripe_client.v1.payment_intents.cancel(payment.provider_id)
    except stripe.InvalidRequestError:
        return retrieve_payment(payment)
    except stripe.StripeError as exc:
        raise ProviderError(str(exc)) from exc
    return _to_result(stripe_client, pi)


def fee_for_charge(charge_id: str) -> int | None:
    try:
        return _fee_of(client(), charge_id)
    except stripe.StripeError as exc:
        raise ProviderError(str(exc)) from exc


def refund(refund: Any) -> ProviderRefund:
    """Ask for ``refund`` (our row): its answer may well be pending (Stripe's ``pending`` or
    ``requires_action``); the refund's events say later whether it succeeded."""
    stripe_client = client()
    amount, _ = to_provider_amount(Money(refund.amount, refund.payment.currency))
    try:
        result = stripe_client.v1.refunds.create(
            {"payment_intent": refund.payment.provider_id, "amount": amount,
             "metadata": {"refund_id": str(refund.pk), "payment_id": str(refund.payment_id)}},  # type: ignore[typeddict-item]
            {"idempotency_key": refund.idempotency_key})
    except stripe.InvalidRequestError as exc:
        if exc.http_status != 400:
            return _raise(exc)
        return ProviderRefund(id="", status="failed", amount=refund.amount, refund_id=refund.pk,
                              provider_status="refused", failure_reason=exc.code or "invalid_request")
    except stripe.StripeError as exc:
        raise ProviderError(str(exc)) from exc
    return refund_from(result, refund_id=refund.pk)


def refunds_of_payment(intent_id: str) -> list[ProviderRefund]:
    """Every refund of the PaymentIntent (all pages), as the provider sees them now. A
    PaymentIntent the provider does not know has none."""
    out: list[ProviderRefund] = []
    try:
        page = client().v1.refunds.list({"payment_intent": intent_id, "limit": 100})  # type: ignore[typeddict-item]
        for obj in page.auto_paging_iter():
            out.append(refund_from(obj))
    except stripe.InvalidRequestError as exc:
        if exc.http_status == 404:
            return []
        raise ProviderError(str(exc)) from exc
    except stripe.StripeError as exc:
        raise ProviderError(str(exc)) from exc
    return out


def refund_unrecorded(intent_id: str, *, reason: str = "unrecorded_charge") -> ProviderRefund:
    """Refund in full a charge whose money we do not book: it has no payment row of ours
    (webhooks: "unrecorded charges"), or its late success would pay for something twice
    (``services._succeed_after_failure``). Keyed by the PaymentIntent, so however often it is
    retried the payer is refunded once."""
    stripe_client = client()
    try:
        result = stripe_client.v1.refunds.create(
            {"payment_intent": intent_id, "metadata": {"reason": reason}},  # type: ignore[typeddict-item]
            {"idempotency_key": f"unrecorded-refund:{intent_id}"})
    except stripe.StripeError as exc:
        raise ProviderError(str(exc)) from exc
    return refund_from(result)


def _raise(exc: Exception) -> ProviderRefund:
    raise ProviderError(str(exc)) from exc


# --- Connect: connected accounts, transfers, balance (payouts) ----------------------------------
# The same contract for Stripe and for the local Connect stand-in (connect_fake.py): payouts see
# only these results. Transient problems raise ``ProviderError`` (retry with the same key: nothing
# or exactly the first result happens); a refusal that retrying cannot fix raises ``ProviderRefused``.
class ProviderRefused(Exception):
    """The provider executed the request and said no (e.g. the destination cannot receive transfers)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class ProviderRateLimited(ProviderError):
    """429: nothing happened; retry after a pause."""


@dataclass(frozen=True)
class ProviderAccount:
    id: str
    payouts_enabled: bool
    details_submitted: bool
    external_account: str = ""  # the payout destination's id (a change restarts the cooling-off)


@dataclass(frozen=True)
class ProviderTransfer:
    id: str
    amount: int
    currency: str  # upper case, like ours
    destination: str
    transfer_group: str
    amount_reversed: int = 0
    created: int = 0
    metadata: dict | None = None


def connect_client() -> stripe.StripeClient:
    """Like ``client()``, with a bounded wait: a payout call that hangs is retried with its key."""
    timeout = settings.STRIPE_CONNECT_TIMEOUT_SECONDS
    return stripe.StripeClient(
        settings.STRIPE_SECRET_KEY, base_addresses={"api": settings.STRIPE_API_BASE},
        max_network_retries=0, http_client=stripe.RequestsClient(timeout=timeout))


def _connect_call(call):
    try:
        return call()
    except stripe.RateLimitError as exc:
        raise ProviderRateLimited(str(exc)) from exc
    except stripe.IdempotencyError as exc:
        # Our key reused with other parameters: never guess; leave it for a person (stays retryable).
        raise ProviderError(f"idempotency_error: {exc}") from exc
    except stripe.InvalidRequestError as exc:
        if exc.code == "balance_insufficient":
            raise ProviderError("balance_insufficient: the platform balance cannot cover it") from exc
        raise ProviderRefused(exc.code or "invalid_request", exc.user_message or str(exc)) from exc
    except stripe.StripeError as exc:  # timeouts, connection errors, 5xx
        raise ProviderError(str(exc)) from exc


def account_from(obj: Any) -> ProviderAccount:
    externals = _get(_get(obj, "external_accounts"), "data") or []
    return ProviderAccount(id=obj["id"], payouts_enabled=bool(_get(obj, "payouts_enabled", False)),
                           details_submitted=bool(_get(obj, "details_submitted", False)),
                           external_account=_get(externals[0], "id", "") if externals else "")


def connect_account_create(*, email: str, country: str, metadata: dict[str, str],
                           idempotency_key: str) -> ProviderAccount:
    params = {"type": "express", "country": country, "email": email, "metadata": metadata,
              "capabilities": {"transfers": {"requested": True}}}
    return account_from(_connect_call(lambda: connect_client().v1.accounts.create(
        params, {"idempotency_key": idempotency_key})))  # type: ignore[arg-type]


def connect_account_retrieve(account_id: str) -> ProviderAccount:
    return account_from(_connect_call(lambda: connect_client().v1.accounts.retrieve(account_id)))


def connect_account_link(*, account_id: str, refresh_url: str, return_url: str) -> str:
    link = _connect_call(lambda: connect_client().v1.account_links.create({
        "account": account_id, "refresh_url": refresh_url, "return_url": return_url,
        "type": "account_onboarding"}))
    return link["url"]


def _transfer_from(obj: Any) -> ProviderTransfer:
    return ProviderTransfer(id=obj["id"], amount=int(obj["amount"]), currency=str(obj["currency"]).upper(),
                            destination=str(_get(obj, "destination", "") or ""),
                            transfer_group=str(_get(obj, "transfer_group", "") or ""),
                            amount_reversed=int(_get(obj, "amount_reversed", 0) or 0),
                            created=int(_get(obj, "created", 0) or 0),
                            metadata=_plain(_get(obj, "metadata", None)))


def _plain(obj: Any) -> dict:
    if obj is None:
        return {}
    return obj.to_dict() if hasattr(obj, "to_dict") else dict(obj)


def transfer_create(*, amount: Money, destination: str, transfer_group: str, metadata: dict[str, str],
                    idempotency_key: str) -> ProviderTransfer:
    value, currency = to_provider_amount(amount)
    params = {"amount": value, "currency": currency, "destination": destination,
              "transfer_group": transfer_group, "metadata": metadata}
    return _transfer_from(_connect_call(lambda: connect_client().v1.transfers.create(
        params, {"idempotency_key": idempotency_key})))  # type: ignore[arg-type]


def transfers_list(*, transfer_group: str = "", created_gte: int | None = None) -> list[ProviderTransfer]:
    """Every transfer matching (all pages), newest first."""
    out: list[ProviderTransfer] = []
    params: dict[str, Any] = {"limit": 100}
    if transfer_group:
        params["transfer_group"] = transfer_group
    if created_gte is not None:
        params["created"] = {"gte": created_gte}
    stripe_client = connect_client()
    while True:
        page = _connect_call(lambda: stripe_client.v1.transfers.list(params))  # type: ignore[arg-type]  # noqa: B023
        data = _get(page, "data") or []
        out += [_transfer_from(t) for t in data]
        if not _get(page, "has_more") or not data:
            return out
        params = {**params, "starting_after": data[-1]["id"]}


def transfer_reverse(*, transfer_id: str, amount: Money, idempotency_key: str) -> str:
    value, _ = to_provider_amount(amount)
    reversal = _connect_call(lambda: connect_client().v1.transfers.reversals.create(
        transfer_id, {"amount": value}, {"idempotency_key": idempotency_key}))
    return reversal["id"]


def balance_available() -> dict[str, int]:
    """The platform's available balance per currency (upper case), for transfers."""
    balance = _connect_call(lambda: connect_client().v1.balance.retrieve())
    return {str(row["currency"]).upper(): int(row["amount"]) for row in (_get(balance, "available") or [])}


def _since(created_gte: int) -> dict[str, Any]:
    # localstripe (the local fake) refuses list filters: it gets none, and we filter by ``created``.
    return {"limit": 100} if settings.STRIPE_FAKE else {"limit": 100, "created": {"gte": created_gte}}


def payment_intents_list(*, created_gte: int) -> list[dict[str, Any]]:
    """Payment intents (id, amount, currency, status) since ``created_gte``, for reconciliation."""
    out: list[dict[str, Any]] = []
    try:
        page = client().v1.payment_intents.list(_since(created_gte))  # type: ignore[arg-type]
        for pi in page.auto_paging_iter():
            if int(_get(pi, "created", 0) or 0) < created_gte:
                continue
            out.append({"id": pi["id"], "amount": int(pi["amount"]),
                        "currency": str(pi["currency"]).upper(), "status": _get(pi, "status", "")})
    except stripe.StripeError as exc:
        raise ProviderError(str(exc)) from exc
    return out


def refunds_list(*, created_gte: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    try:
        page = client().v1.refunds.list(_since(created_gte))  # type: ignore[arg-type]
        for refund in page.auto_paging_iter():
            if int(_get(refund, "created", 0) or 0) < created_gte:
                continue
            out.append({"id": refund["id"], "amount": int(refund["amount"]),
                        "status": _get(refund, "status", "")})
    except stripe.StripeError as exc:
        raise ProviderError(str(exc)) from exc
    return out
