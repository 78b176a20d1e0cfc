"""The stripe library over HTTP against the launched localstripe (our launcher, loopback only)."""

from __future__ import annotations

import pytest

from creatornext.ledger import selectors
from creatornext.money import Money
from creatornext.payments.models import Payment, PaymentStatus
from creatornext.payments.services import payment_create, payment_refresh
from tests.creatornext.payments.conftest import CALLS
from tests.support.stripe import authenticate, card
from tests.support.world import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def people():
    return make_user("fan"), make_user("creator")


def pay(fan, creator, cents, method):
    return payment_create(purpose="test_payment", ref="test:1", payer=fan, amount=Money(cents, "USD"),
                          payment_method=method, metadata={"creator_id": creator.pk})


def test_a_successful_card_with_the_providers_fee(fake_stripe, people):
    fan, creator = people
    payment = pay(fan, creator, 1000, "pm_card_visa")
    assert payment.status == PaymentStatus.SUCCEEDED
    assert payment.provider_id.startswith("pi_")
    assert payment.charge_id.startswith("ch_")
    # The launcher's fake reports Stripe's standard fee: 2.9% of 10.00 + 0.30 = 0.59
    assert payment.fee == 59
    assert payment.amount - payment.fee == payment.net == 941
    assert selectors.wallet(creator)["cash"][0]["pending"] == 941
    assert [h.to_status for h in payment.history.all()] == ["succeeded"]
    assert [("succeeded", payment.pk)] == CALLS


def test_a_declined_card_is_a_failed_payment_and_credits_nothing(fake_stripe, people):
    fan, creator = people
    payment = pay(fan, creator, 1000, card("4000000000000341"))
    assert payment.status == PaymentStatus.FAILED
    assert payment.failure_code == "card_declined"
    assert selectors.wallet(creator)["cash"] == []
    assert CALLS == []


def test_3d_secure_goes_through_requires_action_to_success(fake_stripe, people):
    fan, creator = people
    payment = pay(fan, creator, 1500, card("4000002500003155"))
    assert payment.status == PaymentStatus.REQUIRES_ACTION
    assert payment.client_secret.startswith(payment.provider_id + "_secret_")
    assert selectors.wallet(creator)["cash"] == []

    authenticate(payment)  # the payer authenticates in the browser

    payment = payment_refresh(payment=Payment.objects.get(pk=payment.pk))
    assert payment.status == PaymentStatus.SUCCEEDED
    assert [h.to_status for h in payment.history.all()] == ["requires_action", "succeeded"]
    assert payment.fee == 74  # 2.9% of 15.00 = 0.435 → 0.44, + 0.30
    assert selectors.wallet(creator)["cash"][0]["pending"] == 1500 - 74


def test_refund_through_the_provider_takes_the_net_back(fake_stripe, people):
    from creatornext.payments.services import payment_refund

    fan, creator = people
    staff = make_user("staff", staff=True)
    payment = pay(fan, creator, 1000, "pm_card_visa")
    refund = payment_refund(payment=payment, actor=staff, reason="fan asked")
    payment.refresh_from_db()
    assert refund.status == "succeeded" and refund.provider_id.startswith("re_")
    assert payment.status == PaymentStatus.REFUNDED and payment.refunded_amount == 1000
    assert selectors.wallet(creator)["cash"][0]["pending"] == 0
