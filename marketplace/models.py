"""Marketplace profiles, their metrics, and brands' shortlists.

A ``MarketplaceProfile`` belongs to one creator. Who may have one and who appears in search is the
``marketplace`` program's business (``eligibility/``): search shows a profile only while its
creator is *enrolled* in that program, checked at query time, so a paused or opted-out creator
leaves search at once and comes back when re-enrolled, with nothing here to keep in step.

Search columns are denormalised onto the profile row so that one table answers a search with its
own indexes (docs/decisions/0009-marketplace-search.md):

- ``handle``, ``display_name`` and ``followers`` are copies of the creator profile's (the metrics feed owns the
  originals); ``services.profiles_sync`` refreshes them (on every marketplace write, and by beat).
- ``facets`` holds the filter values as tokens (``=c:beauty =l:en =ac:US:30 ...``). On PostgreSQL
  two generated columns serve search (migrations 0002 and 0006): ``facet_codes``, the tokens as
  integers, with a GIN index and carried by the default ordering's index (the category, language
  and audience-share filters), and ``search_document``, a tsvector of the handle's words ("@" the
  first, "#" the later ones) and the bio's, with a GIN index (text search). Those columns and
  indexes exist only on PostgreSQL; SQLite, the embedded default, searches the same columns with
  LIKE.
"""

from __future__ import annotations

from django.db import models

from creatornext.accounts.models import COUNTRY_VALIDATOR, Brand, CreatorProfile, User


class MarketplaceProfile(models.Model):
    creator = models.OneToOneField(CreatorProfile, on_delete=models.PROTECT,
                                   related_name="marketplace_profile")
    # Copies of creator.handle and display_name (services.profiles_sync keeps them)
    handle = models.CharField(max_length=24)
    display_name = models.CharField(max_length=80, blank=True)
    bio = models.TextField(max_length=1000, blank=True)
    categories = models.JSONField(default=list, blank=True, help_text="From the fixed taxonomy.")
    languages = models.JSONField(default=list, blank=True, help_text="ISO 639-1 codes.")
    country = models.CharField(max_length=2, validators=[COUNTRY_VALIDATOR])
    # Starting rates per deliverable type: {"video": {"amount": 50000, "currency": "USD"}}
    rates = models.JSONField(default=dict, blank=True)

    # Metrics. followers is a copy of creator.followers; the rest come from the marketplace feed.
    followers = models.PositiveBigIntegerField(default=0)
    avg_views = models.PositiveBigIntegerField(default=0)
    engagement_rate_bps = models.PositiveIntegerField(default=0)
    # Whole percentages: {"US": 41, "GB": 12}, {"female": 60, ...}, {"18-24": 45, ...}
    audience_countries = models.JSONField(default=dict, blank=True)
    audience_genders = models.JSONField(default=dict, blank=True)
    audience_ages = models.JSONField(default=dict, blank=True)
    metrics_updated_at = models.DateTimeField(null=True, blank=True)

    # Filter tokens for the search index (services.facets_of); never edited by hand.
    facets = models.TextField(blank=True, default="", editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            # One per ordering, ending in id: keyset pagination walks them (no OFFSET, no sort).
            # On PostgreSQL mkt_profile_followers also INCLUDEs the column filters (migration 0004).
            models.Index(fields=["-followers", "-id"], name="mkt_profile_followers"),
            models.Index(fields=["-engagement_rate_bps", "-id"], name="mkt_profile_engagement"),
            models.Index(fields=["-avg_views", "-id"], name="mkt_profile_avg_views"),
            # The commonest filter with the default ordering.
            models.Index(fields=["country", "-followers", "-id"], name="mkt_profile_country"),
        ]

    def __str__(self) -> str:
        return f"@{self.handle} (marketplace)"


class Shortlist(models.Model):
    """A brand's saved, named list of creators. Only the brand's members see it."""

    brand = models.ForeignKey(Brand, on_delete=models.CASCADE, related_name="shortlists")
    name = models.CharField(max_length=120)
    created_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    creators = models.ManyToManyField(CreatorProfile, through="ShortlistEntry", related_name="+")

    class Meta:
        indexes = [models.Index(fields=["brand", "-id"], name="shortlist_by_brand")]

    def __str__(self) -> str:
        return f"{self.name} ({self.brand})"


class ShortlistEntry(models.Model):
    shortlist = models.ForeignKey(Shortlist, on_delete=models.CASCADE, related_name="entries")
    creator = models.ForeignKey(CreatorProfile, on_delete=models.PROTECT, related_name="+")
    added_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["shortlist", "creator"], name="shortlist_entry_once")]

    def __str__(self) -> str:
        return f"{self.creator} on {self.shortlist}"


# --- campaigns, invitations, collaborations (issue 13; see marketplace/campaigns.py) ------------
class Campaign(models.Model):
    """A brand's brief: what it wants made, for how much in total, by when."""

    brand = models.ForeignKey(Brand, on_delete=models.PROTECT, related_name="campaigns")
    title = models.CharField(max_length=120)
    brief = models.TextField(max_length=5000, blank=True)
    deliverables = models.JSONField(default=list, help_text="From taxonomy.DELIVERABLES.")
    budget = models.BigIntegerField(help_text="Minor units.")
    currency = models.CharField(max_length=3, default="USD")
    deadline = models.DateTimeField()
    created_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["brand", "-id"], name="campaign_by_brand")]
        constraints = [models.CheckConstraint(condition=models.Q(budget__gt=0), name="campaign_budget_positive")]

    def __str__(self) -> str:
        return f"{self.title} ({self.brand})"


