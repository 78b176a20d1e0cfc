"""``manage.py import_creator_metrics FILE.csv``: bad rows reported by line, good rows applied."""

from __future__ import annotations

import datetime
import io

import pytest
from django.core.management import CommandError, call_command

from creatornext.accounts.models import CreatorProfile
from creatornext.audit.models import AuditEvent
from eligibility.models import MetricsSnapshot
from tests.eligibility.helpers import enroll, make_creator, status_of

pytestmark = pytest.mark.django_db

HEADER = "handle,followers,views_30d,posts_30d,account_created_at,account_type,standing,fraud_flag\n"


def run(tmp_path, text: str, *args: str) -> tuple[str, str, CommandError | None]:
    path = tmp_path / "metrics.csv"
    path.write_text(text, encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()
    failure = None
    try:
        call_command("import_creator_metrics", str(path), *args, stdout=out, stderr=err)
    except CommandError as exc:
        failure = exc
    return out.getvalue(), err.getvalue(), failure


def test_good_rows_applied_bad_rows_reported_by_line_and_written_nowhere(tmp_path):
    maya = make_creator("maya", followers=100)
    otto = make_creator("otto", followers=200)
    rosa = make_creator("rosa")
    enroll(rosa, "creator-next")
    untouched = {c.pk: (c.followers, c.views_30d, c.account_created_at) for c in (otto,)}
    text = HEADER + "\n".join([
        "maya,12000,5000,4,2024-05-01,personal,good,false",            # line 2: good
        "otto,15000,6000",                                             # line 3: missing columns
        "otto,-5,6000,4,2024-05-01,personal,good,false",               # line 4: negative followers
        "ghost,1000,1000,3,2024-05-01,personal,good,false",            # line 5: unknown handle
        "otto,15000,6000,4,2024-13-45,personal,good,false",            # line 6: bad date
        "@Rosa,900,7000,5,2024-06-01T10:00:00+02:00,personal,good,no",  # line 7: good, pauses rosa
    ]) + "\n"
    out, err, failure = run(tmp_path, text)

    # Bad rows: one line each, with the line number and the reason
    assert err.splitlines() == [
        "line 3 (@otto): missing column(s): posts_30d, account_created_at, account_type, standing, "
        "fraud_flag",
        "line 4 (@otto): followers must be 0 or more (got -5)",
        "line 5 (@ghost): unknown handle @ghost",
        "line 6 (@otto): account_created_at is not a valid date (got '2024-13-45'); use YYYY-MM-DD or "
        "ISO 8601",
    ]
    assert "6 rows: 2 applied (2 changed, 0 unchanged), 4 refused. Programs paused: 1, resumed: 0." in out
    assert failure is not None and "4 row(s) refused" in str(failure)

    # Good rows applied, with history and audit
    maya.refresh_from_db()
    assert (maya.followers, maya.views_30d, maya.posts_30d) == (12_000, 5_000, 4)
    assert maya.account_created_at == datetime.datetime(2024, 5, 1, tzinfo=datetime.UTC)
    rosa.refresh_from_db()
    assert rosa.followers == 900
    assert rosa.account_created_at == datetime.datetime(2024, 6, 1, 8, tzinfo=datetime.UTC)
    assert status_of(rosa, "creator-next") == "paused"
    assert sorted(MetricsSnapshot.objects.values_list("creator__handle", "source")) == [
        ("maya", "csv"), ("rosa", "csv")]
    assert AuditEvent.objects.filter(action="metrics.updated").count() == 2

    # Bad rows wrote nothing
    otto = CreatorProfile.objects.get(pk=otto.pk)
    assert {otto.pk: (otto.followers, otto.views_30d, otto.account_created_at)} == untouched
    assert not MetricsSnapshot.objects.filter(creator=otto).exists()


def test_more_row_checks(tmp_path):
    make_creator("maya")
    text = (HEADER + "last_public_post_at\n").replace("fraud_flag\n", "fraud_flag,") + "\n".join([
        "maya,10,10,1,2024-01-01,robot,good,false,",         # line 2: bad account type
        "maya,10,10,1,2024-01-01,personal,good,maybe,",      # line 3: bad flag
        "maya,ten,10,1,2024-01-01,personal,good,false,",     # line 4: not a number
        "maya,10,10,1,2999-01-01,personal,good,false,",      # line 5: future date
        ",10,10,1,2024-01-01,personal,good,false,",          # line 6: empty handle
        "maya,10,10,1,2024-01-01,personal,good,false,,x",    # line 7: extra value
        "maya,10,10,1,2024-01-01,personal,good,TRUE,2026-01-01",  # line 8: good
    ]) + "\n"
    _, err, _ = run(tmp_path, text)
    lines = err.splitlines()
    assert [line.split(":")[0] for line in lines] == [
        "line 2 (@maya)", "line 3 (@maya)", "line 4 (@maya)", "line 5 (@maya)", "line 6", "line 7 (@maya)"]
    assert "account_type must be one of personal, business, government (got 'robot')" in lines[0]
    assert "fraud_flag must be true or false (got 'maybe')" in lines[1]
    assert "followers must be a whole number (got 'ten')" in lines[2]
    assert "account_created_at: Must not be in the future." in lines[3]
    assert "empty value(s): handle" in lines[4]
    assert "1 more value(s) than there are columns" in lines[5]
    maya = CreatorProfile.objects.get(handle="maya")
    assert (maya.followers, maya.fraud_flag) == (10, True)
    assert maya.last_public_post_at == datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)


