"""core.prepared: an ORM query compiled once, run with new values — same rows as the ORM."""

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import psycopg2.extensions
import pytest
from django.db import DataError, connection, transaction
from django.db.models import Exists, OuterRef
from django.test.utils import CaptureQueriesContext

from creatornext.accounts.models import Block, CreatorProfile
from creatornext.accounts.selectors import creators_with_handle_key, handle_key
from creatornext.core.prepared import PreparedQuery, RecurringStatements, ServerStatement, _literals
from tests.eligibility.helpers import make_creator
from tests.support.world import make_user


def _creator_facts(a):
    return creators_with_handle_key(a["handle"]).annotate(
        blocked=Exists(Block.objects.filter(creator=OuterRef("pk"), fan_id=a["fan"]))
    ).values("id", "handle", "blocked")


FACTS = PreparedQuery(_creator_facts, handle=str, fan=int)


@pytest.mark.django_db
def test_it_returns_what_the_orm_returns_for_every_set_of_values():
    maya, rosa = make_creator("Maya.Makes"), make_creator("rosa")
    fan, other = make_user("fan"), make_user("other")
    Block.objects.create(creator=maya, fan=fan)
    for handle in ("maya.makes", "MAYA.MAKES", "rosa", "nobody"):
        for user in (fan, other):
            orm = _creator_facts({"handle": handle_key(handle), "fan": user.pk}).first()
            assert FACTS.first(handle=handle_key(handle), fan=user.pk) == orm
    assert FACTS.first(handle="maya.makes", fan=fan.pk) == {"id": maya.pk, "handle": "Maya.Makes",
                                                            "blocked": True}
    assert FACTS.first(handle="rosa", fan=fan.pk)["blocked"] is False
    assert FACTS.first(handle="nobody", fan=fan.pk) is None
    assert rosa.pk != maya.pk


@pytest.mark.django_db
def test_a_builder_that_transforms_an_argument_fails_loudly_instead_of_running_a_wrong_query():
    lowered = PreparedQuery(lambda a: CreatorProfile.objects.filter(handle=a["handle"].lower())
                            .values("id"), handle=str)
    with pytest.raises(ValueError, match="handle"):
        lowered.first(handle="maya")
    contains = PreparedQuery(lambda a: CreatorProfile.objects.filter(handle__contains=a["handle"])
                             .values("id"), handle=str)
    with pytest.raises(ValueError, match="handle"):
        contains.first(handle="maya")


@pytest.mark.django_db
def test_arguments_are_checked():
    with pytest.raises(TypeError):
        FACTS.first(handle="maya")  # fan missing
    with pytest.raises(TypeError):
        FACTS.first(handle="maya", fan="1")
    with pytest.raises(TypeError):
        PreparedQuery(lambda a: CreatorProfile.objects.values("id"), when=float)
    with pytest.raises(TypeError, match="values"):
        PreparedQuery(lambda a: CreatorProfile.objects.filter(pk=a["pk"]), pk=int).first(pk=1)


@pytest.mark.django_db
def test_a_value_with_a_nul_character_matches_nothing_instead_of_failing():
    make_creator("maya")
    assert FACTS.first(handle="ma\x00ya", fan=1) is None


# --- ServerStatement: PREPARE once per connection, EXECUTE each time ---------------------------
PAIR = ServerStatement("test_prepared_pair", "SELECT %s::int + 1, '100%%'::text, %s::text")


def _prepares(captured) -> list[str]:
    return [q["sql"] for q in captured.captured_queries if q["sql"].startswith("PREPARE")]


@pytest.mark.django_db
def test_a_server_statement_is_prepared_once_per_connection_and_runs_with_each_set_of_values():
    with CaptureQueriesContext(connection) as captured, connection.cursor() as cur:
        for n in (1, 41):
            PAIR.execute(cur, [n, "a'b"])
            assert cur.fetchall() == [(n + 1, "100%", "a'b")]
    assert len(_prepares(captured)) <= 1  # none if an earlier test prepared it on this connection
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_prepared_statements WHERE name = 'test_prepared_pair'")
        assert cur.fetchone() == (1,)


@pytest.mark.django_db
def test_a_server_statement_outlives_a_rollback_and_is_prepared_again_on_a_new_connection():
    with connection.cursor() as cur:
        PAIR.execute(cur, [1, "x"])
    with pytest.raises(ZeroDivisionError), transaction.atomic():
        with connection.cursor() as cur:
            PAIR.execute(cur, [2, "y"])
        raise ZeroDivisionError
    with connection.cursor() as cur:  # still prepared: PREPARE is not undone by a rollback
        PAIR.execute(cur, [3, "z"])
        assert cur.fetchall() == [(4, "100%", "z")]


