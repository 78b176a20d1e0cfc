"""A creator below a threshold sees the progress bar and what is missing; the metrics change; they opt in."""

from __future__ import annotations

import pytest

from eligibility.defaults import seed_defaults
from eligibility.models import Enrollment
from tests.eligibility.helpers import make_creator
from tests.support.world import api_client, make_user


def _log_in(page, live_server, username: str) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(live_server.url + "/")


@pytest.mark.django_db(transaction=True)
def test_progress_bar_missing_amount_metrics_change_then_opt_in(page, live_server):
    seed_defaults()
    creator = make_creator("maya", followers=8_120)  # meets every marketplace rule but followers
    staff = make_user("staffer", staff=True)

    _log_in(page, live_server, "maya")
    page.get_by_role("link", name="Eligibility").click()
    page.get_by_role("heading", name="Your programs").wait_for()

    card = page.locator("#program-marketplace")
    followers = card.locator('li[data-key="followers"]')
    bar = followers.locator("progress")
    assert (bar.get_attribute("value"), bar.get_attribute("max")) == ("8120", "10000")
    assert bar.get_attribute("aria-label") == "Followers: 8,120 / 10,000 followers"
    assert "8,120 / 10,000 followers" in followers.inner_text()
    assert followers.locator(".requirement-missing").inner_text() == "1,880 more followers"
    assert "Not met" in followers.inner_text()
    assert card.locator(".badge").inner_text() == "Not eligible yet"
    assert card.get_by_role("button", name="Opt in to Creator Marketplace").count() == 0
    # Requirements already met say so
    assert "Met" in card.locator('li[data-key="posts_30d"]').inner_text()

    # The metrics feed reports 10,000 followers
    response = api_client(staff).put("/api/v1/creators/maya/metrics/", {
        "followers": 10_000, "views_30d": creator.views_30d, "posts_30d": creator.posts_30d,
        "account_created_at": creator.account_created_at.isoformat(), "account_type": "personal",
        "standing": "good", "fraud_flag": False}, format="json")
    assert response.status_code == 200

    page.reload()
    card = page.locator("#program-marketplace")
    followers = card.locator('li[data-key="followers"]')
    assert followers.locator("progress").get_attribute("value") == "10000"
    assert "10,000 / 10,000 followers" in followers.inner_text()
    assert followers.locator(".requirement-missing").count() == 0
    assert card.locator(".badge").inner_text() == "Eligible"

    # Read the terms, accept them, opt in
    card.get_by_text("Read the Creator Marketplace terms (version v1)").click()
    assert "By joining Creator Marketplace" in card.locator(".terms").inner_text()
    card.get_by_label("I accept the Creator Marketplace terms (version v1)").check()
    card.get_by_role("button", name="Opt in to Creator Marketplace").click()
    page.wait_for_url("**/eligibility/#program-marketplace")
    assert "You joined Creator Marketplace." in page.inner_text(".messages")
    card = page.locator("#program-marketplace")
    assert card.locator(".badge").inner_text() == "Enrolled"
    assert "You joined under the terms version v1" in card.inner_text()
    assert card.get_by_role("button", name="Opt out of Creator Marketplace").is_visible()
    enrollment = Enrollment.objects.get(creator=creator, program__slug="marketplace")
    assert (enrollment.status, enrollment.terms_version) == ("enrolled", "v1")


@pytest.mark.django_db(transaction=True)
def test_the_eligibility_link_is_only_for_creators(page, live_server):
    seed_defaults()
    make_user("fan")
    _log_in(page, live_server, "fan")
    assert page.get_by_role("link", name="Eligibility").count() == 0
    page.goto("/eligibility/")
    assert "Programs are for creators" in page.inner_text("main")
