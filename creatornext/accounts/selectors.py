"""Reads about people."""

from __future__ import annotations

import datetime
from typing import Any

from django.db.models import Exists, QuerySet
from django.db.models.functions import Lower

from creatornext.accounts.models import Brand, BrandMembership, CreatorProfile, User
from creatornext.core.prepared import PreparedQuery


def age_on(date_of_birth: datetime.date, day: datetime.date) -> int:
    """Whole years on ``day``: a person born 2008-03-01 turns 18 on 2026-03-01.

    Someone born on 29 February has their birthday on 1 March in common years.
    """
    had_birthday = (day.month, day.day) >= (date_of_birth.month, date_of_birth.day)
    return day.year - date_of_birth.year - (0 if had_birthday else 1)


def user_roles(user: User) -> list[str]:
    """Roles derive from what a user has: everyone is a fan; profiles and staff add roles."""
    roles = ["fan"]
    if CreatorProfile.objects.filter(user=user).exists():
        roles.append("creator")
    slugs = user.brand_memberships.order_by("brand__slug").values_list("brand__slug", flat=True)
    roles += [f"brand:{slug}" for slug in slugs]
    if user.is_staff:
        roles.append("staff")
    return roles


def handle_key(handle: str) -> str:
    """What handles are compared by: they are unique case-insensitively."""
    return handle.lower()


def creators_with_handle_key(key: str) -> QuerySet[CreatorProfile]:
    """The live creator whose ``handle_key`` is ``key`` (deleted accounts are gone), as a query to
    annotate (e.g. the gift send's facts, read in one query)."""
    return (CreatorProfile.objects.annotate(handle_ci=Lower("handle"))
            .filter(handle_ci=key, user__deleted_at__isnull=True))


def creator_by_handle(handle: str) -> CreatorProfile | None:
    """The live creator with this handle, case-insensitively (deleted accounts are gone)."""
    return creators_with_handle_key(handle_key(handle)).select_related("user").first()


# The hottest public read (bench creator-profile): compiled once (core.prepared).
_PUBLIC_CREATOR = PreparedQuery(
    lambda a: creators_with_handle_key(a["handle"]).values("handle", "country", "display_name", "bio",
                                                           "created_at"),
    handle=str)


def public_creator(handle: str) -> dict[str, Any] | None:
    """``creator_by_handle``'s public fields as a plain row (one query, no model instances)."""
    return _PUBLIC_CREATOR.first(handle=handle_key(handle))


def active_users() -> QuerySet[User]:
    return User.objects.filter(deleted_at__isnull=True)


def brands_of(user: User) -> QuerySet[Brand]:
    return Brand.objects.filter(memberships__user=user).order_by("name", "pk")


def _memberships(user_id: Any) -> QuerySet[BrandMembership]:
    """The rule: a brand member is a user with a membership of any brand."""
    return BrandMembership.objects.filter(user_id=user_id)


def brand_member_exists(user_id: Any) -> Exists:
    """SQL: the user (an id or an ``OuterRef``) belongs to a brand: ``is_brand_member``'s rule,
    also evaluated by the token check's own statement."""
    return Exists(_memberships(user_id))


# Set by the token check (creatornext.accounts.authentication) on the User it builds: its one
# statement also answers whether the user belongs to a brand, which the marketplace asks on every
# search (a round trip less). The instance lives for one request, so the answer is that request's.
BRAND_MEMBER_ATTR = "_brand_member_when_authenticated"
# Compiled once (and on PostgreSQL planned once per connection): building the ORM query cost more
# than running it.
_MEMBERSHIP = PreparedQuery(lambda a: _memberships(a["user"]).values("id"),
                            server="accounts_is_brand_member", user=int)


def is_brand_member(user: User | Any) -> bool:
    """Whether the user belongs to any brand (the marketplace is for brand members)."""
    if not user.is_authenticated:
        return False
    known = getattr(user, BRAND_MEMBER_ATTR, None)
    if known is not None:
        return bool(known)
    return _MEMBERSHIP.first(user=user.pk) is not None


def brand_membership(user: User, brand_id: int) -> BrandMembership | None:
    """The user's membership of that brand; None also for brands that do not exist, so callers
    answer 404 for another brand's private data (API.md) without revealing that it exists."""
    return BrandMembership.objects.select_related("brand").filter(user=user, brand_id=brand_id).first()


def is_blocked(creator: CreatorProfile, fan: User) -> bool:
    return creator.blocks.filter(fan=fan).exists()
