"""Demo data for `make run`: one person per role with a known password (development only)."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.db import transaction

from creatornext.accounts.models import User


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


@transaction.atomic
def seed_demo() -> list[str]:
    """Create the demo people if missing; safe to run any number of times."""
    created = []
    for demo in DEMO_USERS:
        user, was_created = User.objects.get_or_create(
            username=demo.username,
            defaults={"email": demo.email, "date_of_birth": datetime.date(1995, 5, 17)},
        )
        if was_created:
            user.set_password(demo.password)
            if demo.role == "staff":
                user.is_staff = user.is_superuser = True
            user.save()
            created.append(demo.username)
    return created
