"""The authorisation matrix (TARGETS R10): every endpoint × every role → the exact status.

Each feature adds its endpoints here. ``tests/test_authorization_matrix.py`` fails for any endpoint
the URL configuration serves that has no entry, and checks every cell against the live app.

Statuses follow API.md: 401 without credentials, 403 for a role that may not use the endpoint,
404 for another user's or brand's private object (never 403), and the success code otherwise.
A cell may name the request body to send (``body``) and URL kwargs come from the ``world``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

ROLES = ("anonymous", "fan", "creator", "other_creator", "brand_member", "other_brand_member",
         "staff")


@dataclass(frozen=True)
class Entry:
    # method → role → expected status
    cells: dict[str, dict[str, int]]
    # URL kwargs from the world (objects owned by "creator", "brand_member", ...)
    kwargs: Callable[[Any], dict[str, Any]] = field(default=lambda world: {})
    # request body per method, from the world and the role
    body: Callable[[Any, str, str], dict[str, Any] | None] = field(default=lambda world, method, role: None)


def every(status: int, **overrides: int) -> dict[str, int]:
    """The same status for every signed-in role, 401 for anonymous, with per-role overrides."""
    cells = {role: status for role in ROLES}
    cells["anonymous"] = 401
    cells.update(overrides)
    return cells


MATRIX: dict[str, Entry] = {
    "api:me": Entry(cells={"GET": every(200)}),
}
