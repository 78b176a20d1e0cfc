"""Bulk re-evaluation (daily, by Celery beat, in batches): correct, idempotent, and cheap per batch."""

from __future__ import annotations

import datetime
import threading

import pytest
from django.conf import settings
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from creatornext.accounts.models import CreatorProfile, User
from creatornext.accounts.services import account_delete
from creatornext.audit.models import AuditEvent
from creatornext.celery import app as celery_app
from creatornext.core.models import OutboundEmail
from eligibility import selectors, services, tasks
from eligibility.models import Enrollment, Program, ReevaluationRun
from tests.eligibility.helpers import enroll, make_creator, qualifying_metrics, status_of

pytestmark = pytest.mark.django_db


def populate(n: int, programs=("creator-next", "video-gifts")) -> list[CreatorProfile]:
    """``n`` creators who meet every rule, enrolled in ``programs`` (bulk: fast to set up)."""
    users = User.objects.bulk_create([
        User(username=f"bulk{i}", email=f"bulk{i}@example.com", date_of_birth=datetime.date(1990, 1, 1))
        for i in range(n)])
    creators = CreatorProfile.objects.bulk_create([
        CreatorProfile(user=u, handle=f"bulk{i}", country="US", **qualifying_metrics())
        for i, u in enumerate(users)])
    ids = dict(Program.objects.values_list("slug", "pk"))
    Enrollment.objects.bulk_create([
        Enrollment(creator=c, program_id=ids[p], status="enrolled", terms_version="v1",
                   terms_accepted_at=timezone.now(), rules_version=1)
        for c in creators for p in programs])
    return creators


def run_to_end(limit: int) -> ReevaluationRun:
    run = ReevaluationRun.objects.create(kind="manual")
    while run.finished_at is None:
        run = services.reevaluation_step(run_id=run.pk, limit=limit, enqueue_next=False)
    return run


def test_daily_pass_pauses_whoever_stopped_qualifying_and_is_idempotent():
    creators = populate(250)
    # Behind the feed's back (as time passing does): 10 lose followers, 5 stop posting publicly
    dropped = [c.pk for c in creators[:10]]
    quiet = [c.pk for c in creators[100:105]]
    CreatorProfile.objects.filter(pk__in=dropped).update(followers=900)
    CreatorProfile.objects.filter(pk__in=quiet).update(
        last_public_post_at=timezone.now() - datetime.timedelta(days=31))

    run = run_to_end(limit=100)
    assert (run.batches, run.creators_checked, run.changes) == (3, 250, 25)
    paused = set(Enrollment.objects.filter(status="paused").values_list("creator_id", "program__slug"))
    assert paused == {(pk, p) for pk in dropped for p in ("creator-next", "video-gifts")} | {
        (pk, "video-gifts") for pk in quiet}
    assert OutboundEmail.objects.filter(template="program_paused").count() == 25
    events = AuditEvent.objects.filter(action="eligibility.paused")
    assert events.count() == 25
    assert {e.actor_kind for e in events} == {"system"}
    assert all(e.reason.startswith("Daily re-evaluation: ") for e in events)

    # Running again changes nothing
    again = run_to_end(limit=100)
    assert (again.creators_checked, again.changes) == (250, 0)
    assert OutboundEmail.objects.filter(template="program_paused").count() == 25

    # When they qualify again, the next pass resumes them
    CreatorProfile.objects.filter(pk__in=dropped).update(followers=150_000)
    assert run_to_end(limit=100).changes == 20
    assert Enrollment.objects.filter(status="paused").count() == 5


def test_query_count_per_batch_does_not_grow_with_the_batch(capsys):
    """The figure reported for issue 6: queries per batch of the bulk re-evaluation."""
    populate(600)
    book = selectors.rule_book()
    counts = {}
    for limit in (100, 600):
        with CaptureQueriesContext(connection) as ctx:
            result = services.reevaluation_batch(after_creator_id=0, limit=limit, book=book)
        assert result.checked == limit
        counts[limit] = len(ctx.captured_queries)
    # ids; their enrolments joined with their facts (+ SAVEPOINT/RELEASE of the batch's transaction)
    assert counts == {100: 4, 600: 4}, counts
    assert sum(1 for q in ctx.captured_queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))) == 2

    # A whole run step (the Celery task's work): + the rule book (3) and the run row (lock, save)
    run = ReevaluationRun.objects.create(kind="manual")
    with CaptureQueriesContext(connection) as ctx:
        services.reevaluation_step(run_id=run.pk, limit=600, enqueue_next=False)
    step = len(ctx.captured_queries)
    assert step <= 9, [q["sql"][:80] for q in ctx.captured_queries]

    # Each creator whose status changes costs a fixed number of writes on top
    CreatorProfile.objects.filter(pk__in=list(CreatorProfile.objects.values_list("pk", flat=True)[:10])
                                  ).update(followers=10)
    with CaptureQueriesContext(connection) as ctx:
        result = services.reevaluation_batch(after_creator_id=0, limit=600, book=book)
    assert result.changed == 20
    per_changed_creator = (len(ctx.captured_queries) - counts[600]) / 10
    # lock the creator, lock their enrolments; per paused program: update, audit event, email
    assert per_changed_creator == 2 + 3 * 2
    with capsys.disabled():
        print(f"\n[eligibility] bulk re-evaluation: {counts[600]} queries per batch of 600 with no change "
              f"(2 SELECTs + savepoint), {step} per run step incl. rule book and checkpoint; "
              f"+{per_changed_creator:g} per creator whose 2 programs pause")


