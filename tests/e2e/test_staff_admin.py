"""Staff log in to the admin with their password and a real TOTP code, refund a tip and approve a
redemption waiting for review."""

from __future__ import annotations

import pytest

from creatornext.core import config
from creatornext.ledger import selectors as ledger
from eligibility.defaults import seed_defaults
from gifts.config import REDEEM_REVIEW_THRESHOLD
from gifts.defaults import seed_catalog
from gifts.models import Redemption
from tests.eligibility.helpers import enroll, make_creator
from tests.support.ledger import give_diamonds
from tests.support.otp import current_code, totp_device
from tests.support.world import api_client, make_user
from tips.models import Tip


def _admin_log_in(page, username: str, code: str) -> None:
    page.goto("/admin/login/?next=/admin/")
    page.locator("input[name=username]").fill(username)
    page.locator("input[name=password]").fill("correct horse battery")
    page.locator("input[name=otp_token]").fill(code)
    page.locator("input[type=submit]").click()


def _run_action(page, path: str, pk: int, action: str, reason: str) -> None:
    page.goto(path)
    page.locator(f"input[name=_selected_action][value='{pk}']").check()
    page.locator("select[name=action]").select_option(action)
    page.locator("button[name=index]").click()  # the admin's "Go"
    page.get_by_label("Reason (kept in the audit log)").fill(reason)
    page.locator("input[name=apply]").click()
    page.locator("ul.messagelist").wait_for()


@pytest.mark.django_db(transaction=True)
def test_staff_pass_two_factor_then_refund_a_tip_and_approve_a_redemption(page, live_server, fake_stripe):
    seed_defaults()
    seed_catalog()
    creator = make_creator("maya.makes")
    enroll(creator, "creator-next", "tips", "live-gifts")
    fan = make_user("rosa")
    staff = make_user("boss", staff=True)
    staff.is_superuser = True
    staff.save()
    device = totp_device(staff)

    tip = api_client(fan).post("/api/v1/tips/", {"creator": "maya.makes", "amount": {"amount": 1000, "currency": "USD"},
                                                 "payment_method": "pm_card_visa"},
                               format="json", HTTP_IDEMPOTENCY_KEY="tip-1").json()
    assert Tip.objects.get(pk=tip["id"]).status == "succeeded"
    config.set_value(definition=REDEEM_REVIEW_THRESHOLD, value=1_000, actor=staff, reason="review from $10")
    give_diamonds(creator.user, 10_000)
    redemption = api_client(creator.user).post("/api/v1/redemptions/", {"diamonds": 4_000}, format="json",
                                               HTTP_IDEMPOTENCY_KEY="redeem-1").json()
    assert redemption["status"] == "in_review"

    # The password alone is not enough: a wrong code keeps the admin shut
    _admin_log_in(page, "boss", f"{(int(current_code(device)) + 1) % 1_000_000:06d}")
    page.locator(".errornote").wait_for()
    assert page.url.startswith(f"{live_server.url}/admin/login/")
    page.wait_for_timeout(1_100)  # django-otp throttles the device for 1 s after a wrong code
    _admin_log_in(page, "boss", current_code(device))
    page.wait_for_url(f"{live_server.url}/admin/")

    _run_action(page, "/admin/tips/tip/", tip["id"], "refund", "fan's card was stolen")
    assert Tip.objects.get(pk=tip["id"]).status == "refunded"

    _run_action(page, "/admin/gifts/redemption/", redemption["id"], "approve", "checked the streams")
    assert Redemption.objects.get(pk=redemption["id"]).status == "approved"
    assert ledger.wallet(creator.user)["diamonds"] == 6_000