@pytest.mark.django_db(transaction=True)
def test_a_new_connection_prepares_the_statement_again():
    with connection.cursor() as cur:
        PAIR.execute(cur, [1, "x"])
    connection.close()
    with CaptureQueriesContext(connection) as captured, connection.cursor() as cur:
        PAIR.execute(cur, [5, "again"])
        assert cur.fetchall() == [(6, "100%", "again")]
    assert len(_prepares(captured)) == 1



# --- RecurringStatements: PREPARE once per connection and exact text, EXECUTE when it recurs ---
def _held_names(prefix: str) -> set[str]:
    with connection.cursor() as cur:
        cur.execute("SELECT name FROM pg_prepared_statements WHERE name LIKE %s", [prefix + "%"])
        return {row[0] for row in cur.fetchall()}


def _run(statements: RecurringStatements, sql: str, params: list, **kw) -> list:
    with connection.cursor() as cur:
        statements.execute(cur, sql, params, **kw)
        return cur.fetchall()


@pytest.mark.django_db(transaction=True)
def test_a_text_is_planned_once_when_it_recurs_and_each_set_of_values_is_its_own_statement():
    texts = RecurringStatements("test_recur_a")
    sql = "SELECT %s::int * 2, 'it''s 100%%', %s::text"
    with CaptureQueriesContext(connection) as captured:
        rows = [_run(texts, sql, [n, "a'b"]) for n in (1, 1, 1, 2, 2)]
    assert rows == [[(2, "it's 100%", "a'b")]] * 3 + [[(4, "it's 100%", "a'b")]] * 2
    sent = [q["sql"] for q in captured.captured_queries]
    assert sent[0] == "SELECT 1::int * 2, 'it''s 100%', 'a''b'::text"  # once: plainly
    # Again: prepared with its values (PostgreSQL plans it for them), run in the same message.
    assert sent[1] == "PREPARE test_recur_a_1 AS " + sent[0] + "; EXECUTE test_recur_a_1"
    assert sent[2] == "EXECUTE test_recur_a_1"
    assert sent[3] == "SELECT 2::int * 2, 'it''s 100%', 'a''b'::text"
    assert sent[4].startswith("PREPARE test_recur_a_2 AS SELECT 2::int * 2")
    assert texts.held() == 2 and _held_names("test_recur_a") == {"test_recur_a_1", "test_recur_a_2"}


@pytest.mark.django_db(transaction=True)
def test_the_least_recently_used_statement_is_deallocated_past_the_limit():
    texts = RecurringStatements("test_recur_b", size=2)
    sql = "SELECT %s::int"
    for n in (1, 1, 2, 2, 1, 3, 3):  # 1 was used again after 2: 2 goes when 3 is prepared
        assert _run(texts, sql, [n]) == [(n,)]
    assert texts.held() == 2
    assert _held_names("test_recur_b") == {"test_recur_b_1", "test_recur_b_3"}
    for _ in range(2):  # prepared again, under a new name; now 1 goes
        assert _run(texts, sql, [2]) == [(2,)]
    assert _held_names("test_recur_b") == {"test_recur_b_3", "test_recur_b_4"}


@pytest.mark.django_db(transaction=True)
def test_a_statement_that_fails_is_not_taken_for_prepared_and_the_next_runs_still_work():
    texts = RecurringStatements("test_recur_c")
    sql = "SELECT 10 / %s::int"
    for _ in range(4):  # plainly, then prepared; again: no clash with the first PREPARE's leftover
        with pytest.raises(DataError):
            _run(texts, sql, [0])
    assert texts.held() == 0
    assert [_run(texts, sql, [5]) for _ in range(3)] == [[(2,)]] * 3
    assert texts.held() == 1


