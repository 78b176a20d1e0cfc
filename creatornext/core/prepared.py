"""ORM queries compiled once and run many times: for the few hottest reads.

Building and compiling a QuerySet with several subqueries costs a few milliseconds of CPU, far
more than running it. ``PreparedQuery`` builds the query once per database with a marker value for
each argument, compiles it, remembers where each marker landed among the SQL parameters, and from
then on only swaps in the real values and runs the SQL. The query is still written with the ORM,
so its rules (the shared querysets and expressions of other apps) stay in one place.

    _FACTS = PreparedQuery(lambda a: Thing.objects.filter(pk=a["pk"], owner=a["owner"])
                           .values("pk", "name"), pk=int, owner=int)
    row = _FACTS.first(pk=7, owner=user.pk)  # {"pk": 7, "name": ...} or None

Arguments are whole numbers or strings, used as plain lookup values: a value that the ORM
transforms (``icontains`` wraps it in ``%``) cannot be found among the parameters, and the build
fails loudly rather than running a wrong query.

Every other value is frozen when the query is first built: a builder must not compute one that
changes (``timezone.now()`` would stay the first request's time for the process's life); anchor
such windows on the row's own columns (``tips.velocity``) or compute them in SQL (``Now()``).
"""

from __future__ import annotations

import collections
import contextlib
import datetime
import decimal
import itertools
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections, models
from django.db.models import QuerySet
from django.db.models.sql.compiler import SQLCompiler

# The PostgreSQL type of each kind of value an ORM query passes as a parameter (for PREPARE).
_PG_TYPES: list[tuple[type, str]] = [(bool, "boolean"), (int, "bigint"), (str, "text"),
                                     (datetime.timedelta, "interval"), (datetime.datetime, "timestamptz"),
                                     (datetime.date, "date"), (decimal.Decimal, "numeric")]


def _pg_type(value: Any) -> str:
    for kind, name in _PG_TYPES:  # bool before int, datetime before date: subclasses first
        if isinstance(value, kind):
            return name
    raise TypeError(f"No PostgreSQL type for a {type(value).__name__} parameter of a server statement")


class _Compiled:
    def __init__(self, compiler: SQLCompiler, sql: str, slots: list[str | None], constants: list[Any],
                 names: list[str]) -> None:
        self.compiler, self.sql, self.slots, self.constants, self.names = compiler, sql, slots, constants, names
        self.statement: ServerStatement | None = None
        self.types: list[str] = []  # PostgreSQL's type of each parameter
        # The column converters (what ``results_iter`` works out for every call) are fixed by the
        # query: found once. Composite columns keep the ORM's own path.
        fields = [s[0] for s in compiler.select[0:compiler.col_count]]
        self.converters = (None if compiler.has_composite_fields(fields)
                           else list(compiler.get_converters(fields).items()))

    def convert(self, row: tuple) -> list[Any]:
        if self.converters is None:
            return list(next(iter(self.compiler.results_iter(results=[[row]]))))  # type: ignore[arg-type]
        values, connection = list(row), self.compiler.connection
        for pos, (convs, expression) in self.converters:
            value = values[pos]
            for converter in convs:
                value = converter(value, expression, connection)
            values[pos] = value
        return values

    def params(self, values: Mapping[str, Any]) -> list[Any]:
        return [values[slot] if slot is not None else constant
                for slot, constant in zip(self.slots, self.constants, strict=True)]


