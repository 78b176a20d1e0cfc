"""Read-only queries for the creator dashboard (the composition root may read any app's selectors).

Everything here reads; nothing posts. The earnings chart is one grouped query over the creator's own
ledger entries (served by the (owner, -id) index, bounded by the period), never a loop per day.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

from django.db.models import Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from creatornext.ledger import selectors as ledger
from creatornext.ledger.models import Entry

# Which ledger transaction kinds count as which income on the chart. Each is a credit of cash to the
# creator (pending, or debt netting) made by ledger.creator_income; gifts become cash when the
# creator redeems diamonds, so the gift series is the cash those redemptions paid.
INCOME_SERIES: dict[str, tuple[str, ...]] = {
    "tips": ("tip", "tip_dispute_won"),
    "gifts": ("redemption",),
    "marketplace": ("escrow_release",),
}
SERIES_LABELS = {"tips": "Tips", "gifts": "Gifts (diamonds redeemed)", "marketplace": "Marketplace"}
PERIODS = (30, 90)


@dataclass(frozen=True)
class Day:
    day: datetime.date
    amounts: dict[str, int]  # series -> minor units

    @property
    def total(self) -> int:
        return sum(self.amounts.values())


def earnings_by_day(owner: Any, *, days: int, currency: str = "USD",
                    today: datetime.date | None = None) -> list[Day]:
    """Income per UTC day for the last ``days`` days (today included), every day present, zeros too."""
    today = today or timezone.now().date()
    first = today - datetime.timedelta(days=days - 1)
    start = datetime.datetime.combine(first, datetime.time.min, tzinfo=datetime.UTC)
    kind_to_series = {kind: name for name, kinds in INCOME_SERIES.items() for kind in kinds}
    rows = (Entry.objects.filter(owner=owner, asset=currency, amount__gt=0, created_at__gte=start,
                                 transaction__kind__in=list(kind_to_series))
            .annotate(day=TruncDate("created_at", tzinfo=datetime.UTC))
            .values("day", "transaction__kind").annotate(total=Sum("amount")).order_by())
    grid = {first + datetime.timedelta(days=i): dict.fromkeys(INCOME_SERIES, 0) for i in range(days)}
    for row in rows:
        if row["day"] in grid:
            grid[row["day"]][kind_to_series[row["transaction__kind"]]] += row["total"]
    return [Day(day, amounts) for day, amounts in grid.items()]


def recent_activity(owner: Any, *, limit: int = 10) -> list[dict[str, Any]]:
    """The newest statement rows of the owner (one query, the statement's own index)."""
    rows: Any = ledger.statement(owner)[:limit]  # values() rows
    return list(rows)


def balances(owner: Any) -> dict[str, Any]:
    """Cash per currency (pending, available, in payout, debt) and diamonds: one query."""
    return ledger.wallet(owner)
