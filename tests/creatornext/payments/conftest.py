"""A real purpose for the payments boundary's tests: a fan pays a creator (like a tip), and the
handlers post to the ledger with keys from the payment, exactly as feature apps do."""

from __future__ import annotations

import pytest
from django.conf import settings

from creatornext.accounts.models import User
from creatornext.ledger.models import AccountKind
from creatornext.ledger.services import (
    Leg,
    Posting,
    creator_cash_take,
    creator_income,
    platform_account,
    post,
)
from creatornext.money import Money
from creatornext.payments.services import PurposeHandlers, register_purpose

CALLS: list[tuple[str, int]] = []


def _creator(payment) -> User:
    return User.objects.get(pk=payment.metadata["creator_id"])


def on_succeeded(payment):
    CALLS.append(("succeeded", payment.pk))
    inflow = platform_account(AccountKind.PROVIDER_INFLOW, payment.currency)
    fees = platform_account(AccountKind.PROCESSOR_FEES, payment.currency)
    net = payment.amount - payment.fee
    legs = [Leg(inflow, -payment.amount)] + ([Leg(fees, payment.fee)] if payment.fee else [])
    creator_income(key=f"testpay:{payment.pk}:captured", kind="test_payment", owner=_creator(payment),
                   amount=Money(net, payment.currency), source_legs=legs, ref=f"payment:{payment.pk}")


def on_refunded(payment, amount):
    CALLS.append(("refunded", payment.pk))
    inflow = platform_account(AccountKind.PROVIDER_INFLOW, payment.currency)
    losses = platform_account(AccountKind.LOSSES, payment.currency)
    # The creator returns the net; the platform loses the fee the provider keeps.
    net = payment.amount - payment.fee
    creator_cash_take(key=f"testpay:{payment.pk}:refund:{payment.refunded_amount}", kind="test_refund",
                      owner=_creator(payment), amount=Money(net, payment.currency),
                      sink_legs=[Leg(inflow, amount), Leg(losses, net - amount)] if net != amount
                      else [Leg(inflow, amount)])


def on_dispute_created(payment):
    CALLS.append(("dispute", payment.pk))


def on_dispute_closed(payment, won):
    CALLS.append(("dispute_closed_won" if won else "dispute_closed_lost", payment.pk))


register_purpose("test_payment", PurposeHandlers(
    on_succeeded=on_succeeded, on_refunded=on_refunded, on_dispute_created=on_dispute_created,
    on_dispute_closed=on_dispute_closed))


@pytest.fixture(autouse=True)
def _reset_calls():
    CALLS.clear()


__all__ = ["CALLS", "Posting", "post"]


@pytest.fixture
def send(django_capture_on_commit_callbacks):
    """Deliver a signed event and run what the view queues after commit (the processing task)."""
    from django.test import Client

    from tests.support.stripe import deliver

    def _send(evt, secret=None):
        secret = secret or settings.STRIPE_WEBHOOK_SECRETS[0]
        with django_capture_on_commit_callbacks(execute=True):
            return deliver(Client(), evt, secret)

    return _send


def calls() -> list[tuple[str, int]]:
    """What the test purpose's handlers were asked to do, in order."""
    return list(CALLS)
