"""Stacked bar chart geometry for the earnings chart, drawn as SVG by the template (no script, no CDN)."""

from __future__ import annotations

from dataclasses import dataclass

from creatornext.money import Money
from creatornext.site.selectors import INCOME_SERIES, Day

WIDTH, HEIGHT, LEFT, BOTTOM, TOP = 720, 240, 56, 24, 8


@dataclass(frozen=True)
class Bar:
    series: str
    x: float
    y: float
    width: float
    height: float
    label: str


@dataclass(frozen=True)
class Tick:
    y: float
    label: str


def _nice_max(value: int) -> int:
    """A round axis maximum (1, 2 or 5 × a power of ten) at or above ``value``."""
    step = 1
    while True:
        for m in (1, 2, 5):
            if step * m >= value:
                return step * m
        step *= 10


def stacked_bars(days: list[Day], currency: str = "USD") -> dict:
    """Bars, y-axis ticks and x-axis labels for ``days`` in a WIDTH × HEIGHT view box."""
    top = _nice_max(max((d.total for d in days), default=0) or 100)
    plot_h = HEIGHT - BOTTOM - TOP
    slot = (WIDTH - LEFT) / max(len(days), 1)
    bars, xlabels = [], []
    every = max(len(days) // 6, 1)
    for i, day in enumerate(days):
        x = LEFT + i * slot + slot * 0.15
        base = float(HEIGHT - BOTTOM)
        for series in INCOME_SERIES:
            amount = day.amounts[series]
            if not amount:
                continue
            h = plot_h * amount / top
            base -= h
            bars.append(Bar(series, round(x, 2), round(base, 2), round(slot * 0.7, 2), round(h, 2),
                            f"{day.day:%d %b}: {series} {Money(amount, currency)}"))
        if i % every == 0:
            xlabels.append({"x": round(LEFT + i * slot + slot / 2, 2), "label": f"{day.day:%d %b}"})
    ticks = [Tick(round(HEIGHT - BOTTOM - plot_h * f, 2), str(Money(int(top * f), currency)))
             for f in (0, 0.5, 1)]
    return {"bars": bars, "ticks": ticks, "xlabels": xlabels, "width": WIDTH, "height": HEIGHT,
            "left": LEFT, "baseline": HEIGHT - BOTTOM}
