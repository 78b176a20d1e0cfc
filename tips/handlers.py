"""What the ledger does when a tip's payment changes state. Registered with the payments core.

Every posting's key comes from the tip (``tip:<id>:captured``, ``tip:<id>:refund:<n>``), so even
if a handler ran twice the ledger would move once. Accounting (value-holder convention, 0004):

- success: provider inflow −gross; processor fees +fee; creator pending +net (debt netted first)
- refund of X (cumulative R returned so far): the creator returns min(X, net − R); the platform's
  loss account covers the rest (the fee the provider keeps); provider inflow +X
- dispute opened: like a refund of what is not refunded yet, plus the provider's dispute fee
  (a platform loss)
- dispute won: the provider returns the disputed gross; the creator gets back what the dispute took
"""

from __future__ import annotations

from django.db.models import QuerySet

from creatornext.core import config
from creatornext.ledger.config import HOLD_DAYS
from creatornext.ledger.models import AccountKind, Transaction
from creatornext.ledger.services import (
    Income,
    Leg,
    Posting,
    creator_cash_take,
    creator_income,
    creator_income_many,
    creator_income_of,
    platform_account,
    post,
)
from creatornext.money import Money
from creatornext.payments.config import DISPUTE_FEE
from creatornext.payments.models import Payment
from creatornext.payments.services import PurposeHandlers, register_purpose
from tips import velocity


def _tip(payment: Payment):
    from tips.models import Tip

    # By the id in the payment's metadata: on the confirmation path the handler runs before the
    # tip row points at its payment.
    return Tip.objects.select_related("creator__user").get(pk=payment.metadata["tip_id"])


def _accounts(currency: str):
    return (platform_account(AccountKind.PROVIDER_INFLOW, currency),
            platform_account(AccountKind.PROCESSOR_FEES, currency),
            platform_account(AccountKind.LOSSES, currency))


def _income(payment: Payment, tip: dict, hourly: tuple[int, int]) -> Income:
    """The creator's credit for a tip whose payment succeeded (``tip``: velocity.credit_facts)."""
    inflow, fees, _ = _accounts(payment.currency)
    fee = payment.fee or 0
    legs = [Leg(inflow, -payment.amount)] + ([Leg(fees, fee)] if fee else [])
    # Past the fan's hourly velocity the credit waits for staff (tips/velocity.py).
    held = velocity.over_velocity(tip, hourly)
    return Income(key=f"tip:{tip['pk']}:captured", kind="tip", owner=tip["creator__user_id"],
                  amount=Money(payment.amount - fee, payment.currency), source_legs=legs,
                  ref=f"tip:{tip['pk']}", memo="Tip" + (" (anonymous)" if tip["anonymous"] else ""),
                  # The normal hold in force now, for staff's release later (a record keeps the
                  # rules it was made under: a later change of ledger.hold_days does not apply).
                  metadata={"velocity_held": True, "hold_days": config.get(HOLD_DAYS)} if held else None,
                  hold_days=velocity.HELD_DAYS if held else None)


def on_succeeded(payment: Payment) -> None:
    income = _income(payment, velocity.credit_facts(payment.metadata["tip_id"]), velocity.limits())
    creator_income_of(income)


def on_succeeded_many(payments: list[Payment]) -> None:
    """The drain's batches: every tip's facts in one query, every credit in one ledger call."""
    facts = velocity.credit_facts_many([int(p.metadata["tip_id"]) for p in payments])
    hourly = velocity.limits()
    creator_income_many([_income(p, facts[int(p.metadata["tip_id"])], hourly) for p in payments])


def tip_returns(tip) -> tuple[QuerySet[Transaction], QuerySet[Transaction]]:
    """The tip's postings that took money back from its creator (refunds, disputes) and gave it
    back (won disputes), found by the tip's ref in their partial index (ledger
    ``TIP_RETURN_KINDS``), not among every refund and dispute there is."""
    ref = f"tip:{tip.pk}"
    return (Transaction.objects.filter(ref=ref, kind__in=["tip_refund", "tip_dispute"]),
            Transaction.objects.filter(ref=ref, kind="tip_dispute_won"))