@pytest.mark.django_db(transaction=True)
def test_a_new_connection_starts_with_no_statements_and_plain_runs_prepare_nothing():
    texts = RecurringStatements("test_recur_d")
    for _ in range(2):
        _run(texts, "SELECT %s::int", [1])
    assert texts.held() == 1
    connection.close()
    assert texts.held() == 0
    with CaptureQueriesContext(connection) as captured:
        for _ in range(2):
            assert _run(texts, "SELECT %s::int", [1]) == [(1,)]
            assert _run(texts, "SELECT %s::int + 1", [1], recurring=False) == [(2,)]
    assert [q["sql"] for q in captured.captured_queries][1:] == [
        "SELECT 1::int + 1", "PREPARE test_recur_d_1 AS SELECT 1::int; EXECUTE test_recur_d_1",
        "SELECT 1::int + 1"]
    with texts.plainly():
        for _ in range(2):
            assert _run(texts, "SELECT %s::int + 2", [1]) == [(3,)]
    assert texts.held() == 1
    for _ in range(2):  # on again after the block
        assert _run(texts, "SELECT %s::int + 2", [1]) == [(3,)]
    assert texts.held() == 2
    with pytest.raises(ValueError):
        RecurringStatements("x; DROP TABLE y")

def test_a_server_statement_refuses_the_wrong_number_of_values_and_odd_names():
    with pytest.raises(TypeError, match="takes 2 parameters"):
        PAIR.execute(None, [1])
    with pytest.raises(ValueError, match="plain identifier"):
        ServerStatement("x; DROP TABLE y", "SELECT 1")


SERVER_FACTS = PreparedQuery(_creator_facts, server="test_prepared_creator_facts", handle=str, fan=int)


def _prepared_names():
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM pg_prepared_statements")
        return {row[0] for row in cursor.fetchall()}


@pytest.mark.django_db
def test_a_query_planned_by_the_server_returns_what_the_orm_returns():
    maya = make_creator("Maya.Makes")
    fan, other = make_user("fan"), make_user("other")
    Block.objects.create(creator=maya, fan=fan)
    for handle in ("maya.makes", "nobody"):
        for user in (fan, other):
            orm = _creator_facts({"handle": handle_key(handle), "fan": user.pk}).first()
            assert SERVER_FACTS.first(handle=handle_key(handle), fan=user.pk) == orm
    assert "test_prepared_creator_facts" in _prepared_names()


@pytest.mark.django_db
def test_a_server_planned_query_types_its_parameters_so_a_time_window_works():
    """``date_joined - $n`` with an untyped $n makes PostgreSQL guess a timestamp, not an interval."""
    import datetime

    from django.db.models import DateTimeField, ExpressionWrapper, F

    from creatornext.accounts.models import User

    def window(a):
        return User.objects.filter(pk=a["pk"], is_active=True).annotate(
            until=ExpressionWrapper(F("date_joined") - datetime.timedelta(hours=1),
                                    output_field=DateTimeField())).values("pk", "until")

    query = PreparedQuery(window, server="test_prepared_window", pk=int)
    user = make_user("window")
    assert query.first(pk=user.pk) == window({"pk": user.pk}).first()
    assert query.first(pk=user.pk)["until"] == user.date_joined - datetime.timedelta(hours=1)


def test_a_server_statement_refuses_a_parameter_it_cannot_type():
    from creatornext.core.prepared import _pg_type

    assert [_pg_type(v) for v in (True, 1, "x")] == ["boolean", "bigint", "text"]
    with pytest.raises(TypeError):
        _pg_type(1.5)
    with pytest.raises(TypeError, match="types"):
        ServerStatement("test_prepared_typed", "SELECT %s", ["bigint", "text"])


# --- PreparedInsert ------------------------------------------------------------------------------
_RECORD_COLUMNS = ["user_id", "endpoint", "key", "fingerprint", "response_status", "response_body", "created_at"]


@pytest.mark.django_db
def test_an_insert_writes_the_row_the_orm_writes():
    from django.utils import timezone

    from creatornext.core.models import IdempotencyRecord
    from creatornext.core.prepared import PreparedInsert

    user = make_user("fan")
    record = PreparedInsert(IdempotencyRecord, _RECORD_COLUMNS)
    now = timezone.now()
    for status, body in ((None, ""), (201, '{"id": 1, "ok": "ü"}')):
        values = {"user_id": user.pk, "endpoint": "e", "key": f"k{status}", "fingerprint": "f",
                  "response_status": status, "response_body": body, "created_at": now}
        pk = record.insert(**values)
        orm = IdempotencyRecord.objects.create(**{**values, "key": f"orm{status}"})
        ours, theirs = (IdempotencyRecord.objects.filter(pk=p).values(*_RECORD_COLUMNS).get()
                        for p in (pk, orm.pk))
        # (created_at is auto_now_add: the ORM sets its own; ours keeps the value given)
        assert pk != orm.pk and {**theirs, "key": ours["key"], "created_at": now} == ours
        assert (ours["response_status"], ours["response_body"], ours["created_at"]) == (status, body, now)


