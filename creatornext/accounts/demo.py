"""Demo data for `make run`: one person per role with a known password (development only)."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from creatornext.accounts.models import Brand, BrandMembership, CreatorProfile, User


@dataclass(frozen=True)
class DemoUser:
    role: str
    username: str
    password: str
    email: str


DEMO_USERS = (
    DemoUser("creator", "demo_creator", "creator-demo-pass", "creator@demo.creatornext.test"),
    DemoUser("fan", "demo_fan", "fan-demo-pass", "fan@demo.creatornext.test"),
    DemoUser("brand", "demo_brand", "brand-demo-pass", "brand@demo.creatornext.test"),
    DemoUser("staff", "demo_staff", "staff-demo-pass", "staff@demo.creatornext.test"),
)
DEMO_HANDLE = "maya.makes"
DEMO_BRAND = "acme-studio"


@transaction.atomic
def seed_demo() -> list[str]:
    """Create the demo people, the creator's profile and the brand if missing; safe to repeat."""
    created = []
    now = timezone.now()
    users = {}
    for demo in DEMO_USERS:
        user, was_created = User.objects.get_or_create(
            username=demo.username,
            defaults={"email": demo.email, "date_of_birth": datetime.date(1995, 5, 17),
                      "email_verified_at": now},
        )
        if was_created:
            user.set_password(demo.password)
            if demo.role == "staff":
                user.is_staff = user.is_superuser = True
            user.save()
            created.append(demo.username)
        users[demo.role] = user
    _, made = CreatorProfile.objects.get_or_create(
        user=users["creator"],
        defaults={"handle": DEMO_HANDLE, "country": "US", "display_name": "Maya Makes",
                  "bio": "Pottery, glazes and kiln disasters, filmed weekly."},
    )
    if made:
        created.append(f"@{DEMO_HANDLE}")
    brand, made = Brand.objects.get_or_create(slug=DEMO_BRAND,
                                              defaults={"name": "Acme Studio", "verified_at": now})
    BrandMembership.objects.get_or_create(brand=brand, user=users["brand"],
                                          defaults={"role": BrandMembership.Role.OWNER})
    if made:
        created.append(brand.name)
    return created
