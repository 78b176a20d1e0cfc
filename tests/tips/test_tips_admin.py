"""Staff refund a tip in the admin: a confirmation page with a reason, then the refund."""

import pytest

from creatornext.audit.models import AuditEvent
from creatornext.ledger import selectors as ledger
from tests.support.world import make_user
from tips.models import Tip

pytestmark = pytest.mark.django_db


def test_refund_asks_for_confirmation_and_a_reason_then_refunds(tip, fan, creator, client):
    tip_id = tip(fan, cents=1000).json()["id"]
    staff = make_user("boss", staff=True)
    staff.is_superuser = True
    staff.save()
    client.force_login(staff)
    url = "/admin/tips/tip/"
    confirm = client.post(url, {"action": "refund", "_selected_action": [tip_id]})
    assert confirm.status_code == 200 and b"Refund these tips?" in confirm.content
    assert Tip.objects.get(pk=tip_id).status == "succeeded"  # nothing yet
    missing = client.post(url, {"action": "refund", "_selected_action": [tip_id], "apply": "1"})
    assert missing.status_code == 302 and Tip.objects.get(pk=tip_id).status == "succeeded"
    done = client.post(url, {"action": "refund", "_selected_action": [tip_id], "apply": "1",
                             "reason": "fan's card was stolen"})
    assert done.status_code == 302
    assert Tip.objects.get(pk=tip_id).status == "refunded"
    assert ledger.wallet(creator.user)["cash"][0]["pending"] == 0
    assert AuditEvent.objects.get(action="tip.refunded").reason == "fan's card was stolen"


def test_staff_who_may_only_look_at_tips_cannot_refund_them(tip, fan, creator, client, nothing_changed):
    """Money-moving admin actions need the model's change permission (core.admin.StaffDecisions):
    a staff member with the view permission sees the tips, is offered no refund, and a crafted
    POST of the action changes nothing."""
    from django.contrib.auth.models import Permission

    tip_id = tip(fan, cents=1000).json()["id"]
    looker = make_user("looker", staff=True)
    looker.user_permissions.add(Permission.objects.get(codename="view_tip"))
    client.force_login(looker)
    url = "/admin/tips/tip/"
    page = client.get(url)
    assert page.status_code == 200 and b'value="refund"' not in page.content
    with nothing_changed():
        for action in ("refund", "release_velocity_hold"):
            client.post(url, {"action": action, "_selected_action": [tip_id], "apply": "1", "reason": "x"})
    assert Tip.objects.get(pk=tip_id).status == "succeeded"

    looker.user_permissions.add(Permission.objects.get(codename="change_tip"))
    client.force_login(looker)  # permissions are cached per user object: a fresh session reads them
    assert b'value="refund"' in client.get(url).content