class PreparedQuery:
    def __init__(self, build: Callable[[dict[str, Any]], QuerySet], *, server: str | None = None,
                 **arguments: type) -> None:
        """``server``: also let PostgreSQL plan it once per connection, as the ``ServerStatement``
        of that name (for the hottest reads, whose best plan does not depend on the values)."""
        for name, kind in arguments.items():
            if kind not in (int, str):
                raise TypeError(f"{name}: a prepared query's arguments are int or str")
        self._build, self._arguments, self._server = build, arguments, server
        self._compiled: dict[tuple[str, str], _Compiled] = {}

    def _markers(self) -> dict[str, Any]:
        # Values no real argument or constant of a query takes: far outside any id's range; mixed
        # case, so a builder that normalises a value (``.lower()``) fails the build instead of
        # silently running un-normalised values later (normalise before calling ``first``).
        return {name: (-7_300_000_001 - i if kind is int else f"Prepared-Marker-{i}-{name}")
                for i, (name, kind) in enumerate(self._arguments.items())}

    def _compile(self, alias: str) -> _Compiled:
        markers = self._markers()
        queryset = self._build(markers).using(alias)
        if not queryset._fields:  # type: ignore[attr-defined]
            raise TypeError("A prepared query ends in .values(...): it returns plain rows.")
        if queryset.query.high_mark is None:
            queryset = queryset[:1]
        compiler = queryset.query.get_compiler(using=alias)
        sql, params = compiler.as_sql()
        by_marker = {value: name for name, value in markers.items()}
        slots = [by_marker.get(p) if isinstance(p, int | str) and not isinstance(p, bool) else None
                 for p in params]
        missing = set(markers) - set(slots)
        if missing:
            raise ValueError(f"Prepared query: {sorted(missing)} not found among the SQL parameters "
                             "(a transformed lookup value?)")
        # The column order of ``.values()`` rows (as Django's ValuesIterable names them).
        names = [*queryset.query.extra_select, *queryset.query.values_select, *queryset.query.annotation_select]
        # A str subclass (a TextChoices member) as a plain str: the same text, and psycopg2 finds
        # its adapter by the exact type (a subclass costs it a search of the class's bases).
        constants = [str.__str__(p) if isinstance(p, str) else p for p in params]
        compiled = _Compiled(compiler, sql, slots, constants, names)
        compiled.types = [_pg_type(p) for p in params] if compiler.connection.vendor == "postgresql" else []
        if self._server is not None and compiler.connection.vendor == "postgresql":
            compiled.statement = ServerStatement(self._server, sql, compiled.types)
        return compiled

    def compiled(self) -> _Compiled:
        """The query compiled for the default database (its ``sql``, ``names``, ``types`` and
        ``params(values)``), for a statement built around it."""
        connection = connections[DEFAULT_DB_ALIAS]
        key = (DEFAULT_DB_ALIAS, str(connection.settings_dict["NAME"]))
        compiled = self._compiled.get(key)
        if compiled is None:
            compiled = self._compiled[key] = self._compile(DEFAULT_DB_ALIAS)
        return compiled

    def first(self, **values: Any) -> dict[str, Any] | None:
        """The first row as ``{column: value}`` (converted as the ORM would), or None."""
        if set(values) != set(self._arguments):
            raise TypeError(f"Prepared query arguments: {sorted(self._arguments)}")
        for name, kind in self._arguments.items():
            if not isinstance(values[name], kind) or isinstance(values[name], bool):
                raise TypeError(f"{name} must be {kind.__name__}")
        if any(isinstance(v, str) and "\x00" in v for v in values.values()):
            return None  # PostgreSQL text never holds NUL: nothing can match (psycopg2 would raise)
        compiled = self.compiled()  # one database; a router would pick it here
        with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
            if compiled.statement is not None:
                compiled.statement.execute(cursor, compiled.params(values))
            else:
                cursor.execute(compiled.sql, compiled.params(values))
            row = cursor.fetchone()
        if row is None:
            return None
        return dict(zip(compiled.names, compiled.convert(row), strict=True))


