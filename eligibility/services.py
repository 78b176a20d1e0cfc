"""Writes: opt-in/out, staff grant/revoke, re-evaluation, the metrics feed, rule changes.

Other apps call ``require_enrolled(creator, "tips")`` before accepting money for a creator; it raises
``NotEligible`` (the API answers 409 ``not_eligible``; ``exc.api_error()`` builds that answer), which
explains the creator's unmet requirements only to the creator (``own=True``).

Locking: every write about one creator first locks that creator's profile row, then their
enrolments, so opt-ins, metrics changes and re-evaluations of the same creator run one at a time.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.forms.models import model_to_dict
from django.utils import timezone

from creatornext.accounts.models import CreatorProfile, User
from creatornext.audit.services import audit_record
from creatornext.core.api import DomainError
from creatornext.core.emails import email_queue
from eligibility import presentation, selectors
from eligibility.evaluation import (
    ACTIVE,
    FACT_FIELDS,
    EnrollmentState,
    Facts,
    Outcome,
    ProgramSpec,
    RuleBook,
    evaluate,
)
from eligibility.models import (
    Enrollment,
    MetricsSnapshot,
    Program,
    ReevaluationRun,
    Rule,
    TermsVersion,
)

Status = Enrollment.Status


# --- errors ------------------------------------------------------------------------------------
class EligibilityError(DomainError):
    """A refusal with the API's code, a sentence and per-field reasons (409 unless a subclass says)."""


class NotEligible(EligibilityError):
    """The creator does not (or no longer) meet a program's requirements, or is not enrolled."""

    code = "not_eligible"

    def __init__(self, message: str, fields: dict[str, list[str]] | None = None, *,
                 program: str = "", status: str = "", unmet: list[str] | None = None) -> None:
        super().__init__(message, fields)
        self.program = program
        self.status = status
        self.unmet = unmet or []


class InvalidState(EligibilityError):
    code = "invalid_state"


class ProgramNotFound(LookupError):
    pass


def _unmet_fields(outcome: Outcome, facts: Facts) -> dict[str, list[str]]:
    return {c.key: [presentation.missing_text(c, facts)] for c in outcome.unmet}


def _not_eligible(outcome: Outcome, facts: Facts, *, handle: str, status: str) -> NotEligible:
    words = "; ".join(presentation.missing_text(c, facts) for c in outcome.unmet)
    name = outcome.program.name
    if status == Status.PAUSED:
        message = f"@{handle}'s {name} program is paused" + (f": {words}." if words else ".")
    elif status == Status.REVOKED:
        message = f"Staff removed @{handle} from {name}."
    elif outcome.unmet and not outcome.state.staff_granted:
        message = f"@{handle} does not meet the requirements of {name}: {words}."
    else:
        message = f"@{handle} has not opted in to {name}."
    fields = _unmet_fields(outcome, facts) if not outcome.state.staff_granted else {}
    if status not in (Status.PAUSED, Status.REVOKED) and not fields:
        fields = {"program": [f"Not enrolled in {name}."]}
    return NotEligible(message, fields, program=outcome.program.slug, status=status,
                       unmet=[c.key for c in outcome.unmet])


def _not_taking_part(handle: str, program: ProgramSpec) -> NotEligible:
    """The refusal someone else sees (a fan tipping, a brand inviting): only that the creator does
    not take part. Why not — their followers, date of birth, standing, a pause or a staff removal
    — is the creator's own business."""
    return NotEligible(f"@{handle} does not take part in {program.name}.",
                       {"creator": [f"@{handle} is not enrolled in {program.name}."]}, program=program.slug)


# --- the gate other apps call ------------------------------------------------------------------
def require_enrolled(creator: CreatorProfile | int, program: str, *, own: bool = False) -> None:
    """Raise ``NotEligible`` unless the creator is enrolled (not paused, revoked or opted out).

    ``own``: the creator is acting themselves (starting a stream, editing their profile, answering
    an invitation), so the refusal explains itself (the unmet requirements, a pause, a removal).
    Otherwise the caller is someone else and learns only that the creator does not take part.

    One query on the way through; the explanation is worked out only when refusing.
    """
    status = selectors.enrollment_status(creator, program)
    if status == Status.ENROLLED:
        return
    profile = CreatorProfile.objects.select_related("user").get(
        pk=creator if isinstance(creator, int) else creator.pk)
    book = selectors.rule_book()
    spec = book.get(program)
    if spec is None:
        raise ProgramNotFound(program)
    if not own:
        raise _not_taking_part(profile.handle, spec)
    outcome = evaluate(Facts.of(profile), book, selectors.states_of(selectors.enrollments_of(profile)),
                       now=timezone.now())[program]
    raise _not_eligible(outcome, Facts.of(profile), handle=profile.handle,
                        status=status or Status.NOT_ENROLLED)


