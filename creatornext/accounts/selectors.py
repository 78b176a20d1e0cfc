"""Reads about people."""

from __future__ import annotations

from creatornext.accounts.models import User


def user_roles(user: User) -> list[str]:
    """Roles derive from what a user has: everyone is a fan; profiles and staff add roles."""
    roles = ["fan"]
    if hasattr(user, "creator_profile"):
        roles.append("creator")
    roles += [f"brand:{slug}" for slug in getattr(user, "brand_slugs", lambda: [])()]
    if user.is_staff:
        roles.append("staff")
    return roles
