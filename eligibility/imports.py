"""The metrics feed's CSV import (``manage.py import_creator_metrics FILE.csv``).

Columns: handle, followers, views_30d, posts_30d, account_created_at, account_type, standing,
fraud_flag, and optionally last_public_post_at (an empty cell keeps the current value). Dates are
``YYYY-MM-DD`` (midnight UTC) or ISO 8601 date-times (without a zone: UTC).

Every row is validated on its own: a bad row is reported with its line number and reason and writes
nothing; every good row is applied through ``services.metrics_update`` (history, audit,
re-evaluation), each in its own transaction. A row whose values the creator already has costs no
write. Creators are looked up a chunk of rows at a time.
"""

from __future__ import annotations

import csv
import datetime
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TextIO

from django.core.exceptions import ValidationError
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from creatornext.accounts.models import CreatorProfile, User
from creatornext.core import config
from eligibility import services
from eligibility.models import Enrollment, MetricsSnapshot

REQUIRED_COLUMNS = ("handle", "followers", "views_30d", "posts_30d", "account_created_at", "account_type",
                    "standing", "fraud_flag")
OPTIONAL_COLUMNS = ("last_public_post_at",)
_WHOLE = re.compile(r"\A[+-]?\d+\Z")
_TRUE, _FALSE = {"true", "yes", "1", "y", "t"}, {"false", "no", "0", "n", "f"}


class HeaderError(ValueError):
    """The file's header cannot be imported (nothing was written)."""


@dataclass(frozen=True)
class RowError:
    line: int
    handle: str
    reason: str

    def __str__(self) -> str:
        who = f" (@{self.handle})" if self.handle else ""
        return f"line {self.line}{who}: {self.reason}"


@dataclass
class ImportResult:
    rows: int = 0
    changed: int = 0
    unchanged: int = 0
    paused: int = 0
    resumed: int = 0
    refused: list[RowError] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)

    @property
    def applied(self) -> int:
        return self.changed + self.unchanged


def _whole(name: str, raw: str, reasons: list[str]) -> int | None:
    if not _WHOLE.match(raw):
        reasons.append(f"{name} must be a whole number (got {raw!r})")
        return None
    value = int(raw)
    if value < 0:
        reasons.append(f"{name} must be 0 or more (got {value})")
        return None
    return value


def _moment(name: str, raw: str, reasons: list[str]) -> datetime.datetime | None:
    try:
        moment = parse_datetime(raw)
        if moment is None:
            day = parse_date(raw)
            moment = datetime.datetime.combine(day, datetime.time()) if day else None
    except ValueError:
        moment = None
    if moment is None:
        reasons.append(f"{name} is not a valid date (got {raw!r}); use YYYY-MM-DD or ISO 8601")
        return None
    return timezone.make_aware(moment, datetime.UTC) if timezone.is_naive(moment) else moment


def parse_row(raw: dict[str | None, Any]) -> tuple[str, dict[str, Any]]:
    """A CSV row (strings) → (handle, typed values); raises ValueError with every reason."""
    reasons: list[str] = []
    if raw.get(None):
        reasons.append(f"{len(raw[None])} more value(s) than there are columns")
    missing = [c for c in REQUIRED_COLUMNS if raw.get(c) is None]
    if missing:
        reasons.append(f"missing column(s): {', '.join(missing)}")
    cells = {k: (v or "").strip() for k, v in raw.items() if isinstance(k, str)}
    empty = [c for c in REQUIRED_COLUMNS if c not in missing and not cells.get(c)]
    if empty:
        reasons.append(f"empty value(s): {', '.join(empty)}")
    handle = cells.get("handle", "").lstrip("@")
    values: dict[str, Any] = {}
    for name in ("followers", "views_30d", "posts_30d"):
        if cells.get(name):
            values[name] = _whole(name, cells[name], reasons)
    for name in ("account_created_at", "last_public_post_at"):
        if cells.get(name):
            values[name] = _moment(name, cells[name], reasons)
    for name, choices in (("account_type", CreatorProfile.AccountType.values),
                          ("standing", CreatorProfile.Standing.values)):
        if cells.get(name):
            value = cells[name].lower()
            if value not in choices:
                reasons.append(f"{name} must be one of {', '.join(choices)} (got {cells[name]!r})")
            values[name] = value
    if cells.get("fraud_flag"):
        flag = cells["fraud_flag"].lower()
        if flag not in _TRUE | _FALSE:
            reasons.append(f"fraud_flag must be true or false (got {cells['fraud_flag']!r})")
        values["fraud_flag"] = flag in _TRUE
    if not reasons:
        try:
            services.metrics_validate(values, now=timezone.now())
        except ValidationError as exc:
            reasons += [f"{name}: {' '.join(msgs)}" for name, msgs in exc.message_dict.items()]
    if reasons:
        raise ValueError("; ".join(reasons))
    return handle, values