class ServerStatement:
    """A statement PostgreSQL parses and plans once per connection (``PREPARE``, then
    ``EXECUTE``): for a hot statement whose best plan does not depend on its arguments, such as
    rows fetched by primary key. Planning a statement with subqueries costs more than running it
    on a few rows; ``EXECUTE`` skips it. PostgreSQL keeps the plan valid itself (a schema change
    or ``ANALYZE`` re-plans) and chooses between a custom and a generic plan as usual (default
    ``plan_cache_mode``). Not for statements whose plan should follow their values (a search
    whose selectivity changes with its filters): those are ``RecurringStatements``.

    ``sql`` uses ``%s`` placeholders like any Django query (``%%`` for a literal ``%``). A
    prepared statement belongs to its connection and outlives transactions (a rollback keeps
    it), so which connections hold it is remembered per raw connection. It needs the
    connection to be the session's own: a pooler in transaction mode (PgBouncer) would hand
    another session's connection over, so this stack does not use one (docker-compose.yml).
    """

    def __init__(self, name: str, sql: str, types: list[str] | None = None) -> None:
        if not name.isidentifier():
            raise ValueError(f"{name!r}: a statement name is a plain identifier")
        numbers = itertools.count(1)
        # Django's placeholders become PostgreSQL's numbered ones: "%s" → $1, $2, …; "%%" → "%".
        text = re.sub(r"%%|%s", lambda m: "%" if m.group() == "%%" else f"${next(numbers)}", sql)
        self.name, self.count = name, next(numbers) - 1
        if types is not None and len(types) != self.count:
            raise TypeError(f"{name}: {self.count} parameters, {len(types)} types")
        # Without types PostgreSQL infers each from its context; with them nothing is left to
        # guess (``created_at - $1`` would otherwise make $1 a timestamp, not an interval).
        signature = f"({', '.join(types)})" if types else ""
        self._prepare = f"PREPARE {name}{signature} AS {text}"
        self._execute = f"EXECUTE {name}"  # without values; with them: ``_literals``

    def execute(self, cursor: Any, params: list[Any] | tuple[Any, ...], *,
                before: tuple[ServerStatement, list[Any]] | None = None) -> None:
        """Run the statement on ``cursor`` (a Django cursor; its connection prepares it once).

        ``before``: another statement and its parameters, sent in the same message, first: one
        round trip for both, and one transaction when outside a transaction block (PostgreSQL runs
        a message of several statements as one), so an error in the first undoes both. The rows
        are the last statement's."""
        self._prepared(cursor, params)
        text, rest = self._text(params)
        if before is not None:
            first, first_params = before
            first._prepared(cursor, first_params)
            first_text, first_rest = first._text(first_params)
            text, rest = f"{first_text}; {text}", [*first_rest, *rest]
        if rest:
            cursor.execute(text, rest)
        else:
            cursor.execute(text)  # no values for psycopg2: it leaves the text as it is

    def _text(self, params: list[Any] | tuple[Any, ...]) -> tuple[str, list[Any]]:
        """``EXECUTE`` with these values, and the values left for psycopg2 (``_literals``)."""
        return _literals(self.name, params) if self.count else (self._execute, [])

    def _prepared(self, cursor: Any, params: list[Any] | tuple[Any, ...]) -> None:
        if len(params) != self.count:
            raise TypeError(f"{self.name} takes {self.count} parameters, not {len(params)}")
        wrapper = connections[cursor.db.alias]
        raw = wrapper.connection
        held: tuple[Any, set[str]] | None = getattr(wrapper, "_server_statements", None)
        if held is None or held[0] is not raw:
            held = (raw, set())
            wrapper._server_statements = held  # type: ignore[attr-defined]
        if self.name not in held[1]:
            cursor.execute(self._prepare)
            held[1].add(self.name)


def _literals(name: str, params: list[Any] | tuple[Any, ...]) -> tuple[str, list[Any]]:
    """``EXECUTE name(…)`` with whole numbers, NULLs and aware datetimes written into the text as
    psycopg2 would quote them, and the other values left as ``%s`` parameters for psycopg2.

    psycopg2's adapter machinery costs ~9,000 CPU instructions for an int and ~24,000 for a
    datetime (valgrind), and a gift send's statement has 56 values: this was ~9 % of the send's
    Python. The text is the same psycopg2 makes: an int's decimal digits (and sign), ``NULL``,
    and ``'<isoformat>'::timestamptz``, whose characters are digits, ``-:+.T`` only — nothing
    that needs quoting. ``bool`` (an int subclass) and everything else keep psycopg2's adapter.
    """
    literals: list[str] = []
    rest: list[Any] = []
    for value in params:
        kind = type(value)
        if kind is int:
            literals.append(str(value))
        elif value is None:
            literals.append("NULL")
        elif kind is datetime.datetime and value.tzinfo is not None:
            literals.append(f"'{value.isoformat()}'::timestamptz")
        else:
            literals.append("%s")
            rest.append(value)
    return f"EXECUTE {name}({', '.join(literals)})", rest


