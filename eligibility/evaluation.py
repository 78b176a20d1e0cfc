"""Evaluation: pure functions over plain values, no database access.

``evaluate(facts, book, states, now)`` answers, for every program, whether the creator meets each
requirement (``Check``: key, met, current, required) and what the stored enrolment status should be
now. Selectors load the ``RuleBook`` once (3 queries) and the facts in bulk, so evaluating a batch of
creators costs no query per creator.

Status rules (PRODUCT.md §1):
- enrolled → paused when the requirements stop holding (unless staff granted the program);
- paused → enrolled when they hold again (or staff granted it);
- not enrolled / revoked never change by evaluation: opt-in is explicit, and only staff lift a revoke.
``membership`` is met when the creator-next enrolment is (after this same evaluation) ``enrolled``,
so pausing creator-next pauses the programs that require membership in the same pass.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from creatornext.accounts.selectors import age_on
from eligibility.models import (
    MEMBERSHIP_PROGRAM,
    MINIMUM_KEYS,
    ONE_OF_KEYS,
    WINDOW_KEYS,
    Enrollment,
    RequirementKey,
)

# The order requirements are listed in, whatever order the rules were written in.
KEY_ORDER = {key: i for i, key in enumerate([
    "membership", "age", "followers", "views_30d", "posts_30d", "recent_public_post",
    "account_age_days", "standing", "account_type", "fraud_flag",
])}
ACTIVE = (Enrollment.Status.ENROLLED, Enrollment.Status.PAUSED)


@dataclass(frozen=True)
class RuleSpec:
    key: str
    threshold: int | None = None
    allowed: tuple[str, ...] = ()


@dataclass(frozen=True)
class TermsSpec:
    version: str
    body: str
    published_at: datetime.datetime


@dataclass(frozen=True)
class ProgramSpec:
    id: int
    slug: str
    name: str
    description: str
    position: int
    rules_version: int
    reoptin_after_revoke_days: int
    default_rules: Mapping[str, RuleSpec]
    country_rules: Mapping[str, Mapping[str, RuleSpec]]
    terms: TermsSpec | None

    def rules_for(self, country: str) -> list[RuleSpec]:
        """The default rules with this country's overrides in their place."""
        merged = {**self.default_rules, **self.country_rules.get(country, {})}
        return sorted(merged.values(), key=lambda r: KEY_ORDER.get(r.key, 99))


@dataclass(frozen=True)
class RuleBook:
    programs: tuple[ProgramSpec, ...]  # display order

    def get(self, slug: str) -> ProgramSpec | None:
        return next((p for p in self.programs if p.slug == slug), None)

    def by_id(self, program_id: int) -> ProgramSpec | None:
        return next((p for p in self.programs if p.id == program_id), None)

    @property
    def evaluation_order(self) -> list[ProgramSpec]:
        """Creator Next first: the others' ``membership`` depends on its new status."""
        return sorted(self.programs, key=lambda p: p.slug != MEMBERSHIP_PROGRAM)


@dataclass(frozen=True)
class Facts:
    """What eligibility reads about a creator (profile metrics, country, the user's birth date)."""

    country: str
    date_of_birth: datetime.date | None
    followers: int
    views_30d: int
    posts_30d: int
    account_created_at: datetime.datetime | None
    account_type: str
    standing: str
    fraud_flag: bool
    last_public_post_at: datetime.datetime | None

    @classmethod
    def of(cls, profile: Any) -> Facts:
        """From a CreatorProfile (with its user loaded)."""
        return cls(country=profile.country, date_of_birth=profile.user.date_of_birth,
                   followers=profile.followers, views_30d=profile.views_30d,
                   posts_30d=profile.posts_30d, account_created_at=profile.account_created_at,
                   account_type=profile.account_type, standing=profile.standing,
                   fraud_flag=profile.fraud_flag, last_public_post_at=profile.last_public_post_at)

    @classmethod
    def from_row(cls, row: Mapping[str, Any], prefix: str = "") -> Facts:
        """From a ``.values()`` row whose creator fields start with ``prefix`` (e.g. "creator__")."""
        return cls(country=row[f"{prefix}country"], date_of_birth=row[f"{prefix}user__date_of_birth"],
                   followers=row[f"{prefix}followers"], views_30d=row[f"{prefix}views_30d"],
                   posts_30d=row[f"{prefix}posts_30d"],
                   account_created_at=row[f"{prefix}account_created_at"],
                   account_type=row[f"{prefix}account_type"], standing=row[f"{prefix}standing"],
                   fraud_flag=row[f"{prefix}fraud_flag"],
                   last_public_post_at=row[f"{prefix}last_public_post_at"])


