"""A fan buys coins with a test card and sends a gift; the creator's diamonds grow."""

import pytest

from eligibility.defaults import seed_defaults
from gifts.defaults import seed_catalog
from gifts.models import Video
from tests.e2e.test_tips import log_in
from tests.eligibility.helpers import enroll, make_creator
from tests.support.world import make_user


@pytest.mark.django_db(transaction=True)
def test_a_fan_buys_coins_and_sends_a_gift(page, live_server, fake_stripe, browser):
    seed_defaults()
    seed_catalog()
    creator = make_creator("maya.makes")
    enroll(creator, "creator-next", "video-gifts")
    Video.objects.create(creator=creator, kind="original", title="Throwing a vase")
    Video.objects.create(creator=creator, kind="duet", title="Duet with Sam")
    make_user("rosa")

    log_in(page, "rosa")
    page.goto("/coins/")
    page.get_by_label("700 coins · $7.40").check()
    card = page.locator("#card-element input")
    for i, value in enumerate(["4242424242424242", "12", "30", "123", "10001"]):
        card.nth(i).fill(value)
    page.get_by_role("button", name="Buy coins").click()
    page.locator("#coins-done").wait_for(state="visible", timeout=15_000)
    assert page.locator("#coin-balance").inner_text() == "700"

    page.goto("/@maya.makes")
    assert "This duet video cannot receive gifts." in page.inner_text("#videos-heading + ul")
    video = page.locator("li.video", has_text="Throwing a vase")
    video.get_by_label("Gift").select_option(label="Rainbow (100 coins)")
    video.get_by_label("How many").fill("2")
    video.get_by_role("button", name="Send gift").click()
    sent = video.locator(".gift-sent")
    sent.wait_for(state="visible")
    assert "Sent 2 × Rainbow: 200 coins → 200 diamonds for @maya.makes." in sent.inner_text()

    page.goto("/wallet/")
    assert page.locator("#wallet-coins").inner_text() == "500"

    other = browser.new_context(base_url=live_server.url)
    creator_page = other.new_page()
    log_in(creator_page, creator.user.username)
    creator_page.goto("/wallet/")
    assert creator_page.locator("#wallet-diamonds").inner_text() == "200"
    assert "rosa" in creator_page.inner_text("main")
    other.close()