# --- locking helpers ---------------------------------------------------------------------------
def _lock_creator(creator_id: int) -> CreatorProfile:
    return (CreatorProfile.objects.select_for_update(of=("self",), no_key=True).select_related("user")
            .get(pk=creator_id))


def _locked_enrollments(creator: CreatorProfile, book: RuleBook) -> dict[str, Enrollment]:
    out = {}
    for enrollment in Enrollment.objects.select_for_update(no_key=True).filter(creator=creator).order_by("program_id"):
        spec = book.by_id(enrollment.program_id)
        if spec is not None:
            out[spec.slug] = enrollment
    return out


def _program(book: RuleBook, slug: str) -> ProgramSpec:
    spec = book.get(slug)
    if spec is None:
        raise ProgramNotFound(slug)
    return spec


def _snapshot(enrollment: Enrollment | None) -> dict[str, Any]:
    if enrollment is None or enrollment.pk is None:
        return {"status": Status.NOT_ENROLLED, "staff_granted": False}
    return {"status": enrollment.status, "staff_granted": enrollment.staff_granted,
            "terms_version": enrollment.terms_version}


def _decided(enrollment: Enrollment, outcome: Outcome, now: datetime.datetime) -> None:
    enrollment.rules_version = outcome.program.rules_version
    enrollment.decided_requirements = [c.as_dict() for c in outcome.checks]
    enrollment.status_changed_at = now


def _reason_required(reason: str) -> str:
    reason = reason.strip()
    if not reason:
        raise ValidationError({"reason": ["Write why: staff overrides need a reason."]})
    return reason


# --- re-evaluation -----------------------------------------------------------------------------
def _apply_reevaluation(*, creator: CreatorProfile, enrollments: dict[str, Enrollment], book: RuleBook,
                        now: datetime.datetime, actor: User | None, cause: str) -> list[Outcome]:
    """Pause / resume what the current facts say (creator and enrolments already locked)."""
    facts = Facts.of(creator)
    evaluation = evaluate(facts, book, selectors.states_of(enrollments), now=now)
    changes = evaluation.changes
    for outcome in changes:
        enrollment = enrollments[outcome.program.slug]
        before = _snapshot(enrollment)
        enrollment.status = outcome.new_status
        _decided(enrollment, outcome, now)
        enrollment.save(update_fields=["status", "rules_version", "decided_requirements",
                                       "status_changed_at", "updated_at"])
        paused = outcome.new_status == Status.PAUSED
        words = [presentation.missing_text(c, facts) for c in outcome.unmet]
        audit_record(
            actor=actor, action="eligibility.paused" if paused else "eligibility.resumed", obj=enrollment,
            before=before,
            after={**_snapshot(enrollment), "rules_version": enrollment.rules_version,
                   "unmet": [c.key for c in outcome.unmet]},
            reason=f"{cause}: " + ("; ".join(words) if paused else "every requirement holds again"))
        if paused and creator.user.email and creator.user.deleted_at is None:
            email_queue(to=[creator.user.email], template="program_paused", context={
                "username": creator.user.username, "handle": creator.handle,
                "program": outcome.program.name, "missing": words,
                "link": f"{settings.SITE_URL}/eligibility/"})
    return changes


def creator_reevaluate(*, creator: CreatorProfile, actor: User | None = None, cause: str = "Re-evaluation",
                       book: RuleBook | None = None, now: datetime.datetime | None = None) -> list[Outcome]:
    """Re-evaluate one creator now: pause what stopped qualifying, resume what qualifies again."""
    now = now or timezone.now()
    with transaction.atomic():
        locked = _lock_creator(creator.pk)
        book = book or selectors.rule_book(now=now)
        return _apply_reevaluation(creator=locked, enrollments=_locked_enrollments(locked, book), book=book,
                                   now=now, actor=actor, cause=cause)


@dataclass(frozen=True)
class BatchResult:
    checked: int  # creators with an enrolment that can change (enrolled or paused)
    changed: int  # enrolments paused or resumed
    last_creator_id: int
    done: bool