def test_deleted_accounts_are_skipped_and_never_emailed(staff):
    creator = make_creator("maya")
    enroll(creator, "creator-next")
    account_delete(user=creator.user, actor=staff)  # birth date gone: would fail the age rule
    assert run_to_end(limit=10).changes == 0
    assert status_of(creator, "creator-next") == "enrolled"
    assert not OutboundEmail.objects.filter(template="program_paused").exists()


def test_beat_starts_one_run_per_utc_day_through_celery(django_capture_on_commit_callbacks):
    populate(30)
    CreatorProfile.objects.filter(handle="bulk7").update(standing="banned")
    assert settings.CELERY_BEAT_SCHEDULE["eligibility-daily-reevaluation"]["task"] == \
        "eligibility.tasks.reevaluation_daily"
    assert "eligibility.tasks.reevaluation_daily" in celery_app.tasks
    with override_settings(ELIGIBILITY_REEVALUATION_BATCH_SIZE=8):  # several batches, a task each
        with django_capture_on_commit_callbacks(execute=True):
            tasks.reevaluation_daily.delay()
        with django_capture_on_commit_callbacks(execute=True):
            tasks.reevaluation_daily.delay()  # the hourly tick again: same day, nothing new
    [run] = ReevaluationRun.objects.filter(kind="daily")
    assert run.day == timezone.now().date()
    assert run.finished_at is not None
    assert (run.batches, run.creators_checked, run.changes) == (4, 30, 2)
    assert set(Enrollment.objects.filter(status="paused").values_list("creator__handle", flat=True)) == {
        "bulk7"}


def test_a_stalled_run_is_resumed_from_its_checkpoint(django_capture_on_commit_callbacks):
    creators = populate(20)
    CreatorProfile.objects.filter(pk__in=[creators[2].pk, creators[15].pk]).update(fraud_flag=True,
                                                                                   standing="warned")
    # Yesterday's worker died after the first part: the checkpoint is past creator 9
    run = ReevaluationRun.objects.create(kind="daily", day=timezone.now().date(),
                                         last_creator_id=creators[9].pk, batches=1, creators_checked=10)
    ReevaluationRun.objects.filter(pk=run.pk).update(updated_at=timezone.now() - datetime.timedelta(hours=1))
    with django_capture_on_commit_callbacks(execute=True):
        services.reevaluation_daily()
    run.refresh_from_db()
    assert run.finished_at is not None
    assert run.creators_checked == 20
    # Only the part after the checkpoint was (re)done
    assert status_of(creators[15], "creator-next") == "paused"
    assert status_of(creators[2], "creator-next") == "enrolled"


def test_a_finished_run_does_nothing_when_its_task_is_delivered_again():
    populate(5)
    run = run_to_end(limit=10)
    again = services.reevaluation_step(run_id=run.pk)
    assert (again.batches, again.creators_checked) == (run.batches, run.creators_checked)


@pytest.mark.django_db(transaction=True)
def test_concurrent_opt_ins_enrol_once():
    from eligibility.defaults import seed_defaults

    seed_defaults()
    creator = make_creator("maya")
    barrier = threading.Barrier(6)
    outcomes: list[str] = []

    def opt_in() -> None:
        from django.db import connection as thread_connection

        try:
            barrier.wait()
            services.enrollment_opt_in(creator=creator, program="creator-next", terms_version="v1",
                                       actor=creator.user)
            outcomes.append("ok")
        except Exception as exc:  # reported below
            outcomes.append(repr(exc))
        finally:
            thread_connection.close()

    threads = [threading.Thread(target=opt_in) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes == ["ok"] * 6
    assert Enrollment.objects.filter(creator=creator).count() == 1
    assert AuditEvent.objects.filter(action="eligibility.opted_in").count() == 1
