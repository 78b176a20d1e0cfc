"""Reads: the rule book, a creator's eligibility per program, metrics history."""

from __future__ import annotations

import datetime
from collections import defaultdict
from dataclasses import dataclass

from django.db.models import QuerySet, Subquery
from django.utils import timezone

from creatornext.accounts.models import CreatorProfile, User
from eligibility.evaluation import (
    EnrollmentState,
    Evaluation,
    Facts,
    Outcome,
    ProgramSpec,
    RuleBook,
    RuleSpec,
    TermsSpec,
    evaluate,
)
from eligibility.models import Enrollment, MetricsSnapshot, Program, Rule, TermsVersion


def rule_book(*, now: datetime.datetime | None = None) -> RuleBook:
    """Every program with its rules and current terms: three queries, whatever the creator count."""
    now = now or timezone.now()
    defaults: dict[int, dict[str, RuleSpec]] = defaultdict(dict)
    by_country: dict[int, dict[str, dict[str, RuleSpec]]] = defaultdict(lambda: defaultdict(dict))
    for rule in Rule.objects.all():
        spec = RuleSpec(key=rule.key, threshold=rule.threshold, allowed=rule.allowed_values)
        if rule.country:
            by_country[rule.program_id][rule.country][rule.key] = spec
        else:
            defaults[rule.program_id][rule.key] = spec
    terms: dict[int, TermsSpec] = {}
    for t in TermsVersion.objects.filter(published_at__lte=now).order_by("program_id", "-published_at",
                                                                          "-pk"):
        terms.setdefault(t.program_id, TermsSpec(t.version, t.body, t.published_at))
    programs = tuple(
        ProgramSpec(id=p.pk, slug=p.slug, name=p.name, description=p.description, position=p.position,
                    rules_version=p.rules_version, reoptin_after_revoke_days=p.reoptin_after_revoke_days,
                    default_rules=dict(defaults[p.pk]),
                    country_rules={c: dict(r) for c, r in by_country[p.pk].items()},
                    terms=terms.get(p.pk))
        for p in Program.objects.order_by("position", "slug")
    )
    return RuleBook(programs)


def creator_of(user: User) -> CreatorProfile | None:
    """The signed-in user's creator profile (with the user), or None for a non-creator."""
    if not user.is_authenticated:
        return None
    return CreatorProfile.objects.select_related("user").filter(user=user).first()


def enrollments_of(creator: CreatorProfile) -> dict[str, Enrollment]:
    return {e.program.slug: e for e in
            Enrollment.objects.filter(creator=creator).select_related("program")}


def states_of(enrollments: dict[str, Enrollment]) -> dict[str, EnrollmentState]:
    return {slug: EnrollmentState(e.status, e.staff_granted) for slug, e in enrollments.items()}


@dataclass(frozen=True)
class ProgramStatus:
    """One program as the creator sees it (API.md's eligibility item, plus context for the page)."""

    outcome: Outcome
    enrollment: Enrollment | None
    facts: Facts
    opt_in_available_at: datetime.datetime | None
    now: datetime.datetime

    @property
    def program(self) -> ProgramSpec:
        return self.outcome.program

    @property
    def status(self) -> str:
        """The stored status that governs money; otherwise eligible / not_eligible right now."""
        stored = self.enrollment.status if self.enrollment else Enrollment.Status.NOT_ENROLLED
        if stored != Enrollment.Status.NOT_ENROLLED:
            return stored
        return "eligible" if self.outcome.eligible else "not_eligible"

    @property
    def can_opt_in(self) -> bool:
        if self.status == Enrollment.Status.REVOKED:
            return (self.opt_in_available_at is not None and self.opt_in_available_at <= self.now
                    and self.outcome.eligible)
        return self.status == "eligible" or (self.status == Enrollment.Status.PAUSED
                                             and self.outcome.eligible)

    @property
    def terms_outdated(self) -> bool:
        current = self.program.terms
        return (self.status == Enrollment.Status.ENROLLED and current is not None
                and self.enrollment is not None and self.enrollment.terms_version != current.version)


def reoptin_available_at(enrollment: Enrollment | None, program: ProgramSpec) -> datetime.datetime | None:
    """When a revoked creator may opt in again (None unless revoked)."""
    if enrollment is None or enrollment.status != Enrollment.Status.REVOKED or enrollment.revoked_at is None:
        return None
    return enrollment.revoked_at + datetime.timedelta(days=program.reoptin_after_revoke_days)


def creator_eligibility(creator: CreatorProfile, *, book: RuleBook | None = None,
                        now: datetime.datetime | None = None) -> list[ProgramStatus]:
    """Every program for this creator (``creator.user`` loaded): 3 + 1 queries."""
    now = now or timezone.now()
    book = book or rule_book(now=now)
    enrollments = enrollments_of(creator)
    facts = Facts.of(creator)
    evaluation: Evaluation = evaluate(facts, book, states_of(enrollments), now=now)
    return [ProgramStatus(outcome, enrollments.get(slug), facts,
                          reoptin_available_at(enrollments.get(slug), outcome.program), now)
            for slug, outcome in evaluation.outcomes.items()]


def enrollment_status(creator: CreatorProfile | int, program: str) -> str | None:
    """The stored status of one enrolment, in one query (None: never enrolled)."""
    creator_id = creator if isinstance(creator, int) else creator.pk
    return (Enrollment.objects.filter(creator_id=creator_id, program__slug=program)
            .values_list("status", flat=True).first())


def metrics_history(creator: CreatorProfile) -> QuerySet[MetricsSnapshot]:
    return MetricsSnapshot.objects.filter(creator=creator).order_by("-recorded_at", "-pk")


def enrolled_in(program: str) -> QuerySet[Enrollment]:
    """The enrolments of one program whose status is ``enrolled`` (not paused, revoked or opted
    out), for other apps to filter against, e.g. marketplace search's
    ``Exists(enrolled_in("marketplace").filter(creator_id=OuterRef("creator_id")))``."""
    # The program as a scalar subquery (one InitPlan), not a join: the planner then estimates the
    # share of enrolled rows from the enrolment table's own statistics.
    program_id = Program.objects.filter(slug=program).values("id")[:1]
    return Enrollment.objects.filter(program_id=Subquery(program_id), status=Enrollment.Status.ENROLLED)
