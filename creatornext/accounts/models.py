"""People: users, creator profiles, brands and their members.

Roles derive from these rows (``selectors.user_roles``): everyone is a fan; a creator profile makes
a creator; a brand membership makes a brand member; ``is_staff`` makes staff.

Users are never deleted, because money records point at them: deleting an account pseudonymises
it (``services.account_delete``).
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.core.validators import RegexValidator
from django.db import models
from django.db.models.functions import Lower

HANDLE_VALIDATOR = RegexValidator(
    r"\A[A-Za-z0-9_.]{2,24}\Z",  # \Z: "$" would let a trailing newline through ("maya\n")
    "A handle is 2–24 characters: letters, digits, underscores and dots.",
)
COUNTRY_VALIDATOR = RegexValidator(r"\A[A-Z]{2}\Z", "Use an ISO 3166-1 alpha-2 country code, e.g. US.")


class User(AbstractUser):
    # Given at sign-up; drives the age checks. Null only for staff made on the command line and for
    # deleted (pseudonymised) accounts.
    date_of_birth = models.DateField(null=True, blank=True)
    email_verified_at = models.DateTimeField(null=True, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # One account per address, whatever its case; deleted accounts have an empty email.
            models.UniqueConstraint(Lower("email"), condition=~models.Q(email=""),
                                    name="user_email_unique_ci"),
            models.UniqueConstraint(Lower("username"), name="user_username_unique_ci"),
        ]

    @property
    def email_verified(self) -> bool:
        return self.email_verified_at is not None


class CreatorProfile(models.Model):
    """A creator's public identity and the metrics that eligibility reads.

    The metric fields are written only through the eligibility metrics feed (which keeps their
    history); nothing else should set them.
    """

    class AccountType(models.TextChoices):
        PERSONAL = "personal"
        BUSINESS = "business"
        GOVERNMENT = "government", "Government or political"

    class Standing(models.TextChoices):
        GOOD = "good"
        WARNED = "warned"
        SUSPENDED = "suspended"
        BANNED = "banned"

    user = models.OneToOneField(User, on_delete=models.PROTECT, related_name="creator_profile")
    handle = models.CharField(max_length=24, validators=[HANDLE_VALIDATOR])
    country = models.CharField(max_length=2, validators=[COUNTRY_VALIDATOR])
    display_name = models.CharField(max_length=80, blank=True)
    bio = models.TextField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    # Metrics (from the feed)
    followers = models.PositiveBigIntegerField(default=0)
    views_30d = models.PositiveBigIntegerField(default=0)
    posts_30d = models.PositiveIntegerField(default=0)
    account_created_at = models.DateTimeField(null=True, blank=True)
    account_type = models.CharField(max_length=12, choices=AccountType.choices,
                                    default=AccountType.PERSONAL)
    standing = models.CharField(max_length=10, choices=Standing.choices, default=Standing.GOOD)
    fraud_flag = models.BooleanField(default=False)
    # The feed's latest public post (eligibility's ``recent_public_post``); history in eligibility.
    last_public_post_at = models.DateTimeField(null=True, blank=True)
    metrics_updated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(Lower("handle"), name="creator_handle_unique_ci"),
        ]

    def __str__(self) -> str:
        return f"@{self.handle}"


class Brand(models.Model):
    """An organisation that uses the marketplace. Only verified brands may contact creators."""

    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=140, unique=True)
    verified_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    members = models.ManyToManyField(User, through="BrandMembership", related_name="brands")

    def __str__(self) -> str:
        return self.name

    @property
    def verified(self) -> bool:
        return self.verified_at is not None


class BrandMembership(models.Model):
    class Role(models.TextChoices):
        OWNER = "owner"
        MANAGER = "manager"

    brand = models.ForeignKey(Brand, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="brand_memberships")
    role = models.CharField(max_length=10, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["brand", "user"], name="brand_member_once")]

    def __str__(self) -> str:
        return f"{self.user} ({self.role}) @ {self.brand}"


class Block(models.Model):
    """A creator blocks a fan: the fan can neither tip nor send gifts to that creator."""

    creator = models.ForeignKey(CreatorProfile, on_delete=models.CASCADE, related_name="blocks")
    fan = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["creator", "fan"], name="block_once")]

    def __str__(self) -> str:
        return f"{self.creator} blocks {self.fan}"
