"""Programs, their rules and terms as data; enrolments; the metrics feed's history.

Every threshold is a row staff edit in the admin (audited): a ``Rule`` per program and requirement,
with optional per-country rows (KR, JP) that replace the program's default rule for creators of that
country. Each program carries a ``rules_version`` that goes up with every rule change; an enrolment
stores the version (and the requirement values) its current status was decided under.

Only enrolments are stored: "eligible" / "not eligible" is computed from the rules and the current
metrics whenever it is asked for, so a million creators who never opted in cost nothing to keep up
to date. The stored statuses are the ones that govern money: ``enrolled`` (new tips and gifts are
accepted), ``paused`` (stopped qualifying; earnings kept, nothing new accepted), ``revoked`` (staff
removed the creator; opt-in again no sooner than ``Program.reoptin_after_revoke_days`` later) and
``not_enrolled`` (opted out, or a row that only carries a staff grant).
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from creatornext.accounts.models import COUNTRY_VALIDATOR, CreatorProfile

MEMBERSHIP_PROGRAM = "creator-next"


class RequirementKey(models.TextChoices):
    AGE = "age", "Age (years)"
    FOLLOWERS = "followers", "Followers"
    VIEWS_30D = "views_30d", "Video views in the last 30 days"
    POSTS_30D = "posts_30d", "Public posts in the last 30 days"
    ACCOUNT_AGE_DAYS = "account_age_days", "Account age (days)"
    STANDING = "standing", "Account standing"
    ACCOUNT_TYPE = "account_type", "Account type"
    FRAUD_FLAG = "fraud_flag", "No fraud flag"
    MEMBERSHIP = "membership", "Member of Creator Next"
    RECENT_PUBLIC_POST = "recent_public_post", "A public post recently (window in days)"


# How each key's rule is parameterised.
MINIMUM_KEYS = frozenset({RequirementKey.AGE, RequirementKey.FOLLOWERS, RequirementKey.VIEWS_30D,
                          RequirementKey.POSTS_30D, RequirementKey.ACCOUNT_AGE_DAYS})
WINDOW_KEYS = frozenset({RequirementKey.RECENT_PUBLIC_POST})  # threshold = window in days
ONE_OF_KEYS = frozenset({RequirementKey.STANDING, RequirementKey.ACCOUNT_TYPE})  # allowed values
FLAG_KEYS = frozenset({RequirementKey.FRAUD_FLAG, RequirementKey.MEMBERSHIP})  # no parameter
ALLOWED_CHOICES = {
    RequirementKey.STANDING: CreatorProfile.Standing.values,
    RequirementKey.ACCOUNT_TYPE: CreatorProfile.AccountType.values,
}


class Program(models.Model):
    slug = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=80)
    description = models.TextField(blank=True)
    position = models.PositiveSmallIntegerField(default=0, help_text="Order on the creator's page.")
    reoptin_after_revoke_days = models.PositiveIntegerField(
        default=30, help_text="After a staff revocation, the creator may opt in again this many days later.")
    rules_version = models.PositiveIntegerField(
        default=1, editable=False, help_text="Goes up with every change to this program's rules.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["position", "slug"]

    def __str__(self) -> str:
        return self.name


class Rule(models.Model):
    """One requirement of a program; ``country`` empty = the default for every other country."""

    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="rules")
    key = models.CharField(max_length=24, choices=RequirementKey.choices)
    country = models.CharField(max_length=2, blank=True, default="", validators=[COUNTRY_VALIDATOR],
                               help_text="ISO country code of an override (e.g. KR); empty for the default.")
    threshold = models.PositiveBigIntegerField(
        null=True, blank=True,
        help_text="Minimum for age, followers, views, posts and account age; the window in days for "
                  "a recent public post.")
    allowed = models.CharField(
        max_length=200, blank=True,
        help_text="Comma-separated allowed values for standing and account type, e.g. personal,business.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["program__position", "key", "country"]
        constraints = [
            models.UniqueConstraint(fields=["program", "key", "country"], name="rule_once_per_country"),
        ]

    def __str__(self) -> str:
        where = f" ({self.country})" if self.country else ""
        return f"{self.program.slug}: {self.key}{where}"

    @property
    def allowed_values(self) -> tuple[str, ...]:
        return tuple(v.strip() for v in self.allowed.split(",") if v.strip())

    def clean(self) -> None:
        errors: dict[str, list[str]] = {}
        if self.country:
            self.country = self.country.upper()
        if self.key in MINIMUM_KEYS or self.key in WINDOW_KEYS:
            if self.threshold is None:
                errors["threshold"] = ["This requirement needs a number."]
            if self.allowed:
                errors["allowed"] = ["Leave empty: this requirement takes a number."]
        elif self.key in ONE_OF_KEYS:
            values = self.allowed_values
            choices = ALLOWED_CHOICES[RequirementKey(self.key)]
            if not values:
                errors["allowed"] = [f"List the allowed values ({', '.join(choices)})."]
            elif unknown := [v for v in values if v not in choices]:
                errors["allowed"] = [f"Unknown value(s) {', '.join(unknown)}; use {', '.join(choices)}."]
            else:
                self.allowed = ",".join(values)
            if self.threshold is not None:
                errors["threshold"] = ["Leave empty: this requirement takes allowed values."]
        elif self.threshold is not None or self.allowed:
            errors["threshold"] = ["This requirement takes no parameter."]
        if self.key == RequirementKey.MEMBERSHIP and self.program_id is not None \
                and self.program.slug == MEMBERSHIP_PROGRAM:
            errors["key"] = ["Creator Next itself cannot require membership of Creator Next."]
        if errors:
            raise ValidationError(errors)


class TermsVersion(models.Model):
    """A program's terms. The current version is the latest published one; it is never edited."""

    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="terms_versions")
    version = models.CharField(max_length=40)
    body = models.TextField()
    published_at = models.DateTimeField(help_text="Becomes the current version at this time.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["program__position", "-published_at"]
        constraints = [
            models.UniqueConstraint(fields=["program", "version"], name="terms_version_once"),
        ]

    def __str__(self) -> str:
        return f"{self.program.slug} terms {self.version}"


class Enrollment(models.Model):
    class Status(models.TextChoices):
        NOT_ENROLLED = "not_enrolled", "Not enrolled"
        ENROLLED = "enrolled"
        PAUSED = "paused"
        REVOKED = "revoked"

    creator = models.ForeignKey(CreatorProfile, on_delete=models.PROTECT, related_name="enrollments")
    program = models.ForeignKey(Program, on_delete=models.PROTECT, related_name="enrollments")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.NOT_ENROLLED)
    terms_version = models.CharField(max_length=40, blank=True)
    terms_accepted_at = models.DateTimeField(null=True, blank=True)
    # A staff grant makes the program count as eligible whatever the metrics, until staff remove it.
    staff_granted = models.BooleanField(default=False)
    revoked_at = models.DateTimeField(null=True, blank=True)
    # What the current status was decided under: the program's rules version and the evaluation.
    rules_version = models.PositiveIntegerField(null=True, blank=True)
    decided_requirements = models.JSONField(default=list, blank=True)
    status_changed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["creator", "program"], name="enrollment_once"),
        ]
        indexes = [
            # The daily re-evaluation walks only the rows whose status can change, by creator.
            models.Index(fields=["creator"], name="enrollment_active_by_creator",
                         condition=models.Q(status__in=["enrolled", "paused"])),
        ]

    def __str__(self) -> str:
        return f"{self.creator} in {self.program.slug}: {self.status}"