class RecurringStatements:
    """Statements planned once per connection and *exact text*, values included: for a hot read
    whose best plan depends on its values (a search: a rare word and a common one want different
    plans), so a ``ServerStatement`` with parameters and one generic plan would not do, but whose
    exact text recurs (the same search asked again, by other members or on other pages' visits).

    A text's first run on a connection is a plain statement. When the same text comes
    again it is ``PREPARE name AS <text>; EXECUTE name`` in one message (one round trip; PostgreSQL
    plans it for its values, as it plans the plain statement), and from then on ``EXECUTE name``:
    no parse, no planning. So a text that never recurs costs what it did (keeping a plan costs
    PostgreSQL more than making one it throws away). PostgreSQL re-plans a prepared statement
    itself after a schema change or an ``ANALYZE`` of its tables. At most ``size`` statements a
    connection, the least recently used deallocated first (in the same message as the next
    ``PREPARE``): a kept search plan holds ~115 KB of the backend's memory (measured with
    ``pg_backend_memory_contexts``), so 128 cost ~15 MB a connection. A text that cannot recur
    (a page after a cursor) is run plainly: ``execute(..., recurring=False)``.

    Names are never reused on a connection, so a ``PREPARE`` whose message failed after it (the
    statement stays prepared: prepared statements outlive transactions) cannot collide later; it
    is merely not used. Like ``ServerStatement``, it needs the connection to be the session's own.
    """

    def __init__(self, prefix: str, *, size: int = 128) -> None:
        if not prefix.isidentifier():
            raise ValueError(f"{prefix!r}: a statement name prefix is a plain identifier")
        self.prefix, self.size = prefix, size
        self._attribute = f"_recurring_{prefix}"
        self._enabled = True

    def execute(self, cursor: Any, sql: str, params: list[Any], *, recurring: bool = True) -> None:
        """Run ``sql`` with ``params`` (Django's ``%s`` placeholders) on ``cursor``."""
        wrapper = connections[cursor.db.alias]
        if not (recurring and self._enabled) or wrapper.vendor != "postgresql":
            cursor.execute(sql, params)
            return
        raw = wrapper.connection
        held: _Held | None = getattr(wrapper, self._attribute, None)
        if held is None or held.raw is not raw:
            held = _Held(raw)
            setattr(wrapper, self._attribute, held)
        # The exact text PostgreSQL would have received (psycopg2 quotes the values client-side).
        text = cursor.cursor.mogrify(sql, params).decode()
        name = held.names.get(text)
        if name is not None:
            held.names.move_to_end(text)
            cursor.execute(f"EXECUTE {name}")
            return
        if text not in held.seen:
            held.seen[text] = None
            if len(held.seen) > self.size * 4:
                held.seen.popitem(last=False)
            cursor.execute(sql, params)
            return
        del held.seen[text]
        name = f"{self.prefix}_{next(held.numbers)}"
        evict = ""
        if len(held.names) >= self.size:
            _, old = held.names.popitem(last=False)
            evict = f"DEALLOCATE {old}; "
        # No parameters: the text is already quoted, and a "%" in it is a literal one.
        cursor.execute(f"{evict}PREPARE {name} AS {text}; EXECUTE {name}")
        held.names[text] = name

    @contextlib.contextmanager
    def plainly(self) -> Iterator[None]:
        """Every statement runs plainly inside (EXPLAIN wants the statements themselves)."""
        before, self._enabled = self._enabled, False
        try:
            yield
        finally:
            self._enabled = before

    def held(self, using: str = DEFAULT_DB_ALIAS) -> int:
        """How many statements the connection holds (tests)."""
        state: _Held | None = getattr(connections[using], self._attribute, None)
        return 0 if state is None or state.raw is not connections[using].connection else len(state.names)


class _Held:
    def __init__(self, raw: Any) -> None:
        self.raw = raw
        self.names: collections.OrderedDict[str, str] = collections.OrderedDict()  # text → name
        self.seen: collections.OrderedDict[str, None] = collections.OrderedDict()  # run once, plainly
        self.numbers = itertools.count(1)