def _batch(*, after_creator_id: int, limit: int, book: RuleBook, now: datetime.datetime) -> BatchResult:
    """The next ``limit`` creators (by id) with an enrolled or paused program.

    Two queries for the whole batch (their ids; their enrolments joined with their facts); the
    evaluation runs in memory, and only a creator whose status must change is locked and written.
    """
    ids = list(Enrollment.objects.filter(status__in=ACTIVE, creator_id__gt=after_creator_id)
               .order_by("creator_id").values_list("creator_id", flat=True).distinct()[:limit])
    if not ids:
        return BatchResult(0, 0, after_creator_id, True)
    rows = (Enrollment.objects
            .filter(creator_id__in=ids, status__in=ACTIVE, creator__user__deleted_at__isnull=True)
            .values("creator_id", "program_id", "status", "staff_granted",
                    *(f"creator__{f}" for f in FACT_FIELDS)))
    facts: dict[int, Facts] = {}
    states: dict[int, dict[str, EnrollmentState]] = defaultdict(dict)
    for row in rows:
        spec = book.by_id(row["program_id"])
        if spec is None:
            continue
        facts.setdefault(row["creator_id"], Facts.from_row(row, prefix="creator__"))
        states[row["creator_id"]][spec.slug] = EnrollmentState(row["status"], row["staff_granted"])
    changed = 0
    for creator_id, creator_facts in facts.items():
        if evaluate(creator_facts, book, states[creator_id], now=now).changes:
            locked = _lock_creator(creator_id)  # re-read under the lock: it may have moved since
            changed += len(_apply_reevaluation(
                creator=locked, enrollments=_locked_enrollments(locked, book), book=book, now=now,
                actor=None, cause="Daily re-evaluation"))
    return BatchResult(len(ids), changed, ids[-1], len(ids) < limit)


def reevaluation_batch(*, after_creator_id: int = 0, limit: int = 1000, book: RuleBook | None = None,
                       now: datetime.datetime | None = None) -> BatchResult:
    """One batch of the bulk re-evaluation, in its own transaction (for runs, commands and bench)."""
    now = now or timezone.now()
    with transaction.atomic():
        return _batch(after_creator_id=after_creator_id, limit=limit,
                      book=book or selectors.rule_book(now=now), now=now)


def _batch_size() -> int:
    return int(getattr(settings, "ELIGIBILITY_REEVALUATION_BATCH_SIZE", 1000))


def _enqueue_step(run_id: int) -> None:
    from eligibility.tasks import reevaluation_step  # tasks import this module

    transaction.on_commit(lambda: reevaluation_step.delay(run_id))


STALLED_AFTER = datetime.timedelta(minutes=10)


def reevaluation_daily(*, now: datetime.datetime | None = None) -> ReevaluationRun:
    """Start today's run (UTC) once; resume it if nothing advanced it for a while. Idempotent."""
    now = now or timezone.now()
    with transaction.atomic():
        run, created = ReevaluationRun.objects.get_or_create(
            day=now.astimezone(datetime.UTC).date(), defaults={"kind": ReevaluationRun.Kind.DAILY})
        if created or (run.finished_at is None and run.updated_at < now - STALLED_AFTER):
            if not created:
                run.save(update_fields=["updated_at"])  # claim it: the next tick will not re-enqueue
            _enqueue_step(run.pk)
    return run


def reevaluation_start(*, kind: str = ReevaluationRun.Kind.RULES_CHANGED) -> ReevaluationRun:
    with transaction.atomic():
        run = ReevaluationRun.objects.create(kind=kind)
        _enqueue_step(run.pk)
    return run


def reevaluation_step(*, run_id: int, limit: int | None = None, now: datetime.datetime | None = None,
                      enqueue_next: bool = True) -> ReevaluationRun:
    """Process the run's next batch and move its checkpoint, atomically; then queue the next step.

    Safe to run twice or concurrently: the run row is locked, a finished run does nothing, and a
    re-run after a crash continues from the last committed checkpoint.
    """
    now = now or timezone.now()
    with transaction.atomic():
        run = ReevaluationRun.objects.select_for_update(no_key=True).get(pk=run_id)
        if run.finished_at is not None:
            return run
        result = _batch(after_creator_id=run.last_creator_id, limit=limit or _batch_size(),
                        book=selectors.rule_book(now=now), now=now)
        run.last_creator_id = result.last_creator_id
        run.batches += 1
        run.creators_checked += result.checked
        run.changes += result.changed
        if result.done:
            run.finished_at = now
        run.save()
        if not result.done and enqueue_next:
            _enqueue_step(run.pk)
    return run


