"""A brand member searches the marketplace with filters and adds a creator to a shortlist."""

from __future__ import annotations

import pytest

from eligibility.defaults import seed_defaults
from marketplace import services
from marketplace.models import ShortlistEntry
from tests.marketplace.helpers import brand_member, listed_creator


def _log_in(page, live_server, username: str) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(live_server.url + "/")


@pytest.mark.django_db(transaction=True)
def test_brand_member_searches_with_filters_and_shortlists_a_creator(page, live_server):
    seed_defaults()
    listed_creator("ana.cooks", followers=50_000, bio="Quick vegan dinners", categories=("food",),
                   audience_countries={"US": 45}, engagement_rate_bps=450)
    listed_creator("ben.bakes", followers=80_000, bio="Sourdough every day", categories=("food",),
                   audience_countries={"GB": 70, "US": 10}, engagement_rate_bps=300)
    listed_creator("cara.codes", followers=90_000, bio="Tech reviews", categories=("tech",),
                   audience_countries={"US": 60}, engagement_rate_bps=800)
    buyer, brand = brand_member("buyer")
    services.shortlist_create(brand=brand, actor=buyer, name="Summer launch")

    _log_in(page, live_server, "buyer")
    page.get_by_role("link", name="Marketplace").click()
    page.get_by_role("heading", name="Find creators").wait_for()
    cards = page.locator("article.creator-card")
    assert cards.count() == 3  # everyone, by followers

    page.get_by_label("Category").select_option("food")
    page.get_by_label("Audience country code").fill("US")
    page.get_by_label("at least %").first.fill("30")
    page.get_by_role("button", name="Search").click()
    page.wait_for_url("**/marketplace/?*")
    assert [cards.nth(i).get_attribute("data-handle") for i in range(cards.count())] == ["ana.cooks"]
    card = page.locator('article[data-handle="ana.cooks"]')
    assert "50,000" in card.locator(".followers").inner_text()

    card.get_by_label("Shortlist for @ana.cooks").select_option(label="Summer launch (buyer brand)")
    card.get_by_role("button", name="Add @ana.cooks to the shortlist").click()
    page.get_by_text("@ana.cooks added to “Summer launch”.").wait_for()
    # Back on the same filtered search
    assert "category=food" in page.url
    assert list(ShortlistEntry.objects.values_list("creator__handle", flat=True)) == ["ana.cooks"]

    page.get_by_role("link", name="Your shortlists").click()
    page.get_by_role("link", name="Summer launch").click()
    row = page.locator('tr[data-handle="ana.cooks"]')
    assert "50,000" in row.inner_text() and "Yes" in row.inner_text()
