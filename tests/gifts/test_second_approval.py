"""The two-person rule on redemption decisions (PRODUCT.md §7, issue 10): a redemption above
``staff.second_approval_above`` is decided only when a second, different staff member takes the
same decision; until then nothing moves."""

from __future__ import annotations

import pytest

from creatornext.audit.models import AuditEvent
from creatornext.core import config
from creatornext.core.approvals import SECOND_APPROVAL_ABOVE, SecondApprovalRefused, withdraw
from creatornext.core.models import StaffApproval
from creatornext.ledger import selectors as ledger
from gifts.models import Redemption
from gifts.services import redemption_review
from tests.eligibility.helpers import enroll, make_creator
from tests.support.ledger import give_diamonds
from tests.support.world import api_client, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def large(db):
    """A 600.00 redemption: alone past the 500.00 review threshold and the 500.00 two-person bar."""
    creator = make_creator("maya.makes")
    enroll(creator, "creator-next", "live-gifts")
    give_diamonds(creator.user, 200_000)
    response = api_client(creator.user).post("/api/v1/redemptions/", {"diamonds": 120_000}, format="json",
                                             HTTP_IDEMPOTENCY_KEY="big")
    assert response.json()["status"] == "in_review"
    return Redemption.objects.get(pk=response.json()["id"])


def staff(name):
    user = make_user(name, staff=True)
    user.is_superuser = True
    user.save()
    return user


def pending_cash(redemption):
    return ledger.wallet(redemption.creator.user)["cash"][0]["pending"] if ledger.wallet(
        redemption.creator.user)["cash"] else 0


def test_a_large_approval_waits_for_a_second_staff_member_then_pays(large, nothing_changed):
    first, second = staff("ana"), staff("bo")
    diamonds = ledger.wallet(large.creator.user)["diamonds"]

    # The first member's approval is recorded as a request; no money moves.
    redemption_review(redemption=large, actor=first, approve=True, reason="checked the streams")
    large.refresh_from_db()
    assert large.status == "in_review" and pending_cash(large) == 0
    request = StaffApproval.objects.get(subject=f"redemption:{large.pk}")
    assert (request.status, request.action, request.requested_by, request.amount) == (
        "pending", "redemption.approve", first, 60_000)

    # The same member cannot confirm their own request; the second cannot decide otherwise.
    with nothing_changed():
        with pytest.raises(SecondApprovalRefused, match="different staff member"):
            redemption_review(redemption=large, actor=first, approve=True, reason="again")
        with pytest.raises(SecondApprovalRefused, match="only confirm"):
            redemption_review(redemption=large, actor=second, approve=False, reason="looks odd")

    # A second member's approval confirms the request and pays the creator, once.
    redemption_review(redemption=large, actor=second, approve=True, reason="agree")
    large.refresh_from_db()
    request.refresh_from_db()
    assert large.status == "approved" and large.reviewed_by == second
    assert (request.status, request.decided_by) == ("confirmed", second)
    assert pending_cash(large) == 60_000
    assert ledger.wallet(large.creator.user)["diamonds"] == diamonds
    assert list(AuditEvent.objects.filter(action__startswith="approval.").order_by("id")
                .values_list("action", "actor")) == [("approval.requested", first.pk),
                                                     ("approval.confirmed", second.pk)]
    with pytest.raises(Exception, match="already approved"):
        redemption_review(redemption=large, actor=first, approve=True, reason="late")


def test_a_withdrawn_request_lets_staff_decide_otherwise(large):
    first, second = staff("ana"), staff("bo")
    diamonds = ledger.wallet(large.creator.user)["diamonds"]
    redemption_review(redemption=large, actor=first, approve=True, reason="fine")
    withdraw(approval=StaffApproval.objects.get(subject=f"redemption:{large.pk}"), actor=first,
             reason="missed the chargebacks")
    redemption_review(redemption=large, actor=first, approve=False, reason="chargebacks")
    redemption_review(redemption=large, actor=second, approve=False, reason="agree")
    large.refresh_from_db()
    assert large.status == "rejected"
    assert ledger.wallet(large.creator.user)["diamonds"] == diamonds + 120_000  # returned
    assert list(StaffApproval.objects.order_by("id").values_list("status", flat=True)) == ["withdrawn", "confirmed"]


def test_below_the_bar_one_member_decides_and_the_bar_is_a_staff_setting(large):
    first = staff("ana")
    config.set_value(definition=SECOND_APPROVAL_ABOVE, value=60_000, actor=first, reason="600.00 is fine")
    redemption_review(redemption=large, actor=first, approve=True, reason="checked")
    large.refresh_from_db()
    assert large.status == "approved" and pending_cash(large) == 60_000
    assert not StaffApproval.objects.exists()


def test_the_admin_review_queue_shows_the_request_and_the_second_member_confirms(large, client):
    first, second = staff("ana"), staff("bo")
    url = "/admin/gifts/redemption/"
    client.force_login(first)
    answer = client.post(url, {"action": "approve", "_selected_action": [large.pk], "apply": "1",
                               "reason": "checked"}, follow=True)
    assert b"a second staff member must approve it too" in answer.content
    assert Redemption.objects.get(pk=large.pk).status == "in_review"
    assert b"redemption.approve asked" in client.get(url).content

    client.force_login(second)
    answer = client.post(url, {"action": "approve", "_selected_action": [large.pk], "apply": "1",
                               "reason": "agree"}, follow=True)
    assert f"Redemption {large.pk}: approved.".encode() in answer.content
    assert Redemption.objects.get(pk=large.pk).status == "approved" and pending_cash(large) == 60_000
