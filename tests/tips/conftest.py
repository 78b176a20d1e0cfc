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


