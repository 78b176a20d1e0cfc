"""A fan tips a creator with a test card on /@<handle>; both see the tip."""

import pytest

from eligibility.defaults import seed_defaults
from tests.eligibility.helpers import enroll, make_creator
from tests.support.world import make_user


def log_in(page, username):
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/")


@pytest.mark.django_db(transaction=True)
def test_a_fan_tips_a_creator_and_both_see_it(page, live_server, fake_stripe, browser):
    seed_defaults()  # transactional tests empty the tables the seed migration filled
    creator = make_creator("maya.makes")
    enroll(creator, "creator-next", "tips")
    make_user("rosa")

    log_in(page, "rosa")
    page.goto("/@maya.makes")
    page.get_by_role("heading", name="Send @maya.makes a tip").wait_for()
    page.get_by_label("$15.00").check()
    page.get_by_label("Message (optional)").fill("Your kiln videos are the best")
    # The local fake's card element: number, month, year, cvc, postal code
    card = page.locator("#card-element input")
    for i, value in enumerate(["4242424242424242", "12", "30", "123", "10001"]):
        card.nth(i).fill(value)
    page.get_by_role("button", name="Send tip").click()
    thanks = page.locator("#tip-thanks")
    thanks.wait_for(state="visible", timeout=15_000)
    assert "Thank you! Your 15.00 USD tip is on its way to @maya.makes." in thanks.inner_text()

    page.goto("/tips/sent/")
    row = page.locator("tbody tr").first
    assert "@maya.makes" in row.inner_text() and "$15.00" in row.inner_text()
    assert "$0.74" in row.inner_text() and "$14.26" in row.inner_text()  # fee 2.9% + 30¢, net

    # The creator sees it, and the fan appears among the public supporters
    context = browser.new_context(base_url=live_server.url)
    creator_page = context.new_page()
    log_in(creator_page, creator.user.username)
    creator_page.goto("/tips/received/")
    received = creator_page.locator("tbody tr").first.inner_text()
    assert "rosa" in received and "Your kiln videos are the best" in received and "$14.26" in received
    creator_page.goto("/@maya.makes")
    assert "rosa" in creator_page.locator(".supporters").inner_text()
    context.close()
