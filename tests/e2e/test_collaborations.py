"""A brand invites a creator, the creator counters, the brand accepts, funds escrow with a test
card and approves the submission; the creator's pending cash grows by the fee."""

from __future__ import annotations

import datetime

import pytest

from creatornext.ledger import selectors as ledger
from eligibility.defaults import seed_defaults
from marketplace.models import Collaboration
from tests.e2e.test_tips import log_in
from tests.marketplace.helpers import brand_member, listed_creator


@pytest.mark.django_db(transaction=True)
def test_invite_counter_fund_submit_approve(page, live_server, fake_stripe, browser):
    seed_defaults()
    brand_member("buyer")
    creator = listed_creator("ana.cooks")

    log_in(page, "buyer")
    page.goto("/marketplace/campaigns/")
    page.get_by_label("Title").fill("Summer launch")
    page.get_by_label("Brief").fill("Show our new blender.")
    page.get_by_label("Budget (USD)").fill("2000")
    page.get_by_label("Deadline").fill((datetime.date.today() + datetime.timedelta(days=30)).isoformat())
    page.get_by_role("button", name="Create campaign").click()
    page.get_by_role("heading", name="Summer launch").wait_for()
    page.get_by_label("Creator's handle").fill("ana.cooks")
    page.get_by_label("Fee offer (USD)").fill("400")
    page.get_by_role("button", name="Send invitation").click()
    page.get_by_text("@ana.cooks is invited.").wait_for()

    other = browser.new_context(base_url=live_server.url)
    ana = other.new_page()
    ana.set_default_timeout(10_000)
    log_in(ana, creator.user.username)
    ana.goto("/marketplace/invitations/")
    ana.get_by_role("link", name="Summer launch").click()
    ana.get_by_label("Your fee (USD)").fill("500")
    ana.get_by_role("button", name="Send counter-offer").click()
    ana.get_by_text("Counter-offer sent.").wait_for()
    assert ana.locator("#invitation-state").inner_text() == "Countered"

    page.reload()
    page.get_by_role("button", name="Accept $500.00").click()
    page.get_by_text("Counter-offer accepted").wait_for()
    page.get_by_role("link", name="Collaboration (Pending Funding)").click()
    card = page.locator("#card-element input")
    card.first.wait_for(timeout=30_000)  # the Stripe.js stand-in mounts the card fields (slow under load)
    for i, value in enumerate(["4242424242424242", "12", "30", "123", "10001"]):
        card.nth(i).fill(value)
    page.locator("#fund-submit").click()
    page.locator("#fund-done").wait_for(state="visible", timeout=15_000)
    collaboration = Collaboration.objects.get()
    assert collaboration.state == "funded"

    ana.goto(f"/marketplace/collaborations/{collaboration.pk}/")
    ana.get_by_label("Video link").fill("https://video.example.com/ana/blender")
    ana.get_by_role("button", name="Submit deliverable").click()
    ana.get_by_text("Deliverable submitted.").wait_for()

    page.reload()
    page.get_by_role("button", name="Approve and release $500.00").click()
    page.get_by_text("Approved: escrow is released to the creator.").wait_for()
    assert page.locator("#collab-state").inner_text() == "Released"

    ana.goto("/wallet/")
    assert "$500.00" in ana.locator("dl.balances").first.inner_text()
    assert ledger.wallet(creator.user)["cash"][0]["pending"] == 50_000
    other.close()