# --- opt-in, opt-out ---------------------------------------------------------------------------
def enrollment_opt_in(*, creator: CreatorProfile, program: str, terms_version: str, actor: User,
                      now: datetime.datetime | None = None) -> Enrollment:
    """Enrol while eligible, accepting the current terms. Refusals write nothing (no clock starts)."""
    now = now or timezone.now()
    with transaction.atomic():
        creator = _lock_creator(creator.pk)
        book = selectors.rule_book(now=now)
        spec = _program(book, program)
        enrollments = _locked_enrollments(creator, book)
        existing = enrollments.get(program)
        available = selectors.reoptin_available_at(existing, spec)
        if available is not None and now < available:
            raise InvalidState(
                f"Staff removed you from {spec.name}; you may opt in again from "
                f"{available:%Y-%m-%d %H:%M} UTC.",
                {"program": [f"Opt-in is possible again from {available.isoformat()}."]})
        facts = Facts.of(creator)
        outcome = evaluate(facts, book, selectors.states_of(enrollments), now=now)[program]
        if not outcome.eligible:
            raise _not_eligible(outcome, facts, handle=creator.handle, status=Status.NOT_ENROLLED)
        if spec.terms is None:
            raise InvalidState(f"{spec.name} has no published terms yet.")
        if terms_version != spec.terms.version:
            raise InvalidState(
                f"Those terms are out of date: the current {spec.name} terms are version "
                f"{spec.terms.version}.",
                {"terms_version": [f"Read and accept version {spec.terms.version}."]})
        if existing is not None and existing.status == Status.ENROLLED \
                and existing.terms_version == terms_version:
            return existing  # already enrolled under these terms: nothing to do
        before = _snapshot(existing)
        enrollment = existing or Enrollment(creator=creator, program_id=spec.id)
        action = "eligibility.terms_accepted" if enrollment.status == Status.ENROLLED \
            else "eligibility.opted_in"
        enrollment.status = Status.ENROLLED
        enrollment.terms_version = terms_version
        enrollment.terms_accepted_at = now
        _decided(enrollment, outcome, now)
        enrollment.save()
        enrollments[program] = enrollment
        audit_record(actor=actor, action=action, obj=enrollment, before=before,
                     after={**_snapshot(enrollment), "rules_version": enrollment.rules_version})
        _apply_reevaluation(creator=creator, enrollments=enrollments, book=book, now=now, actor=actor,
                            cause=f"Opted in to {spec.name}")
    return enrollment


def enrollment_opt_out(*, creator: CreatorProfile, program: str, actor: User,
                       now: datetime.datetime | None = None) -> Enrollment | None:
    """Leave a program (always allowed). A revoked enrolment stays revoked (its clock keeps running)."""
    now = now or timezone.now()
    with transaction.atomic():
        creator = _lock_creator(creator.pk)
        book = selectors.rule_book(now=now)
        spec = _program(book, program)
        enrollments = _locked_enrollments(creator, book)
        enrollment = enrollments.get(program)
        if enrollment is None or enrollment.status not in ACTIVE:
            return enrollment
        before = _snapshot(enrollment)
        enrollment.status = Status.NOT_ENROLLED
        enrollment.status_changed_at = now
        enrollment.save(update_fields=["status", "status_changed_at", "updated_at"])
        audit_record(actor=actor, action="eligibility.opted_out", obj=enrollment, before=before,
                     after=_snapshot(enrollment))
        # Leaving Creator Next pauses the programs that require membership.
        _apply_reevaluation(creator=creator, enrollments=enrollments, book=book, now=now, actor=actor,
                            cause=f"Opted out of {spec.name}")
    return enrollment


# --- staff overrides ---------------------------------------------------------------------------
def _override(*, creator: CreatorProfile, program: str, actor: User, reason: str, action: str,
              now: datetime.datetime | None) -> Enrollment:
    reason = _reason_required(reason)
    now = now or timezone.now()
    with transaction.atomic():
        creator = _lock_creator(creator.pk)
        book = selectors.rule_book(now=now)
        spec = _program(book, program)
        enrollments = _locked_enrollments(creator, book)
        enrollment = enrollments.get(program) or Enrollment(creator=creator, program_id=spec.id)
        before = _snapshot(enrollment)
        if action == "eligibility.granted":
            enrollment.staff_granted = True
            if enrollment.status == Status.REVOKED:
                enrollment.status = Status.NOT_ENROLLED  # the grant lifts the revocation
                enrollment.status_changed_at = now
        elif action == "eligibility.grant_removed":
            enrollment.staff_granted = False
        else:  # revoked
            enrollment.staff_granted = False
            enrollment.status = Status.REVOKED
            enrollment.revoked_at = now
            enrollment.status_changed_at = now
            enrollment.rules_version = spec.rules_version
        enrollment.save()
        enrollments[program] = enrollment
        audit_record(actor=actor, action=action, obj=enrollment, before=before,
                     after={**_snapshot(enrollment), "rules_version": spec.rules_version}, reason=reason,
                     actor_kind="staff")
        _apply_reevaluation(creator=creator, enrollments=enrollments, book=book, now=now, actor=actor,
                            cause=f"Staff override of {spec.name}")
    return enrollment