def _creators(handles: Iterable[str]) -> dict[str, CreatorProfile]:
    wanted = {h.lower() for h in handles if h}
    found = (CreatorProfile.objects.select_related("user").annotate(handle_ci=Lower("handle"))
             .filter(handle_ci__in=wanted, user__deleted_at__isnull=True))
    return {c.handle.lower(): c for c in found}


def import_metrics_csv(stream: TextIO, *, actor: User | None = None, chunk_size: int = 500,
                       on_progress: Callable[[int], None] | None = None,
                       on_error: Callable[[RowError], None] | None = None) -> ImportResult:
    reader = csv.DictReader(stream)
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise HeaderError(f"line 1: the header lacks column(s) {', '.join(missing)}; "
                          f"expected {', '.join(REQUIRED_COLUMNS)} (and optionally "
                          f"{', '.join(OPTIONAL_COLUMNS)}). Nothing was imported.")
    reader.fieldnames = header
    result = ImportResult(ignored_columns=[h for h in header
                                           if h not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS])

    def refuse(error: RowError) -> None:
        result.refused.append(error)
        if on_error:
            on_error(error)

    def apply(chunk: list[tuple[int, str, dict[str, Any]]]) -> None:
        creators = _creators(handle for _, handle, _ in chunk)
        for line, handle, values in chunk:
            creator = creators.get(handle.lower())
            if creator is None:
                refuse(RowError(line, handle, f"unknown handle @{handle}"))
                continue
            if all(getattr(creator, k) == v for k, v in values.items()):
                result.unchanged += 1
                continue
            try:
                outcome = services.metrics_update(
                    creator=creator, actor=actor, source=MetricsSnapshot.Source.CSV, **values)
            except ValidationError as exc:
                refuse(RowError(line, handle, "; ".join(
                    f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())))
                continue
            creators[handle.lower()] = outcome.creator
            result.changed += 1
            for change in outcome.changes:
                if change.new_status == Enrollment.Status.PAUSED:
                    result.paused += 1
                else:
                    result.resumed += 1

    chunk: list[tuple[int, str, dict[str, Any]]] = []
    for raw in reader:
        result.rows += 1
        line = reader.line_num
        try:
            handle, values = parse_row(raw)
        except ValueError as exc:
            refuse(RowError(line, (raw.get("handle") or "").strip().lstrip("@"), str(exc)))
        else:
            chunk.append((line, handle, values))
        if len(chunk) >= chunk_size:
            apply(chunk)
            chunk = []
        if on_progress:
            on_progress(result.rows)
    if chunk:
        apply(chunk)
        if on_progress:
            on_progress(result.rows)
    result.refused.sort(key=lambda e: e.line)
    return result


IMPORT_MAX_BYTES = config.register("eligibility.import_max_bytes", 20_000_000,
                                   "Largest metrics CSV staff may upload in the admin (bytes).", minimum=1)
PROGRESS_EVERY_ROWS = 50  # how often an admin import writes its progress (one UPDATE each time)


def run_metrics_import(import_id: int) -> None:
    """Import an uploaded CSV (``MetricsImport``), recording progress as it goes.

    Only the delivery that moves the job from queued to running does the work: a second delivery of
    the task finds it running or finished and leaves it alone.
    """
    import io

    from eligibility.models import MetricsImport

    started = MetricsImport.objects.filter(pk=import_id, status=MetricsImport.Status.QUEUED).update(
        status=MetricsImport.Status.RUNNING)
    if not started:
        return
    job = MetricsImport.objects.select_related("uploaded_by").get(pk=import_id)

    def progress(rows: int) -> None:
        if rows % PROGRESS_EVERY_ROWS == 0:
            MetricsImport.objects.filter(pk=import_id).update(rows_done=rows)

    try:
        result = import_metrics_csv(io.StringIO(job.content), actor=job.uploaded_by,
                                    chunk_size=PROGRESS_EVERY_ROWS, on_progress=progress)
    except HeaderError as exc:
        MetricsImport.objects.filter(pk=import_id).update(
            status=MetricsImport.Status.FAILED, report=str(exc), finished_at=timezone.now())
        return
    MetricsImport.objects.filter(pk=import_id).update(
        status=MetricsImport.Status.DONE, rows_done=result.rows, rows_total=max(result.rows, job.rows_total),
        changed=result.changed, unchanged=result.unchanged, refused=len(result.refused),
        report="\n".join(str(e) for e in result.refused), finished_at=timezone.now())
