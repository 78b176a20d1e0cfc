"""``manage.py search_index [--rebuild]``: bring the marketplace search index up to date."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from marketplace import search_index


class Command(BaseCommand):
    help = ("Take the profile cards changed since the last run into the marketplace search index "
            "(all of them the first time, or with --rebuild). Decision 0022.")

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--rebuild", action="store_true", help="index every card again")

    def handle(self, *args: Any, rebuild: bool = False, **options: Any) -> None:
        path = search_index.directory()
        if path is None:
            raise CommandError("The search index is off: set MARKETPLACE_SEARCH_INDEX to a directory "
                               "(PostgreSQL only).")
        started = time.monotonic()

        def progress(read: int) -> None:
            self.stdout.write(f"  {read:,} cards read ({time.monotonic() - started:.0f} s)")

        read = search_index.catch_up(progress=progress, rebuild=rebuild)
        if read is None:
            raise CommandError("Another writer holds the search index's lock; try again when it is done.")
        self.stdout.write(self.style.SUCCESS(
            f"Search index at {path}: {read:,} cards taken in, {time.monotonic() - started:.1f} s."))
