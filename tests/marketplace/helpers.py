"""Marketplace test helpers: creators in search with a profile and metrics, brand members."""

from __future__ import annotations

from creatornext.accounts.models import Brand, BrandMembership, CreatorProfile, User
from creatornext.money import Money
from eligibility import services as eligibility_services
from eligibility.models import MetricsSnapshot
from marketplace import services
from tests.eligibility.helpers import enroll, make_creator
from tests.support.world import api_client, make_user


def listed_creator(handle: str, *, followers: int = 20_000, country: str = "US",
                   bio: str = "", categories=("food",), languages=("en",), avg_views: int = 1_000,
                   engagement_rate_bps: int = 300, audience_countries=None, audience_genders=None,
                   audience_ages=None, enrolled: bool = True) -> CreatorProfile:
    """A creator who meets the marketplace rules, enrolled, with a profile and marketplace metrics."""
    creator = make_creator(handle, country=country, followers=followers)
    if enrolled:
        enroll(creator, "marketplace")
    services.metrics_update(creator=creator, actor=None, avg_views=avg_views,
                            engagement_rate_bps=engagement_rate_bps,
                            audience_countries=audience_countries or {},
                            audience_genders=audience_genders or {},
                            audience_ages=audience_ages or {})
    if enrolled:
        services.profile_update(creator=creator, actor=creator.user, bio=bio or f"{handle} makes things.",
                                categories=list(categories), languages=list(languages), country=country,
                                rates={"video": Money(25_000, "USD")})
    return creator


def brand_member(username: str = "buyer", *, verified: bool = True) -> tuple[User, Brand]:
    from django.utils import timezone

    user = make_user(username)
    api_client(user)
    brand = Brand.objects.create(name=f"{username} brand", slug=f"{username}-brand".replace("_", "-"),
                                 verified_at=timezone.now() if verified else None)
    BrandMembership.objects.create(brand=brand, user=user, role=BrandMembership.Role.OWNER)
    return user, brand


def set_followers(creator: CreatorProfile, followers: int) -> None:
    """The creator metrics feed reports a new follower count (re-evaluates eligibility)."""
    creator.refresh_from_db()
    eligibility_services.metrics_update(
        creator=creator, actor=None, source=MetricsSnapshot.Source.API, followers=followers,
        views_30d=creator.views_30d, posts_30d=creator.posts_30d,
        account_created_at=creator.account_created_at, account_type=creator.account_type,
        standing=creator.standing, fraud_flag=creator.fraud_flag)


def search(user: User, **params) -> list[str]:
    response = api_client(user).get("/api/v1/marketplace/creators/", params)
    assert response.status_code == 200, response.content
    return [c["handle"] for c in response.json()["results"]]


def search_body(user: User, **params) -> dict:
    response = api_client(user).get("/api/v1/marketplace/creators/", params)
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/json"
    return response.json()