class PreparedInsert:
    """One row's INSERT for a hot write, its SQL built once from the model (and, on PostgreSQL,
    planned once per connection as a ``ServerStatement``): ``Model.objects.create`` spends more
    CPU in the model's save machinery and the insert compiler than the database spends on the
    row. Every value passes through its field's own ``get_db_prep_save``, so conversions stay
    the ORM's; no signals are sent and no defaults are filled in: name every column.

        _SEND = PreparedInsert(GiftSend, ["fan_id", "quantity", "created_at"], server="gift_send_insert")
        pk = _SEND.insert(fan_id=7, quantity=1, created_at=now)
    """

    def __init__(self, model: type[Any], columns: list[str], *, server: str | None = None) -> None:
        by_attname = {f.attname: f for f in model._meta.concrete_fields}
        unknown = [c for c in columns if c not in by_attname]
        if unknown:
            raise ValueError(f"{model.__name__} has no columns {unknown}")
        self._model, self._fields = model, [by_attname[c] for c in columns]
        self._whole = [isinstance(f.target_field if f.is_relation else f, models.IntegerField) for f in self._fields]
        self.columns = list(columns)
        self._server = server
        self._statements: dict[str, ServerStatement | None] = {}
        self._ctes: dict[str, str] = {}

    def _sql(self, connection: Any) -> str:
        qn = connection.ops.quote_name
        meta = self._model._meta
        columns = ", ".join(qn(f.column) for f in self._fields)
        marks = ", ".join(["%s"] * len(self._fields))
        # Only the model's own table and column names are interpolated; every value is a parameter.
        return f"INSERT INTO {qn(meta.db_table)} ({columns}) VALUES ({marks}) RETURNING {qn(meta.pk.column)}"  # noqa: S608  # nosec B608

    def as_cte(self, name: str, *, after: str, **values: Any) -> tuple[str, list[Any]]:
        """The insert as an expression of a larger PostgreSQL statement, written only if the
        expression ``after`` returned a row: ``name AS (INSERT … SELECT … WHERE EXISTS (SELECT
        FROM after))``, with each value cast to its column's type (the statement may be prepared,
        and PostgreSQL then has no other way to know them). Returns (sql, params); the text is
        made once per (name, after) and database (a foreign key's type is looked up each time)."""
        if set(values) != {f.attname for f in self._fields}:
            raise TypeError(f"PreparedInsert takes exactly {[f.attname for f in self._fields]}")
        connection = connections[DEFAULT_DB_ALIAS]
        key = f"{connection.settings_dict['NAME']} {name} {after}"
        sql = self._ctes.get(key)
        if sql is None:
            if not (name.isidentifier() and after.isidentifier()):
                raise ValueError("Expression names are plain identifiers")
            qn = connection.ops.quote_name
            columns = ", ".join(qn(f.column) for f in self._fields)
            casts = ", ".join(f"%s::{f.db_type(connection)}" for f in self._fields)
            # Only the model's own table, column and type names and the checked identifiers are
            # interpolated; every value is a parameter.
            sql = self._ctes[key] = (
                f"{name} AS (INSERT INTO {qn(self._model._meta.db_table)} ({columns}) "  # noqa: S608  # nosec B608
                f"SELECT {casts} WHERE EXISTS (SELECT FROM {after}) RETURNING 1)")
        return sql, self._prepped(values, connection)

    def _prepped(self, values: Mapping[str, Any], connection: Any) -> list[Any]:
        # An int (or None) for a whole-number column is already what its field would make of it
        # (``IntegerField.get_prep_value`` is ``int(value)``; a foreign key defers to its
        # target's): the field's own conversion cost ~13,000 CPU instructions a value.
        return [value if whole and (type(value) is int or value is None) else field.get_db_prep_save(value, connection)
                for field, whole, value in zip(self._fields, self._whole, [values[f.attname] for f in self._fields],
                                               strict=True)]

    def insert(self, **values: Any) -> Any:
        """Insert the row; return its primary key."""
        if set(values) != {f.attname for f in self._fields}:
            raise TypeError(f"PreparedInsert takes exactly {[f.attname for f in self._fields]}")
        connection = connections[DEFAULT_DB_ALIAS]
        params = self._prepped(values, connection)
        key = str(connection.settings_dict["NAME"])
        if key not in self._statements:
            types = [str(f.db_type(connection)) for f in self._fields]  # a foreign key's: its target's
            self._statements[key] = (ServerStatement(self._server, self._sql(connection), types)
                                     if self._server is not None and connection.vendor == "postgresql" else None)
        statement = self._statements[key]
        with connection.cursor() as cursor:
            if statement is not None:
                statement.execute(cursor, params)
            else:
                cursor.execute(self._sql(connection), params)
            return cursor.fetchone()[0]