def test_a_header_without_a_required_column_imports_nothing(tmp_path, nothing_changed):
    make_creator("maya")
    text = "handle,followers,views_30d\nmaya,10,10\n"
    with nothing_changed():
        _, _, failure = run(tmp_path, text)
    assert failure is not None
    assert str(failure).startswith("line 1: the header lacks column(s) posts_30d, account_created_at")


def test_an_unreadable_file_is_reported(tmp_path):
    with pytest.raises(CommandError, match="Cannot read"):
        call_command("import_creator_metrics", str(tmp_path / "missing.csv"))


def test_reimporting_the_same_file_changes_nothing(tmp_path):
    make_creator("maya")
    text = HEADER + "maya,12000,5000,4,2024-05-01,personal,good,false\n"
    run(tmp_path, text)
    out, _, failure = run(tmp_path, text)
    assert failure is None
    assert "1 rows: 1 applied (0 changed, 1 unchanged), 0 refused." in out
    assert MetricsSnapshot.objects.count() == 1


def test_progress_bar_on_large_files(tmp_path):
    creators = [make_creator(f"c{i}") for i in range(3)]
    # A daily feed file: mostly rows that did not change since yesterday (they cost no write)
    rows = [f"{creators[i % 3].handle},{1000 + (i > 1190)},5000,4,2024-05-01,personal,good,false"
            for i in range(1200)]
    out, err, failure = run(tmp_path, HEADER + "\n".join(rows) + "\n")
    assert failure is None
    assert "\rImporting [" in err
    assert "100%  1,200/1,200 rows" in err
    assert "1,200 rows: 1,200 applied (6 changed, 1,194 unchanged), 0 refused." in out
    assert CreatorProfile.objects.get(handle="c2").followers == 1001
    # Small files get no bar unless asked
    out, err, failure = run(tmp_path, HEADER + rows[0] + "\n")
    assert "Importing" not in err
    out, err, failure = run(tmp_path, HEADER + rows[0] + "\n", "--progress", "always")
    assert "Importing [" in err


def test_actor_is_recorded(tmp_path, staff):
    make_creator("maya")
    run(tmp_path, HEADER + "maya,12000,5000,4,2024-05-01,personal,good,false\n", "--actor", staff.username)
    assert MetricsSnapshot.objects.get().recorded_by == staff
    assert AuditEvent.objects.get(action="metrics.updated").actor == staff
    _, _, failure = run(tmp_path, HEADER, "--actor", "nobody")
    assert failure is not None and "no staff user" in str(failure)
