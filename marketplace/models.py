"""Marketplace profiles, their metrics, and brands' shortlists.

A ``MarketplaceProfile`` belongs to one creator. Who may have one and who appears in search is the
``marketplace`` program's business (``eligibility/``): search shows a profile only while its
creator is *enrolled* in that program, checked at query time, so a paused or opted-out creator
leaves search at once and comes back when re-enrolled, with nothing here to keep in step.

Search columns are denormalised onto the profile row so that one table answers a search with its
own indexes (docs/decisions/0009-marketplace-search.md):

- ``handle``, ``display_name`` and ``followers`` are copies of the creator profile's (the metrics feed owns the
  originals); ``services.profiles_sync`` refreshes them (on every marketplace write, and by beat).
- ``facets`` holds the filter values as tokens (``=c:beauty =l:en =ac:US:30 ...``); on PostgreSQL a
  generated ``search_document`` tsvector ("@"-marked handle words, bio words, the facet tokens) with a
  GIN index serves text search and the category, language and audience-share filters together.
  That column and index exist only on PostgreSQL (migration 0002); SQLite, the embedded default,
  searches the same columns with LIKE.
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
