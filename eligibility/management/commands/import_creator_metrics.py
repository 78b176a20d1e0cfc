"""``manage.py import_creator_metrics FILE.csv``: the metrics feed from a file (see eligibility.imports)."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError, OutputWrapper

from creatornext.accounts.models import User
from eligibility.imports import OPTIONAL_COLUMNS, REQUIRED_COLUMNS, HeaderError, import_metrics_csv

PROGRESS_FROM_ROWS = 1000


class ProgressBar:
    """``Importing [#########...........]  45%  4,500/10,000 rows`` on one line, redrawn in place."""

    def __init__(self, total: int, out: OutputWrapper, width: int = 30) -> None:
        self.total, self.out, self.width = max(total, 1), out, width
        self.shown = -1
        self.started = time.monotonic()

    def update(self, done: int) -> None:
        percent = min(100, done * 100 // self.total)
        if percent == self.shown and done != self.total:
            return
        self.shown = percent
        filled = self.width * percent // 100
        elapsed = time.monotonic() - self.started
        rate = f"  {done / elapsed:,.0f} rows/s" if elapsed > 1 else ""
        self.out.write(f"\rImporting [{'#' * filled}{'.' * (self.width - filled)}] {percent:3d}%  "
                       f"{done:,}/{self.total:,} rows{rate}", ending="")
        self.out.flush()

    def finish(self) -> None:
        self.out.write("")


def _data_rows(path: str) -> int:
    """Lines after the header (a quick binary pass; quoted line breaks only make the bar approximate)."""
    lines, last = 0, b""
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            lines += block.count(b"\n")
            last = block
    if last and not last.endswith(b"\n"):
        lines += 1
    return max(lines - 1, 0)


class Command(BaseCommand):
    help = ("Import creator metrics from a CSV file with the columns "
            f"{', '.join(REQUIRED_COLUMNS)} (optional: {', '.join(OPTIONAL_COLUMNS)}). Bad rows are "
            "reported by line and skipped; good rows are applied, kept in the metrics history and "
            "re-evaluated. Exits with status 1 if any row was refused.")

    def add_arguments(self, parser):
        parser.add_argument("file", help="CSV file (UTF-8, header on the first line)")
        parser.add_argument("--actor", help="Username of the staff member responsible (for the audit log)")
        parser.add_argument("--progress", choices=["auto", "always", "never"], default="auto",
                            help=f"Progress bar (auto: from {PROGRESS_FROM_ROWS:,} rows)")

    def handle(self, *args, file: str, actor: str | None, progress: str, **options):
        staff = None
        if actor:
            staff = User.objects.filter(username=actor, is_staff=True, deleted_at__isnull=True).first()
            if staff is None:
                raise CommandError(f"--actor {actor}: no staff user with this username.")
        try:
            total = _data_rows(file)
            stream = open(file, encoding="utf-8-sig", newline="")  # noqa: SIM115 (closed below)
        except OSError as exc:
            raise CommandError(f"Cannot read {file}: {exc.strerror}") from exc
        bar = ProgressBar(total, self.stderr) if progress == "always" or (
            progress == "auto" and total >= PROGRESS_FROM_ROWS) else None
        try:
            with stream:
                result = import_metrics_csv(stream, actor=staff, on_progress=bar.update if bar else None)
        except HeaderError as exc:
            raise CommandError(str(exc)) from exc
        except UnicodeDecodeError as exc:
            raise CommandError(f"{file} is not UTF-8 text: {exc}") from exc
        finally:
            if bar:
                bar.finish()
        for error in result.refused:
            self.stderr.write(str(error))
        if result.ignored_columns:
            self.stdout.write(f"Ignored unknown column(s): {', '.join(result.ignored_columns)}")
        self.stdout.write(
            f"{result.rows:,} rows: {result.applied:,} applied ({result.changed:,} changed, "
            f"{result.unchanged:,} unchanged), {len(result.refused):,} refused. "
            f"Programs paused: {result.paused:,}, resumed: {result.resumed:,}.")
        if result.refused:
            raise CommandError(f"{len(result.refused):,} row(s) refused; see the lines above. "
                               "The other rows were applied.")
