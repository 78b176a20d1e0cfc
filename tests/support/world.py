"""A small world with one person per role of the authorisation matrix, and their API clients."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any

from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from creatornext.accounts.models import Block, Brand, BrandMembership, CreatorProfile, User


def make_user(username: str, *, staff: bool = False, dob: datetime.date | None = None) -> User:
    user = User.objects.create_user(
        username=username, email=f"{username}@example.com", password="correct horse battery",
        date_of_birth=dob or datetime.date(1990, 1, 1), is_staff=staff,
    )
    user.email_verified_at = user.date_joined
    user.save(update_fields=["email_verified_at"])
    return user


def api_client(user: User | None) -> APIClient:
    client = APIClient()
    if user is not None:
        token, _ = Token.objects.get_or_create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@dataclass
class World:
    users: dict[str, User | None] = field(default_factory=dict)
    objects: dict[str, Any] = field(default_factory=dict)

    def client(self, role: str) -> APIClient:
        return api_client(self.users[role])


def build_world() -> World:
    from eligibility.defaults import seed_defaults

    seed_defaults()  # programs and rules (transactional tests empty the tables the migration filled)
    world = World()
    world.users["anonymous"] = None
    for role in ("fan", "creator", "other_creator", "brand_member", "other_brand_member"):
        world.users[role] = make_user(role)
    world.users["staff"] = make_user("staff", staff=True)
    for role in ("creator", "other_creator"):
        world.objects[role] = CreatorProfile.objects.create(
            user=world.users[role], handle=f"{role}_handle", country="US")
    for role in ("brand_member", "other_brand_member"):
        brand = Brand.objects.create(name=f"{role} brand", slug=f"{role}-brand".replace("_", "-"))
        BrandMembership.objects.create(brand=brand, user=world.users[role],
                                       role=BrandMembership.Role.OWNER)
        world.objects[f"{role}_brand"] = brand
    from tips.models import Tip

    # A tip from the fan to the creator (no payment yet), and a block by the creator
    world.objects["tip"] = Tip.objects.create(fan=world.users["fan"], creator=world.objects["creator"],
                                              amount=500, currency="USD")
    world.objects["block"] = Block.objects.create(creator=world.objects["creator"],
                                                  fan=world.users["other_brand_member"])
    from gifts.defaults import seed_catalog
    from gifts.models import Video

    seed_catalog()
    from gifts.models import Gift

    world.objects["rose"] = Gift.objects.get(name="Rose")
    from gifts.models import CoinPack, CoinPurchase

    pack = CoinPack.objects.get(coins=70)
    from gifts.models import LiveStream

    world.objects["stream"] = LiveStream.objects.create(creator=world.objects["creator"], title="Live now")
    world.objects["coin_purchase"] = CoinPurchase.objects.create(  # not paid yet: no payment
        fan=world.users["fan"], pack=pack, coins=pack.coins, price=pack.price, currency=pack.currency)
    world.objects["video"] = Video.objects.create(creator=world.objects["creator"], kind="original",
                                                  title="A public video")
    _marketplace(world)
    _payouts(world)
    return world


def _payouts(world: World) -> None:
    """The creator has an enabled payout account past its cooling-off; other_creator has none."""
    from creatornext.payouts.models import PayoutAccount

    world.objects["payout_account"] = PayoutAccount.objects.create(
        user=world.users["creator"], provider_id="acct_world_creator", payouts_enabled=True,
        details_submitted=True, changed_at=datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC))


def _marketplace(world: World) -> None:
    """brand_member's brand is verified, other_brand_member's is not; other_creator is enrolled in
    the marketplace program with a profile (in search); brand_member's brand has a shortlist."""
    from django.utils import timezone

    from eligibility.models import Enrollment, Program
    from marketplace.models import MarketplaceProfile, Shortlist, ShortlistEntry

    Brand.objects.filter(pk=world.objects["brand_member_brand"].pk).update(verified_at=timezone.now())
    listed = world.objects["other_creator"]
    Enrollment.objects.create(creator=listed, program=Program.objects.get(slug="marketplace"),
                              status=Enrollment.Status.ENROLLED, terms_version="v1")
    MarketplaceProfile.objects.create(creator=listed, handle=listed.handle, country="US",
                                      bio="Listed in the marketplace.", categories=["food"],
                                      languages=["en"], followers=12_000, facets="=c:food =l:en")
    world.objects["shortlist"] = Shortlist.objects.create(
        brand=world.objects["brand_member_brand"], name="Summer", created_by=world.users["brand_member"])
    # An entry for a creator who is not (or no longer) in search: lists keep them.
    ShortlistEntry.objects.create(shortlist=world.objects["shortlist"], creator=world.objects["creator"],
                                  added_by=world.users["brand_member"])
    _campaigns(world)


def _campaigns(world: World) -> None:
    """brand_member's brand has: a campaign with no invitations ("campaign"); a pending invitation
    to other_creator ("invitation") and a counter-offer from creator ("countered_invitation"); an
    accepted invitation to other_creator whose collaboration waits for funding ("collaboration")."""
    from datetime import timedelta

    from django.utils import timezone

    from marketplace.models import Campaign, Collaboration, Invitation

    brand, buyer = world.objects["brand_member_brand"], world.users["brand_member"]
    soon, later = timezone.now() + timedelta(days=7), timezone.now() + timedelta(days=30)

    def campaign(title: str) -> Campaign:
        return Campaign.objects.create(brand=brand, title=title, deliverables=["video"], budget=200_000,
                                       deadline=later, created_by=buyer)

    world.objects["campaign"] = campaign("Spring launch")
    invites = campaign("Summer launch")
    world.objects["invitation"] = Invitation.objects.create(
        campaign=invites, creator=world.objects["other_creator"], fee=50_000, expires_at=soon, created_by=buyer)
    world.objects["countered_invitation"] = Invitation.objects.create(
        campaign=invites, creator=world.objects["creator"], fee=50_000, counter_fee=60_000,
        state=Invitation.State.COUNTERED, expires_at=soon, created_by=buyer)
    collab = campaign("Autumn launch")
    accepted = Invitation.objects.create(campaign=collab, creator=world.objects["other_creator"], fee=50_000,
                                         state=Invitation.State.ACCEPTED, expires_at=soon, created_by=buyer)
    world.objects["collaboration"] = Collaboration.objects.create(
        invitation=accepted, campaign=collab, brand=brand, creator=accepted.creator, fee=50_000,
        platform_fee_bps=0, max_revisions=2, fund_by=soon, deadline=later)