def enrollment_grant(*, creator: CreatorProfile, program: str, actor: User, reason: str,
                     now: datetime.datetime | None = None) -> Enrollment:
    """Staff: the program counts as eligible whatever the metrics, through every re-evaluation,
    until staff remove the grant. A paused enrolment resumes; a revoked one may opt in at once."""
    return _override(creator=creator, program=program, actor=actor, reason=reason,
                     action="eligibility.granted", now=now)


def enrollment_grant_remove(*, creator: CreatorProfile, program: str, actor: User, reason: str,
                            now: datetime.datetime | None = None) -> Enrollment:
    """Staff: back to the rules (an enrolment that does not qualify is paused)."""
    return _override(creator=creator, program=program, actor=actor, reason=reason,
                     action="eligibility.grant_removed", now=now)


def enrollment_revoke(*, creator: CreatorProfile, program: str, actor: User, reason: str,
                      now: datetime.datetime | None = None) -> Enrollment:
    """Staff: remove the creator from the program; opt-in again no sooner than the program's
    ``reoptin_after_revoke_days`` later. Removes any grant."""
    return _override(creator=creator, program=program, actor=actor, reason=reason,
                     action="eligibility.revoked", now=now)


# --- the metrics feed --------------------------------------------------------------------------
METRIC_FIELDS = ("followers", "views_30d", "posts_30d", "account_created_at", "account_type", "standing",
                 "fraud_flag", "last_public_post_at")
MAX_BIG = 2**63 - 1
MAX_INT = 2**31 - 1


class _Unchanged:
    def __repr__(self) -> str:
        return "UNCHANGED"


UNCHANGED: Any = _Unchanged()


def metrics_validate(values: Mapping[str, Any], *, now: datetime.datetime) -> None:
    """Raise ValidationError naming every bad field (the API, the CSV import and the admin share it)."""
    errors: dict[str, list[str]] = {}
    for name, maximum in (("followers", MAX_BIG), ("views_30d", MAX_BIG), ("posts_30d", MAX_INT)):
        if name not in values:
            continue
        value = values[name]
        if type(value) is not int:
            errors[name] = ["Must be a whole number."]
        elif value < 0:
            errors[name] = [f"Must be 0 or more (got {value})."]
        elif value > maximum:
            errors[name] = [f"Must be at most {maximum}."]
    for name in ("account_created_at", "last_public_post_at"):
        value = values.get(name)
        if value is None:
            continue
        if not isinstance(value, datetime.datetime) or timezone.is_naive(value):
            errors[name] = ["Must be a date and time with a time zone."]
        elif value > now:
            errors[name] = ["Must not be in the future."]
    for name, choices in (("account_type", CreatorProfile.AccountType.values),
                          ("standing", CreatorProfile.Standing.values)):
        if name in values and values[name] not in choices:
            errors[name] = [f"Must be one of {', '.join(choices)}."]
    if "fraud_flag" in values and not isinstance(values["fraud_flag"], bool):
        errors["fraud_flag"] = ["Must be true or false."]
    if errors:
        raise ValidationError(errors)


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime.datetime) else value


@dataclass(frozen=True)
class MetricsResult:
    creator: CreatorProfile
    snapshot: MetricsSnapshot | None  # None: the values were already these
    changes: list[Outcome] = field(default_factory=list)  # programs paused or resumed


