"""The creator's marketplace profile and the marketplace metrics feed."""

from __future__ import annotations

import datetime

import pytest

from creatornext.accounts.models import CreatorProfile
from marketplace import services
from marketplace.models import MarketplaceProfile
from tests.eligibility.helpers import enroll, make_creator
from tests.marketplace.helpers import brand_member, listed_creator, search, set_followers
from tests.support.world import api_client, make_user

pytestmark = pytest.mark.django_db

PROFILE = {"bio": "Street food from Seoul", "categories": ["food", "travel"], "languages": ["ko", "EN"],
           "country": "kr", "rates": {"video": {"amount": 80_000, "currency": "USD"},
                                      "live": {"amount": 50_000, "currency": "USD"}}}


def test_an_enrolled_creator_writes_the_profile_and_appears_in_search():
    creator = make_creator("seoul.eats", country="KR", followers=60_000)
    enroll(creator, "marketplace")
    client = api_client(creator.user)
    before = client.get("/api/v1/marketplace/profile/").json()
    assert (before["listed"], before["program_status"]) == (False, "enrolled")
    response = client.put("/api/v1/marketplace/profile/", PROFILE, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["listed"] is True
    assert (body["country"], body["languages"], body["categories"]) == ("KR", ["ko", "en"], ["food", "travel"])
    assert body["rates"] == {"video": {"amount": 80_000, "currency": "USD"},
                             "live": {"amount": 50_000, "currency": "USD"}}
    assert body["followers"] == 60_000
    buyer, _ = brand_member()
    assert search(buyer, country="KR", language="ko", category="travel") == ["seoul.eats"]
    card = api_client(buyer).get("/api/v1/marketplace/creators/Seoul.Eats/").json()
    assert card["bio"] == "Street food from Seoul"


def test_a_creator_not_enrolled_cannot_write_a_profile(nothing_changed):
    creator = make_creator("early", followers=9_000)
    with nothing_changed():
        response = api_client(creator.user).put("/api/v1/marketplace/profile/", PROFILE, format="json")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "not_eligible"


def test_non_creators_have_no_profile():
    assert api_client(make_user("fan")).get("/api/v1/marketplace/profile/").status_code == 403


@pytest.mark.parametrize(("change", "field"), [
    ({"categories": ["knitting"]}, "categories"),
    ({"categories": []}, "categories"),
    ({"categories": ["food", "art", "tech", "pets"]}, "categories"),
    ({"languages": ["eng"]}, "languages"),
    ({"languages": []}, "languages"),
    ({"country": "K1"}, "country"),
    ({"rates": {"video": {"amount": 5_000, "currency": "EUR"}}}, "rates.video"),
    ({"rates": {"video": {"amount": 0, "currency": "USD"}}}, "rates.video"),
    ({"rates": {"video": {"amount": 10.5, "currency": "USD"}}}, "rates.video"),
    ({"rates": {"dance": {"amount": 5_000, "currency": "USD"}}}, "rates.dance"),
    ({"bio": 5}, "bio"),
])
def test_bad_profiles_are_refused(change, field, nothing_changed):
    creator = make_creator("seoul.eats", country="KR", followers=60_000)
    enroll(creator, "marketplace")
    with nothing_changed():
        response = api_client(creator.user).put("/api/v1/marketplace/profile/", {**PROFILE, **change},
                                                format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["fields"]


def test_the_metrics_feed_is_staff_only_validated_and_audited(nothing_changed):
    from creatornext.audit.models import AuditEvent

    creator = listed_creator("fed", followers=30_000)
    staff = make_user("staffer", staff=True)
    url = "/api/v1/marketplace/creators/fed/metrics/"
    body = {"avg_views": 12_345, "engagement_rate_bps": 610,
            "audience": {"countries": {"us": 50, "CA": 10}, "genders": {"female": 51, "male": 49},
                         "ages": {"18-24": 70, "45+": 5}}}
    assert api_client(creator.user).put(url, body, format="json").status_code == 403
    response = api_client(staff).put(url, body, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["audience"]["countries"] == {"US": 50, "CA": 10}
    profile = MarketplaceProfile.objects.get(creator=creator)
    assert (profile.avg_views, profile.engagement_rate_bps) == (12_345, 610)
    assert "=ac:US:50" in profile.facets and "=ac:US:60" not in profile.facets
    assert AuditEvent.objects.filter(action="marketplace.metrics_updated", actor=staff).count() == 1
    for bad in ({**body, "audience": {**body["audience"], "genders": {"female": 80, "male": 30}}},
                {**body, "audience": {**body["audience"], "ages": {"18-29": 10}}},
                {**body, "audience": {**body["audience"], "countries": {"USA": 10}}},
                {**body, "audience": {**body["audience"], "countries": {"US": "10"}}},
                {**body, "engagement_rate_bps": -1},
                {**body, "avg_views": 1.5}):
        with nothing_changed():
            assert api_client(staff).put(url, bad, format="json").status_code == 400, bad
    assert api_client(staff).put("/api/v1/marketplace/creators/nobody/metrics/", body,
                                 format="json").status_code == 404


def test_search_copies_of_followers_and_handle_are_refreshed_by_the_sync():
    creator = listed_creator("grower", followers=20_000)
    set_followers(creator, 75_000)  # the creator metrics feed (eligibility) changes the original
    assert MarketplaceProfile.objects.get(creator=creator).followers == 20_000
    assert services.profiles_sync() == 1
    assert MarketplaceProfile.objects.get(creator=creator).followers == 75_000
    assert services.profiles_sync() == 0
    CreatorProfile.objects.filter(pk=creator.pk).update(handle="grown")
    assert services.profiles_sync() == 1
    assert MarketplaceProfile.objects.get(creator=creator).handle == "grown"
    # and the card search shows (kept ready by the database on PostgreSQL) follows the bulk update
    from tests.marketplace.helpers import search_body

    [shown] = search_body(brand_member("buyer")[0])["results"]
    assert (shown["handle"], shown["followers"]) == ("grown", 75_000)


def test_the_fast_card_equals_the_serializer_card():
    from marketplace.api import CreatorCardOutput, card, card_json

    creator = listed_creator("twin", followers=30_000, audience_countries={"US": 40},
                             audience_genders={"female": 60}, audience_ages={"45+": 12})
    profile = MarketplaceProfile.objects.select_related("creator").get(creator=creator)
    assert card_json(profile) == CreatorCardOutput(card(profile)).data


@pytest.mark.parametrize("updated_at", [
    datetime.datetime(2026, 3, 1, 12, 30, 5, 123456, tzinfo=datetime.UTC),
    datetime.datetime(2026, 3, 1, 12, 30, 5, tzinfo=datetime.UTC),  # DRF drops zero microseconds
    datetime.datetime(2026, 3, 1, 12, 30, 5, 7, tzinfo=datetime.UTC),
    None,
])
def test_the_search_page_card_equals_the_serializer_card(updated_at):
    # Search reads the cards PostgreSQL keeps ready (migration 0005: a trigger writes them), in Python elsewhere.
    import json

    from marketplace.api import CreatorCardOutput, card
    from tests.marketplace.helpers import search_body

    creator = listed_creator("twin", followers=30_000, bio='Say "ñandú" \\ <b>tabs\there</b> 😀',
                             audience_countries={"US": 40}, audience_genders={"female": 60},
                             audience_ages={"45+": 12})
    MarketplaceProfile.objects.filter(creator=creator).update(metrics_updated_at=updated_at,
                                                              display_name="Twin ☃")
    profile = MarketplaceProfile.objects.select_related("creator").get(creator=creator)
    body = search_body(brand_member("buyer")[0])
    expected = json.loads(json.dumps(CreatorCardOutput(card(profile)).data))
    assert body["results"] == [expected]
