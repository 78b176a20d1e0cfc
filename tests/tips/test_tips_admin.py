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