def metrics_update(*, creator: CreatorProfile, actor: User | None, source: str, followers: int,
                   views_30d: int, posts_30d: int, account_created_at: datetime.datetime | None,
                   account_type: str, standing: str, fraud_flag: bool,
                   last_public_post_at: datetime.datetime | None = UNCHANGED,
                   now: datetime.datetime | None = None) -> MetricsResult:
    """Record a creator's metrics from the feed: history row, current values, audit, re-evaluation.

    ``last_public_post_at`` left out keeps the current value. Sending the values the creator already
    has writes nothing (but still re-evaluates, so time-based requirements are up to date).
    """
    now = now or timezone.now()
    values: dict[str, Any] = {
        "followers": followers, "views_30d": views_30d, "posts_30d": posts_30d,
        "account_created_at": account_created_at, "account_type": account_type, "standing": standing,
        "fraud_flag": fraud_flag}
    if last_public_post_at is not UNCHANGED:
        values["last_public_post_at"] = last_public_post_at
    metrics_validate(values, now=now)
    with transaction.atomic():
        locked = _lock_creator(creator.pk)
        before = {f: getattr(locked, f) for f in METRIC_FIELDS}
        after = {**before, **values}
        changed = [f for f in METRIC_FIELDS if before[f] != after[f]]
        snapshot = None
        if changed:
            for name in changed:
                setattr(locked, name, after[name])
            locked.metrics_updated_at = now
            locked.save(update_fields=[*changed, "metrics_updated_at"])
            snapshot = MetricsSnapshot.objects.create(
                creator=locked, source=source,
                recorded_by=actor if actor is not None and actor.is_authenticated else None, **after)
            audit_record(actor=actor, action="metrics.updated", obj=locked,
                         before={f: _jsonable(before[f]) for f in changed},
                         after={f: _jsonable(after[f]) for f in changed}, reason=f"Metrics feed ({source})")
        book = selectors.rule_book(now=now)
        changes = _apply_reevaluation(creator=locked, enrollments=_locked_enrollments(locked, book),
                                      book=book, now=now, actor=actor, cause="Metrics changed")
    return MetricsResult(locked, snapshot, changes)


# --- rules, programs and terms (staff, in the admin) -------------------------------------------
def _fields(obj: Any, names: list[str]) -> dict[str, Any]:
    return {k: _jsonable(v) for k, v in model_to_dict(obj, fields=names).items()}


RULE_FIELDS = ["program", "key", "country", "threshold", "allowed"]


def rule_save(*, rule: Rule, actor: User, reason: str = "") -> Rule:
    """Create or change a rule; the program's rules version goes up and everyone is re-evaluated."""
    rule.full_clean()
    with transaction.atomic():
        old = Rule.objects.select_for_update(no_key=True).filter(pk=rule.pk).first() if rule.pk else None
        before = _fields(old, RULE_FIELDS) if old else None
        rule.save()
        Program.objects.filter(pk=rule.program_id).update(rules_version=F("rules_version") + 1)
        if old is not None and old.program_id != rule.program_id:
            Program.objects.filter(pk=old.program_id).update(rules_version=F("rules_version") + 1)
        audit_record(actor=actor, action="eligibility.rule_changed" if old else "eligibility.rule_added",
                     obj=rule, before=before, after=_fields(rule, RULE_FIELDS), reason=reason)
        reevaluation_start()
    return rule


def rule_delete(*, rule: Rule, actor: User, reason: str = "") -> None:
    with transaction.atomic():
        audit_record(actor=actor, action="eligibility.rule_deleted", obj=rule,
                     before=_fields(rule, RULE_FIELDS), reason=reason)
        Program.objects.filter(pk=rule.program_id).update(rules_version=F("rules_version") + 1)
        rule.delete()
        reevaluation_start()


PROGRAM_FIELDS = ["slug", "name", "description", "position", "reoptin_after_revoke_days"]


def program_save(*, program: Program, actor: User, reason: str = "") -> Program:
    program.full_clean()
    with transaction.atomic():
        old = Program.objects.select_for_update(no_key=True).filter(pk=program.pk).first() if program.pk else None
        program.save()
        action = "eligibility.program_changed" if old else "eligibility.program_added"
        audit_record(actor=actor, action=action, obj=program,
                     before=_fields(old, PROGRAM_FIELDS) if old else None,
                     after=_fields(program, PROGRAM_FIELDS), reason=reason)
    return program


def terms_publish(*, terms: TermsVersion, actor: User) -> TermsVersion:
    """A new terms version (never an edit: what creators accepted stays as they read it)."""
    if terms.pk is not None:
        raise ValidationError("Published terms cannot be changed; publish a new version instead.")
    terms.full_clean()
    with transaction.atomic():
        terms.save()
        audit_record(actor=actor, action="eligibility.terms_published", obj=terms,
                     after={"program": terms.program_id, "version": terms.version,
                            "published_at": terms.published_at.isoformat()})
    return terms
