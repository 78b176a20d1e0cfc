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
# The demo staff user's authenticator secret (the admin asks for a TOTP code, PRODUCT.md §7).
# Development only, printed by `make run`: add it to any authenticator app (base32 below).
DEMO_STAFF_TOTP_HEX = "3132333435363738393031323334353637383930"
DEMO_STAFF_TOTP_BASE32 = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
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
    created += _demo_staff_device(users["staff"])
    creator, made = CreatorProfile.objects.get_or_create(
        user=users["creator"],
        defaults={"handle": DEMO_HANDLE, "country": "US", "display_name": "Maya Makes",
                  "bio": "Pottery, glazes and kiln disasters, filmed weekly."},
    )
    if made:
        created.append(f"@{DEMO_HANDLE}")
    created += _demo_creator_enrolled(creator, now)
    created += _demo_marketplace_profile(creator)
    brand, made = Brand.objects.get_or_create(slug=DEMO_BRAND,
                                              defaults={"name": "Acme Studio", "verified_at": now})
    BrandMembership.objects.get_or_create(brand=brand, user=users["brand"],
                                          defaults={"role": BrandMembership.Role.OWNER})
    if made:
        created.append(brand.name)
    return created


def _demo_staff_device(staff: User) -> list[str]:
    """A confirmed TOTP device with the printed secret, so the demo staff can pass the admin's 2FA."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    _, made = TOTPDevice.objects.get_or_create(user=staff, name="demo authenticator",
                                               defaults={"key": DEMO_STAFF_TOTP_HEX, "confirmed": True})
    return ["demo staff authenticator"] if made else []


def _demo_creator_enrolled(creator: CreatorProfile, now: datetime.datetime) -> list[str]:
    """Metrics that meet every default rule, through the feed, and an opt-in to every program.

    Dev-only composition: the core never imports a feature app otherwise. Re-running writes nothing
    new on the same day (the last public post is pinned to yesterday, so it stays "recent").
    """
    from eligibility import selectors, services
    from eligibility.defaults import seed_defaults
    from eligibility.models import Enrollment, MetricsSnapshot

    seed_defaults()
    yesterday = (now - datetime.timedelta(days=1)).replace(hour=12, minute=0, second=0, microsecond=0)
    result = services.metrics_update(
        creator=creator, actor=None, source=MetricsSnapshot.Source.DEMO, followers=128_400,
        views_30d=2_310_000, posts_30d=14,
        account_created_at=datetime.datetime(2021, 3, 14, tzinfo=datetime.UTC),
        account_type=CreatorProfile.AccountType.PERSONAL, standing=CreatorProfile.Standing.GOOD,
        fraud_flag=False, last_public_post_at=yesterday, now=now)
    done = ["demo creator metrics"] if result.snapshot else []
    book = selectors.rule_book(now=now)
    enrolled = set(Enrollment.objects.filter(creator=creator, status=Enrollment.Status.ENROLLED)
                   .values_list("program__slug", flat=True))
    for program in book.evaluation_order:  # creator-next first: the others need its membership
        if program.slug not in enrolled and program.terms is not None:
            services.enrollment_opt_in(creator=result.creator, program=program.slug,
                                       terms_version=program.terms.version, actor=creator.user, now=now)
            done.append(f"@{creator.handle} in {program.slug}")
    return done


def _demo_marketplace_profile(creator: CreatorProfile) -> list[str]:
    """The demo creator's marketplace profile and metrics, so the demo brand finds them in search.

    Dev-only composition like the enrolment above; written once (re-running changes nothing).
    """
    from creatornext.money import Money
    from marketplace import services
    from marketplace.models import MarketplaceProfile

    if MarketplaceProfile.objects.filter(creator=creator, metrics_updated_at__isnull=False).exists():
        return []
    services.metrics_update(creator=creator, actor=None, avg_views=41_200, engagement_rate_bps=730,
                            audience_countries={"US": 46, "GB": 12, "CA": 9},
                            audience_genders={"female": 58, "male": 39, "other": 3},
                            audience_ages={"13-17": 4, "18-24": 38, "25-34": 33, "35-44": 17, "45+": 8})
    services.profile_update(creator=creator, actor=creator.user,
                            bio="Pottery, glazes and kiln disasters, filmed weekly.",
                            categories=["art", "lifestyle"], languages=["en", "es"], country="US",
                            rates={"video": Money(45_000, "USD"), "live": Money(30_000, "USD")})
    return [f"@{creator.handle} in marketplace search"]