class Invitation(models.Model):
    class State(models.TextChoices):
        PENDING = "pending"  # waiting for the creator
        COUNTERED = "countered"  # the creator asked for counter_fee; waiting for the brand
        ACCEPTED = "accepted"  # a collaboration exists
        DECLINED = "declined"  # by the creator, or the brand declined the counter-offer
        EXPIRED = "expired"

    campaign = models.ForeignKey(Campaign, on_delete=models.PROTECT, related_name="invitations")
    creator = models.ForeignKey(CreatorProfile, on_delete=models.PROTECT, related_name="invitations")
    fee = models.BigIntegerField(help_text="The brand's offer, minor units.")
    currency = models.CharField(max_length=3, default="USD")
    message = models.TextField(max_length=2000, blank=True)
    counter_fee = models.BigIntegerField(null=True, blank=True)
    state = models.CharField(max_length=12, choices=State.choices, default=State.PENDING)
    declined_by = models.CharField(max_length=8, blank=True)  # "creator" or "brand"
    expires_at = models.DateTimeField()
    created_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["creator", "-id"], name="invitation_by_creator"),
                   models.Index(fields=["campaign", "-id"], name="invitation_by_campaign"),
                   models.Index(fields=["expires_at"], name="invitation_open_due",
                                condition=models.Q(state__in=["pending", "countered"]))]
        constraints = [
            models.CheckConstraint(condition=models.Q(fee__gt=0), name="invitation_fee_positive"),
            # One open (or accepted) invitation per creator and campaign.
            models.UniqueConstraint(fields=["campaign", "creator"], name="invitation_open_once",
                                    condition=models.Q(state__in=["pending", "countered", "accepted"])),
        ]

    def __str__(self) -> str:
        return f"invitation {self.pk} to @{self.creator_id} ({self.state})"


class Collaboration(models.Model):
    """An accepted invitation: the fee goes into escrow, the creator delivers, escrow is released
    (or refunded). States only move forward:

        pending_funding → funded → submitted ⇄ revision_requested → released
                        ↘ cancelled   ↘ refunded       ↘ escalated → released / refunded
    """

    class State(models.TextChoices):
        PENDING_FUNDING = "pending_funding"
        FUNDED = "funded"
        SUBMITTED = "submitted"
        REVISION_REQUESTED = "revision_requested"
        ESCALATED = "escalated"  # staff release or refund
        RELEASED = "released"
        REFUNDED = "refunded"
        CANCELLED = "cancelled"  # before funding: no money moved
        DISPUTED = "disputed"  # the brand's bank took the payment back: staff follow up

    invitation = models.OneToOneField(Invitation, on_delete=models.PROTECT, related_name="collaboration")
    campaign = models.ForeignKey(Campaign, on_delete=models.PROTECT, related_name="collaborations")
    brand = models.ForeignKey(Brand, on_delete=models.PROTECT, related_name="collaborations")
    creator = models.ForeignKey(CreatorProfile, on_delete=models.PROTECT, related_name="collaborations")
    fee = models.BigIntegerField(help_text="What escrow holds and the creator is paid from (minor units).")
    currency = models.CharField(max_length=3, default="USD")
    state = models.CharField(max_length=20, choices=State.choices, default=State.PENDING_FUNDING)
    # The numbers it was made under (a later settings change never rewrites history)
    platform_fee_bps = models.PositiveIntegerField()
    max_revisions = models.PositiveIntegerField()
    processor_fee = models.BigIntegerField(null=True, blank=True,
                                           help_text="The estimate the brand paid on top (minor units).")
    payment = models.ForeignKey("payments.Payment", null=True, blank=True, on_delete=models.PROTECT,
                                related_name="+")
    fund_by = models.DateTimeField()
    deadline = models.DateTimeField()
    deliverable_url = models.URLField(max_length=500, blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    auto_approve_at = models.DateTimeField(null=True, blank=True)
    revisions = models.PositiveIntegerField(default=0)
    revision_note = models.TextField(max_length=2000, blank=True)
    funded_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["brand", "-id"], name="collab_by_brand"),
                   models.Index(fields=["creator", "-id"], name="collab_by_creator"),
                   models.Index(fields=["fund_by"], name="collab_unfunded_due",
                                condition=models.Q(state="pending_funding")),
                   models.Index(fields=["auto_approve_at"], name="collab_auto_approve_due",
                                condition=models.Q(state="submitted"))]
        constraints = [models.CheckConstraint(condition=models.Q(fee__gt=0), name="collab_fee_positive")]

    def __str__(self) -> str:
        return f"collaboration {self.pk} ({self.state})"

    @property
    def ref(self) -> str:
        return f"collaboration:{self.pk}"


class CollaborationMessage(models.Model):
    collaboration = models.ForeignKey(Collaboration, on_delete=models.CASCADE, related_name="messages")
    author = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    body = models.TextField(max_length=2000)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["collaboration", "-id"], name="collab_message_by_collab")]

    def __str__(self) -> str:
        return f"message {self.pk} on collaboration {self.collaboration_id}"