FACT_FIELDS = ("country", "user__date_of_birth", "followers", "views_30d", "posts_30d",
               "account_created_at", "account_type", "standing", "fraud_flag", "last_public_post_at")


@dataclass(frozen=True)
class Check:
    key: str
    met: bool
    current: Any
    required: Any
    comparison: str  # at_least | at_most | one_of | equals

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "met": self.met, "current": self.current, "required": self.required,
                "comparison": self.comparison}


@dataclass(frozen=True)
class EnrollmentState:
    status: str = Enrollment.Status.NOT_ENROLLED
    staff_granted: bool = False


@dataclass(frozen=True)
class Outcome:
    program: ProgramSpec
    checks: tuple[Check, ...]
    state: EnrollmentState
    new_status: str

    @property
    def requirements_met(self) -> bool:
        return all(c.met for c in self.checks)

    @property
    def eligible(self) -> bool:
        """May take part: every requirement holds, or staff granted the program."""
        return self.requirements_met or self.state.staff_granted

    @property
    def unmet(self) -> list[Check]:
        return [c for c in self.checks if not c.met]

    @property
    def changed(self) -> bool:
        return self.new_status != self.state.status


@dataclass
class Evaluation:
    outcomes: dict[str, Outcome] = field(default_factory=dict)

    def __getitem__(self, slug: str) -> Outcome:
        return self.outcomes[slug]

    def __iter__(self):
        return iter(self.outcomes.values())

    @property
    def changes(self) -> list[Outcome]:
        return [o for o in self.outcomes.values() if o.changed]


def _days_between(earlier: datetime.datetime, now: datetime.datetime) -> int:
    """Whole UTC calendar days from ``earlier`` to ``now`` (PRODUCT.md: a day is the UTC day)."""
    utc = datetime.UTC
    return (now.astimezone(utc).date() - earlier.astimezone(utc).date()).days


def check(rule: RuleSpec, facts: Facts, *, now: datetime.datetime, member: bool) -> Check:
    key = rule.key
    if key in MINIMUM_KEYS:
        current: int | None
        if key == RequirementKey.AGE:
            current = age_on(facts.date_of_birth, now.astimezone(datetime.UTC).date()) \
                if facts.date_of_birth else None
        elif key == RequirementKey.ACCOUNT_AGE_DAYS:
            current = _days_between(facts.account_created_at, now) if facts.account_created_at else None
        else:
            current = getattr(facts, key)
        required = rule.threshold or 0
        return Check(key, current is not None and current >= required, current, required, "at_least")
    if key in WINDOW_KEYS:  # recent_public_post: days since the last public post, at most the window
        days = _days_between(facts.last_public_post_at, now) if facts.last_public_post_at else None
        window = rule.threshold or 0
        return Check(key, days is not None and days <= window, days, window, "at_most")
    if key in ONE_OF_KEYS:
        value = getattr(facts, key)
        return Check(key, value in rule.allowed, value, list(rule.allowed), "one_of")
    if key == RequirementKey.FRAUD_FLAG:
        return Check(key, not facts.fraud_flag, facts.fraud_flag, False, "equals")
    if key == RequirementKey.MEMBERSHIP:
        return Check(key, member, member, True, "equals")
    raise ValueError(f"unknown requirement key {key!r}")


def next_status(state: EnrollmentState, eligible: bool) -> str:
    if state.status == Enrollment.Status.ENROLLED and not eligible:
        return Enrollment.Status.PAUSED
    if state.status == Enrollment.Status.PAUSED and eligible:
        return Enrollment.Status.ENROLLED
    return state.status


def evaluate(facts: Facts, book: RuleBook, states: Mapping[str, EnrollmentState],
             *, now: datetime.datetime, only: Iterable[str] | None = None) -> Evaluation:
    """Every program's checks and next stored status (``only``: limit the programs returned)."""
    wanted = set(only) if only is not None else None
    result = Evaluation()
    member = False
    for program in book.evaluation_order:
        state = states.get(program.slug, EnrollmentState())
        checks = tuple(check(rule, facts, now=now, member=member)
                       for rule in program.rules_for(facts.country))
        eligible = all(c.met for c in checks) or state.staff_granted
        outcome = Outcome(program, checks, state, next_status(state, eligible))
        if program.slug == MEMBERSHIP_PROGRAM:
            member = outcome.new_status == Enrollment.Status.ENROLLED
        result.outcomes[program.slug] = outcome
    ordered = {p.slug: result.outcomes[p.slug] for p in book.programs
               if wanted is None or p.slug in wanted}
    return Evaluation(ordered)
