"""An escrow payment the brand never completed (3-D Secure abandoned) no longer holds the
collaboration forever: funding again, cancelling, or the unfunded-in-time job gives it up — canceled
at the provider, so it can never charge later — and a payment that succeeded meanwhile is applied
instead (localstripe)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from creatornext.ledger.checks import ledger_check
from creatornext.payments import provider
from creatornext.payments.models import Payment, PaymentStatus
from marketplace import escrow
from marketplace.models import Collaboration
from tests.marketplace.collab_helpers import accepted_collaboration, fund, post
from tests.marketplace.helpers import brand_member, listed_creator
from tests.support.stripe import authenticate, card

FEE = 50_000
THREE_D_SECURE = "4000002500003155"


@pytest.fixture
def waiting(db, fake_stripe):
    """A collaboration whose brand started paying with a card that needs 3-D Secure and stopped
    there: (brand user, collaboration id, that payment)."""
    buyer, brand = brand_member("buyer")
    collab_id = accepted_collaboration(buyer, brand, listed_creator("ana.cooks"), fee=FEE)
    started = fund(buyer, collab_id, payment_method=card(THREE_D_SECURE))
    assert started.status_code == 200 and started.json()["state"] == "pending_funding", started.content
    payment = Collaboration.objects.get(pk=collab_id).payment
    assert payment.status == PaymentStatus.REQUIRES_ACTION
    return buyer, collab_id, payment


def at_provider(payment: Payment) -> str:
    return provider.client().v1.payment_intents.retrieve(payment.provider_id)["status"]


def test_funding_again_gives_up_the_unfinished_payment_and_funds_once(waiting):
    buyer, collab_id, first = waiting
    funded = fund(buyer, collab_id)  # another card
    assert funded.status_code == 200 and funded.json()["state"] == "funded", funded.content
    first.refresh_from_db()
    assert first.status == PaymentStatus.CANCELED and at_provider(first) == "canceled"
    collaboration = Collaboration.objects.get(pk=collab_id)
    assert collaboration.payment_id != first.pk and escrow.escrow_held(collaboration) == FEE
    assert ledger_check() == []


@pytest.mark.parametrize("side", ["brand", "creator"])
def test_cancelling_gives_up_the_unfinished_payment(waiting, side):
    buyer, collab_id, payment = waiting
    collaboration = Collaboration.objects.get(pk=collab_id)
    actor = buyer if side == "brand" else collaboration.creator.user
    response = post(actor, f"collaborations/{collab_id}/cancel/", {"reason": "changed plans"})
    assert response.status_code == 200 and response.json()["state"] == "cancelled", response.content
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.CANCELED and at_provider(payment) == "canceled"
    assert escrow.escrow_held(Collaboration.objects.get(pk=collab_id)) == 0 and ledger_check() == []


def test_the_unfunded_in_time_job_gives_up_the_unfinished_payment(waiting):
    _, collab_id, payment = waiting
    Collaboration.objects.filter(pk=collab_id).update(fund_by=timezone.now() - timedelta(minutes=1))
    assert escrow.unfunded_cancel_due() == 1
    payment.refresh_from_db()
    assert Collaboration.objects.get(pk=collab_id).state == "cancelled"
    assert payment.status == PaymentStatus.CANCELED and at_provider(payment) == "canceled"
    assert escrow.unfunded_cancel_due() == 0 and ledger_check() == []


def test_a_payment_completed_meanwhile_is_applied_not_cancelled(waiting):
    """The brand finished 3-D Secure just before the job ran (its webhook not here yet): the
    provider refuses to cancel a succeeded payment, and the collaboration is funded instead."""
    _, collab_id, payment = waiting
    authenticate(payment)
    Collaboration.objects.filter(pk=collab_id).update(fund_by=timezone.now() - timedelta(minutes=1))
    assert escrow.unfunded_cancel_due() == 0
    payment.refresh_from_db()
    collaboration = Collaboration.objects.get(pk=collab_id)
    assert (payment.status, at_provider(payment)) == (PaymentStatus.SUCCEEDED, "succeeded")
    assert collaboration.state == "funded" and escrow.escrow_held(collaboration) == FEE
    assert ledger_check() == []