@pytest.mark.django_db
def test_a_server_insert_is_prepared_once_per_connection_and_checks_its_columns():
    from django.utils import timezone

    from creatornext.core.models import IdempotencyRecord
    from creatornext.core.prepared import PreparedInsert

    user = make_user("fan")
    record = PreparedInsert(IdempotencyRecord, _RECORD_COLUMNS, server="test_record_insert")
    values = {"user_id": user.pk, "endpoint": "e", "fingerprint": "f", "response_status": None,
              "response_body": "", "created_at": timezone.now()}
    with CaptureQueriesContext(connection) as first:
        record.insert(key="a", **values)
    with CaptureQueriesContext(connection) as second:
        record.insert(key="b", **values)
    assert [q["sql"].split()[0] for q in first] == ["PREPARE", "EXECUTE"]
    assert [q["sql"].split()[0] for q in second] == ["EXECUTE"]
    assert IdempotencyRecord.objects.filter(user=user, key__in=["a", "b"]).count() == 2
    with pytest.raises(TypeError):
        record.insert(key="c")  # every column must be given
    with pytest.raises(ValueError, match="no columns"):
        PreparedInsert(IdempotencyRecord, ["user_id", "nope"])


# Whole numbers, NULLs and aware datetimes are written into EXECUTE's text (psycopg2's adapters
# cost more than the rest of a hot statement's Python); what comes back must not change.
TYPED = ServerStatement("test_prepared_literals", "SELECT %s::bigint, %s::bigint, %s::timestamptz, %s::text, "
                        "%s::boolean, %s::text, %s::numeric, %s::bigint")


@pytest.mark.django_db
@pytest.mark.parametrize("when", [datetime(2026, 12, 7, 9, 17, 30, 859692, tzinfo=UTC),
                                  datetime(1, 1, 1, tzinfo=UTC),
                                  datetime(2026, 6, 1, 12, tzinfo=ZoneInfo("Europe/Paris")),
                                  datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=5, minutes=30, seconds=12)))])
def test_values_written_into_the_text_come_back_as_they_went_in(when):
    odd = "it's 100% \\ 'quoted' %s -- ;"
    values = [-9_223_372_036_854_775_808, 9_223_372_036_854_775_807, when, odd, True, None, Decimal("1.50"), 0]
    with connection.cursor() as cur:
        TYPED.execute(cur, values)
        assert cur.fetchone() == (values[0], values[1], when, odd, True, None, Decimal("1.50"), 0)
        TYPED.execute(cur, [1, None, None, None, False, "%%", None, -1])  # every value in the text but two
        assert cur.fetchone() == (1, None, None, None, False, "%%", None, -1)


def test_only_whole_numbers_nulls_and_aware_datetimes_are_written_into_the_text():
    naive = datetime(2026, 1, 1)
    text, rest = _literals("s", [5, -5, None, True, "x", naive, datetime(2026, 1, 1, tzinfo=UTC), 1.5])
    assert text == "EXECUTE s(5, -5, NULL, %s, %s, %s, '2026-01-01T00:00:00+00:00'::timestamptz, %s)"
    assert rest == [True, "x", naive, 1.5]
    for value, quoted in ((5, b"5"), (-5, b" -5"), (None, b"NULL"),
                          (datetime(2026, 1, 1, tzinfo=UTC), b"'2026-01-01T00:00:00+00:00'::timestamptz")):
        assert _literals("s", [value])[0] == f"EXECUTE s({quoted.decode().strip()})"
        assert psycopg2.extensions.adapt(value).getquoted() == quoted  # what psycopg2 itself writes


def test_an_insert_passes_whole_numbers_through_and_leaves_every_other_value_to_its_field():
    from django.utils import timezone

    from creatornext.core.prepared import PreparedInsert
    from gifts.models import GiftSend

    columns = ["fan_id", "quantity", "video_id", "coins_spent", "created_at"]
    row = PreparedInsert(GiftSend, columns)
    fields = [GiftSend._meta.get_field(c) for c in ["fan", "quantity", "video", "coins_spent", "created_at"]]
    now = timezone.now()
    for values in ([7, 3, None, 2**40, now], ["7", "3", None, 5.0, now], [True, 3, 9, -1, now]):
        # The same values the fields themselves make, whatever was passed (a "7" becomes 7).
        assert row._prepped(dict(zip(columns, values, strict=True)), connection) == [
            f.get_db_prep_save(v, connection) for f, v in zip(fields, values, strict=True)]
    assert row._whole == [True, True, True, True, False]
