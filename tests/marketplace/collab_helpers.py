"""Helpers for campaign / invitation / collaboration tests: everything goes through the API."""

from __future__ import annotations

import datetime
import itertools

from django.utils import timezone

from tests.support.world import api_client

_keys = itertools.count(1)


def usd(amount: int) -> dict:
    return {"amount": amount, "currency": "USD"}


def post(user, path: str, body: dict | None = None, *, key: str | None = None):
    """POST as ``user`` (with a fresh Idempotency-Key unless given)."""
    return api_client(user).post(f"/api/v1/{path}", body or {}, format="json",
                                 HTTP_IDEMPOTENCY_KEY=key or f"key-{next(_keys)}")


def make_campaign(user, brand, *, budget: int = 200_000, days: int = 30) -> dict:
    response = post(user, "campaigns/", {
        "brand": brand.pk, "title": "Summer launch", "brief": "Show our new blender.",
        "deliverables": ["video"], "budget": usd(budget),
        "deadline": (timezone.now() + datetime.timedelta(days=days)).isoformat()})
    assert response.status_code == 201, response.content
    return response.json()


def invite(user, campaign_id: int, handle: str, fee: int = 50_000):
    return post(user, f"campaigns/{campaign_id}/invitations/",
                {"creator": handle, "fee": usd(fee), "message": "Would love to work with you"})


def accepted_collaboration(brand_user, brand, creator, *, fee: int = 50_000, days: int = 30) -> int:
    campaign = make_campaign(brand_user, brand, days=days)
    invitation = invite(brand_user, campaign["id"], creator.handle, fee).json()
    response = post(creator.user, f"invitations/{invitation['id']}/accept/")
    assert response.status_code == 200, response.content
    return response.json()["collaboration"]


def fund(brand_user, collaboration_id: int, *, payment_method: str = "pm_card_visa", key: str | None = None):
    return post(brand_user, f"collaborations/{collaboration_id}/fund/", {"payment_method": payment_method},
                key=key)


def funded_collaboration(brand_user, brand, creator, **kwargs) -> int:
    collaboration_id = accepted_collaboration(brand_user, brand, creator, **kwargs)
    response = fund(brand_user, collaboration_id)
    assert response.status_code == 200 and response.json()["state"] == "funded", response.content
    return collaboration_id


def submit(creator, collaboration_id: int, url: str = "https://video.example.com/v/1"):
    return post(creator.user, f"collaborations/{collaboration_id}/submit/", {"url": url})
