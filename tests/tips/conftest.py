import datetime

import pytest

from tests.eligibility.helpers import enroll, make_creator
from tests.support.world import api_client, make_user


@pytest.fixture
def creator(db):
    profile = make_creator("maya.makes")
    enroll(profile, "creator-next", "tips")
    return profile


@pytest.fixture
def fan(db):
    user = make_user("fan")
    api_client(user)  # token exists before any `nothing_changed` block
    return user


@pytest.fixture
def tip(fake_stripe, django_capture_on_commit_callbacks):
    """POST /api/v1/tips/ as ``user``; returns the response (on-commit work runs)."""
    def _tip(user, creator_handle="maya.makes", cents=1000, key=None, currency="USD", **extra):
        body = {"creator": creator_handle, "amount": {"amount": cents, "currency": currency},
                "payment_method": "pm_card_visa", **extra}
        with django_capture_on_commit_callbacks(execute=True):
            key = key or f"k-{datetime.datetime.now().timestamp()}"
            return api_client(user).post("/api/v1/tips/", body, format="json", HTTP_IDEMPOTENCY_KEY=key)
    return _tip




def pending_tip_event(creator, fan, ref: str, created_at=None):
    """A tip whose payment is processing (as POST /api/v1/tips/ leaves it before the provider
    answers) and its provider success event, stored but not applied. Returns (tip, event)."""
    from creatornext.payments.models import Payment
    from creatornext.payments.webhooks import webhook_event_store
    from tests.support.stripe import pi_succeeded
    from tips.models import Tip

    payment = Payment.objects.create(purpose="tip", ref=f"tip:{ref}", payer=fan, amount=1000,
                                     currency="USD", status="processing", provider_id=f"pi_{ref}")
    tip = Tip.objects.create(amount=1000, currency="USD", creator=creator, fan=fan, payment=payment, limits={})
    if created_at is not None:
        Tip.objects.filter(pk=tip.pk).update(created_at=created_at)
    payment.metadata = {"tip_id": tip.pk}
    payment.save()
    return tip, webhook_event_store(pi_succeeded(payment, fee=59))[0]


@pytest.fixture
def paid_tip(db, fake_stripe, django_capture_on_commit_callbacks):
    """A 10.00 tip to @maya.makes (enrolled), paid by card: (the tip with its payment, the creator)."""
    from tips.models import Tip

    creator = make_creator("maya.makes")
    enroll(creator, "creator-next", "tips")
    fan = make_user("fan")
    with django_capture_on_commit_callbacks(execute=True):
        tip_id = api_client(fan).post("/api/v1/tips/", {
            "creator": "maya.makes", "amount": {"amount": 1000, "currency": "USD"},
            "payment_method": "pm_card_visa"}, format="json", HTTP_IDEMPOTENCY_KEY="k").json()["id"]
    tip = Tip.objects.select_related("payment").get(pk=tip_id)
    assert tip.payment.status == "succeeded"
    return tip, creator
