"""Search cursors: an opaque, URL-safe position in one ordering (no Django here: bench uses it).

A position is (segment, value, id): ``segment`` is the relevance tier (0 for the plain orderings),
``value`` the ordering column of the row (followers, engagement rate or average views) and ``id``
the profile's id, which breaks ties, so every row has exactly one place and a page never repeats
or skips a row, however many rows share a value. ``forward`` says which way the page goes from the
position (``next`` links go forward, ``previous`` links back).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass

# At most this many segments in a search: the relevance tiers (marketplace.selectors.TIERS).
SEGMENTS = 3


class BadCursor(ValueError):
    pass


@dataclass(frozen=True)
class Position:
    ordering: str
    segment: int
    value: int
    id: int
    forward: bool = True


def encode(position: Position) -> str:
    raw = json.dumps([position.ordering, position.segment, position.value, position.id,
                      1 if position.forward else 0], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode(token: str) -> Position:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        ordering, segment, value, row_id, forward = json.loads(raw)
    except (ValueError, TypeError) as exc:
        raise BadCursor("Invalid cursor.") from exc
    if not (isinstance(ordering, str) and all(type(v) is int for v in (segment, value, row_id, forward))
            and 0 <= segment < SEGMENTS and 0 <= value < 2**63 and 0 <= row_id < 2**63
            and forward in (0, 1)):
        raise BadCursor("Invalid cursor.")
    return Position(ordering, segment, value, row_id, bool(forward))
