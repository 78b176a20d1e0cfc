"""A fan sends gifts on a live stream and the stream page shows them; the creator ends the stream
and redeems diamonds."""

import pytest

from eligibility.defaults import seed_defaults
from gifts.defaults import seed_catalog
from gifts.models import LiveStream
from tests.e2e.test_tips import log_in
from tests.eligibility.helpers import enroll, make_creator
from tests.support.ledger import give_coins
from tests.support.world import make_user


@pytest.mark.django_db(transaction=True)
def test_live_gifts_then_end_and_redeem(page, live_server, browser):
    seed_defaults()
    seed_catalog()
    creator = make_creator("maya.makes")
    enroll(creator, "creator-next", "live-gifts")
    fan = make_user("rosa")
    give_coins(fan, 6_000)

    # The creator goes live from the diamonds page
    creator_context = browser.new_context(base_url=live_server.url)
    studio = creator_context.new_page()
    log_in(studio, creator.user.username)
    studio.goto("/diamonds/")
    studio.get_by_label("Title").fill("Kiln opening")
    studio.get_by_role("button", name="Go live").click()
    studio.wait_for_url("**/live/*/")
    stream = LiveStream.objects.get()

    # The fan sends gifts; both pages show them as they arrive
    log_in(page, "rosa")
    page.goto(f"/live/{stream.pk}/")
    page.get_by_label("Gift", exact=True).select_option(label="Drama Queen (5000 coins)")
    page.get_by_role("button", name="Send gift").click()
    page.locator(".gift-sent").wait_for(state="visible")
    page.get_by_label("Gift", exact=True).select_option(label="Rose (1 coins)")
    page.get_by_label("How many").fill("3")
    page.get_by_role("button", name="Send gift").click()
    page.locator("#gift-feed li", has_text="rosa sent 3 × Rose").wait_for(timeout=10_000)
    studio.locator("#gift-feed li", has_text="rosa sent 1 × Drama Queen").wait_for(timeout=10_000)

    # The creator ends the stream; gifts stop
    studio.get_by_role("button", name="End stream").click()
    studio.locator("#live-badge", has_text="Ended").wait_for()
    assert LiveStream.objects.get().ended_at is not None

    # …and redeems 5,003 diamonds: 25.01 USD for 5,002 of them, one stays
    studio.goto("/diamonds/")
    assert studio.locator("#diamond-balance").inner_text() == "5003"
    studio.get_by_label("Diamonds to redeem").fill("5003")
    studio.get_by_role("button", name="Redeem").click()
    done = studio.locator("#redeem-done")
    done.wait_for(state="visible")
    assert "5002 diamonds → 25.01 USD: approved" in done.inner_text()
    assert studio.locator("#diamond-balance").inner_text() == "1"
    creator_context.close()
