"""A creator connects a payout account (test-mode Connect onboarding), withdraws, and sees the payout."""

import datetime

import pytest
from django.utils import timezone

from creatornext.payouts import batches
from creatornext.payouts.models import PayoutAccount
from eligibility.defaults import seed_defaults
from tests.e2e.test_tips import log_in
from tests.eligibility.helpers import make_creator
from tests.support import connect
from tests.support.ledger import give_available_cash


@pytest.mark.django_db(transaction=True)
def test_a_creator_connects_withdraws_and_sees_the_payout(page, live_server, fake_stripe):
    seed_defaults()
    connect.reset()
    creator = make_creator("maya.makes").user
    give_available_cash(creator, 12_345)

    log_in(page, creator.username)
    page.get_by_role("link", name="Payouts").click()
    assert "not connected" in page.locator("#payout-status").inner_text()
    page.get_by_role("button", name="Connect payout account").click()
    # The provider's (test-mode) onboarding page, then back to us
    page.get_by_role("button", name="Complete onboarding").click()
    page.wait_for_url("**/payouts/")
    assert "enabled" in page.locator("#payout-status").inner_text()
    assert "withdrawals are possible again" in page.locator("#cooling-off").inner_text()

    # During the cooling-off a withdrawal is refused with the reason
    page.get_by_role("link", name="Withdraw").first.click()
    page.get_by_label("Amount").fill("25.00")
    page.get_by_role("button", name="Withdraw").click()
    assert "changed recently" in page.locator(".field-error").first.inner_text()

    PayoutAccount.objects.filter(user=creator).update(changed_at=timezone.now() - datetime.timedelta(days=6))
    page.goto("/payouts/withdraw/")
    page.get_by_label("Amount").fill("25.00")
    page.get_by_role("button", name="Withdraw").click()
    page.wait_for_url("**/payouts/history/")
    row = page.locator("#payout-history tbody tr").first.inner_text()
    assert "$25.00" in row and "requested" in row

    batch = batches.payout_batch_create()
    batches.payout_batch_run(batch_id=batch.pk)
    page.reload()
    assert "paid" in page.locator("#payout-history tbody tr").first.inner_text()
    assert [t["amount"] for t in connect.transfers()] == [2500]