def _returned_so_far(tip) -> int:
    taken, given = tip_returns(tip)
    return (sum(t.metadata.get("creator_returned", 0) for t in taken)
            - sum(t.metadata.get("creator_credited", 0) for t in given))


def _post_platform_only(*, key: str, kind: str, tip, legs: list[Leg], metadata: dict) -> None:
    legs = [leg for leg in legs if leg.amount]
    if len(legs) >= 2:
        post(Posting(key=key, kind=kind, legs=legs, ref=f"tip:{tip.pk}", metadata=metadata))


def _take_back(payment: Payment, *, amount: int, key: str, kind: str, provider_fee: int = 0,
               metadata: dict | None = None) -> None:
    """Money leaves to the provider: ``amount`` back to the payer plus ``provider_fee``. The creator
    returns what is left of their net; the platform's loss account covers the rest."""
    tip = _tip(payment)
    inflow, _, losses = _accounts(payment.currency)
    net = payment.amount - (payment.fee or 0)
    out = amount + provider_fee
    creator_part = max(0, min(amount, net - _returned_so_far(tip)))
    sink = [Leg(inflow, out)] + ([Leg(losses, -(out - creator_part))] if out != creator_part else [])
    metadata = {**(metadata or {}), "creator_returned": creator_part}
    if creator_part == 0:
        _post_platform_only(key=key, kind=kind, tip=tip, legs=sink, metadata=metadata)
        return
    creator_cash_take(key=key, kind=kind, owner=tip.creator.user,
                      amount=Money(creator_part, payment.currency), sink_legs=sink, ref=f"tip:{tip.pk}",
                      memo=kind.replace("_", " ").capitalize(), metadata=metadata,
                      hold_transaction=Transaction.objects.filter(key=f"tip:{tip.pk}:captured").first())


def on_refunded(payment: Payment, amount: int) -> None:
    _take_back(payment, amount=amount, key=f"tip:{_tip(payment).pk}:refund:{payment.refunded_amount}",
               kind="tip_refund")


def on_dispute_created(payment: Payment) -> None:
    # The provider takes back the disputed gross (what is not refunded yet) plus its dispute fee.
    # What was disputed is kept: a refund while the dispute is open must not change what winning
    # it brings back.
    disputed = payment.amount - payment.refunded_amount
    _take_back(payment, amount=disputed, key=f"tip:{_tip(payment).pk}:dispute", kind="tip_dispute",
               provider_fee=config.get(DISPUTE_FEE), metadata={"disputed": disputed})


def on_dispute_closed(payment: Payment, won: bool) -> None:
    """Won: the provider returns the disputed gross; the creator gets back what the dispute took."""
    if not won:
        return
    tip = _tip(payment)
    inflow, _, losses = _accounts(payment.currency)
    dispute_txn = Transaction.objects.filter(key=f"tip:{tip.pk}:dispute").first()
    if dispute_txn is None:
        return
    took = dispute_txn.metadata.get("creator_returned", 0)
    disputed = dispute_txn.metadata.get("disputed", payment.amount - payment.refunded_amount)
    legs = [Leg(inflow, -disputed)] + ([Leg(losses, disputed - took)] if disputed != took else [])
    key = f"tip:{tip.pk}:dispute_won"
    if took == 0:
        _post_platform_only(key=key, kind="tip_dispute_won", tip=tip, legs=legs,
                            metadata={"creator_credited": 0})
        return
    creator_income(key=key, kind="tip_dispute_won", owner=tip.creator.user,
                   amount=Money(took, payment.currency), source_legs=legs, ref=f"tip:{tip.pk}",
                   metadata={"creator_credited": took})


def register() -> None:
    register_purpose("tip", PurposeHandlers(on_succeeded=on_succeeded, on_succeeded_many=on_succeeded_many,
                                            on_refunded=on_refunded,
                                            on_dispute_created=on_dispute_created,
                                            on_dispute_closed=on_dispute_closed))
