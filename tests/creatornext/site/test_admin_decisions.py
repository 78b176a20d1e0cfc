"""Every admin action that moves money or changes someone's standing is offered only to staff
holding the model's change permission (core.admin.StaffDecisions), also on read-only admins:
staff who may only look are offered none of them."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission
from django.test import RequestFactory

from tests.support.world import make_user

pytestmark = pytest.mark.django_db

# (app_label, model) → the decisions its admin offers.
DECISIONS = {
    ("tips", "tip"): {"refund", "release_velocity_hold"},
    ("marketplace", "collaboration"): {"release", "refund"},
    ("gifts", "redemption"): {"approve", "reject"},
    ("accounts", "brand"): {"verify", "unverify"},
    ("payouts", "payoutbatch"): {"resume"},
    ("payments", "webhookevent"): {"retry_now"},
    ("core", "staffapproval"): {"withdraw"},
    ("eligibility", "creatormetrics"): {"reevaluate"},
}


def _admin_for(app_label: str, model: str):
    return next(a for m, a in admin.site._registry.items()
                if (m._meta.app_label, m._meta.model_name) == (app_label, model))


def _request(user):
    request = RequestFactory().get("/admin/")
    request.user = user
    return request


@pytest.mark.parametrize(("app_label", "model"), list(DECISIONS))
def test_view_only_staff_are_offered_no_decision_and_change_permission_offers_them(app_label, model):
    model_admin = _admin_for(app_label, model)
    looker = make_user(f"look-{model}", staff=True)
    looker.user_permissions.add(Permission.objects.get(content_type__app_label=app_label,
                                                       codename=f"view_{model}"))
    assert model_admin.has_view_permission(_request(looker))
    assert not DECISIONS[(app_label, model)] & set(model_admin.get_actions(_request(looker)))

    decider = make_user(f"decide-{model}", staff=True)
    decider.user_permissions.add(*Permission.objects.filter(content_type__app_label=app_label,
                                                            codename__in=[f"view_{model}", f"change_{model}"]))
    assert DECISIONS[(app_label, model)] <= set(model_admin.get_actions(_request(decider)))


def test_starting_a_payout_batch_needs_the_change_permission(client):
    looker = make_user("looker", staff=True)
    looker.user_permissions.add(Permission.objects.get(codename="view_payoutbatch"))
    client.force_login(looker)
    assert client.post("/admin/payouts/payoutbatch/start/").status_code == 403