class MetricsSnapshot(models.Model):
    """The metrics feed's history: every change, in full, with where it came from. Append-only."""

    class Source(models.TextChoices):
        API = "api"
        CSV = "csv", "CSV import"
        ADMIN = "admin"
        DEMO = "demo"

    creator = models.ForeignKey(CreatorProfile, on_delete=models.PROTECT, related_name="metrics_history")
    followers = models.PositiveBigIntegerField()
    views_30d = models.PositiveBigIntegerField()
    posts_30d = models.PositiveIntegerField()
    account_created_at = models.DateTimeField(null=True, blank=True)
    account_type = models.CharField(max_length=12, choices=CreatorProfile.AccountType.choices)
    standing = models.CharField(max_length=10, choices=CreatorProfile.Standing.choices)
    fraud_flag = models.BooleanField()
    last_public_post_at = models.DateTimeField(null=True, blank=True)
    source = models.CharField(max_length=8, choices=Source.choices)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                    on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["creator", "recorded_at"])]
        ordering = ["-recorded_at", "-id"]

    def __str__(self) -> str:
        return f"{self.creator} metrics @ {self.recorded_at:%Y-%m-%d %H:%M}"


class ReevaluationRun(models.Model):
    """One pass over every enrolled creator, in batches; ``last_creator_id`` is the checkpoint a
    re-run continues from. The daily run is one per UTC day (``day``)."""

    class Kind(models.TextChoices):
        DAILY = "daily"
        RULES_CHANGED = "rules_changed", "Rules changed"
        MANUAL = "manual"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    day = models.DateField(null=True, blank=True, unique=True)
    last_creator_id = models.BigIntegerField(default=0)
    batches = models.PositiveIntegerField(default=0)
    creators_checked = models.PositiveBigIntegerField(default=0)
    changes = models.PositiveBigIntegerField(default=0)
    started_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"{self.kind} re-evaluation {self.started_at:%Y-%m-%d %H:%M}"


class CreatorMetrics(CreatorProfile):
    """The admin's view of a creator's metrics (edits go through the feed service)."""

    class Meta:
        proxy = True
        verbose_name = "creator metrics"
        verbose_name_plural = "creator metrics"


class MetricsImport(models.Model):
    """A CSV of creator metrics uploaded in the admin, imported by a worker; staff watch its progress."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    filename = models.CharField(max_length=255)
    content = models.TextField()  # the uploaded file (bounded by the admin form's size limit)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                    on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED)
    rows_total = models.PositiveIntegerField(default=0)  # data lines counted at upload
    rows_done = models.PositiveIntegerField(default=0)
    changed = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)
    refused = models.PositiveIntegerField(default=0)
    report = models.TextField(blank=True)  # refused lines with their reasons, or the failure
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"metrics import {self.pk} ({self.filename})"
