"""Data at scale, skewed like real data, loaded with COPY.

Real creator platforms are Zipf-shaped: a few creators have most followers, views and traffic.
``ZipfSampler`` draws ranks with P(rank r) ∝ 1 / r^s, and ``load_creators`` gives the creator of
rank r metrics that fall off the same way. Ranks are shuffled over ids, so the hot creators are
not simply the first rows of the table (which would flatter caches and indexes).
"""

from __future__ import annotations

import bisect
import datetime as dt
import itertools
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bench.database import copy_rows, sync_identity

if TYPE_CHECKING:
    from bench.runner import Context

ZIPF_S = 1.1  # web popularity is usually measured between 0.8 and 1.2
NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
COUNTRIES = ("US", "BR", "IN", "ID", "MX", "GB", "PH", "DE", "FR", "JP", "NG", "TR", "ES", "CA")
COUNTRY_WEIGHTS = (30, 12, 12, 8, 7, 6, 5, 4, 4, 3, 3, 2, 2, 3)
UNUSABLE_PASSWORD = "!bench-no-password"  # Django's unusable-password form: these users use tokens
USER_COLUMNS = ("id", "password", "last_login", "is_superuser", "username", "first_name",
                "last_name", "email", "is_staff", "is_active", "date_joined", "date_of_birth",
                "email_verified_at", "deleted_at")


class ZipfSampler:
    """Draws ranks 1..n with P(r) ∝ 1 / r^s (bisect over cumulative weights: O(log n) a draw)."""

    def __init__(self, n: int, s: float = ZIPF_S) -> None:
        self.n = n
        self.cumulative = list(itertools.accumulate(1 / r**s for r in range(1, n + 1)))

    def rank(self, rng) -> int:
        return bisect.bisect_left(self.cumulative, rng.random() * self.cumulative[-1]) + 1

    def ranks(self, rng, k: int) -> list[int]:
        return [self.rank(rng) for _ in range(k)]

    def share_of_top(self, top: int) -> float:
        """The fraction of draws that go to the ``top`` ranks (for the report)."""
        return self.cumulative[max(1, min(top, self.n)) - 1] / self.cumulative[-1]


def _user_row(user_id: int, username: str, *, joined: dt.datetime, birth: dt.date | None,
              deleted: bool = False) -> tuple:
    email = "" if deleted else f"{username}@bench.creatornext.test"
    return (user_id, UNUSABLE_PASSWORD, None, False, username, "", "", email, False, not deleted,
            joined, birth, None if deleted else joined, joined if deleted else None)


@dataclass
class Creators:
    """What a workload needs to aim at the loaded creators."""

    handles_by_rank: list[str]  # index 0 = rank 1 (the most popular live creator)
    user_ids_by_rank: list[int]
    deleted: int

    def handle(self, rank: int) -> str:
        return self.handles_by_rank[rank - 1]


def load_creators(ctx: Context, count: int, *, deleted_share: float = 0.005,
                  first_user_id: int = 1) -> Creators:
    """``count`` creator users + profiles. About ``deleted_share`` of them are deleted accounts
    (pseudonymised as the app does it), which the API must not show; they are given no rank."""
    rng = ctx.rng
    ids = list(range(first_user_id, first_user_id + count))
    rng.shuffle(ids)  # ids[rank - 1] is the creator of that rank
    deleted = set(rng.sample(ids, int(count * deleted_share)))
    countries = rng.choices(COUNTRIES, COUNTRY_WEIGHTS, k=count)
    users, profiles = [], []
    handles_by_rank, ids_by_rank = [], []
    for rank, user_id in enumerate(ids, start=1):
        gone = user_id in deleted
        user, profile = _creator_rows(rng, rank, user_id, countries[rank - 1], gone)
        users.append(user)
        profiles.append(profile)
        if not gone:
            handles_by_rank.append(profile[2])
            ids_by_rank.append(user_id)
    copy_rows(ctx.db, "accounts_user", USER_COLUMNS, users)
    copy_rows(ctx.db, "accounts_creatorprofile", PROFILE_COLUMNS, profiles)
    sync_identity(ctx.db, "accounts_user")
    sync_identity(ctx.db, "accounts_creatorprofile")
    return Creators(handles_by_rank, ids_by_rank, len(deleted))


PROFILE_COLUMNS = ("id", "user_id", "handle", "country", "display_name", "bio", "created_at",
                   "followers", "views_30d", "posts_30d", "account_created_at", "account_type",
                   "standing", "fraud_flag", "metrics_updated_at")


def _creator_rows(rng, rank: int, user_id: int, country: str, gone: bool) -> tuple[tuple, tuple]:
    # rng.random() arithmetic rather than randint: a million rows need tens of millions of draws.
    r = rng.random
    joined = NOW - dt.timedelta(seconds=int(r() * 2000 * 86400) + 86400)
    handle = f"deleted-{user_id}" if gone else f"{_name(rng)}{user_id}"
    birth = None if gone else dt.date(1965 + int(r() * 40), 1 + int(r() * 12), 1 + int(r() * 28))
    user = _user_row(user_id, handle if gone else f"c{user_id}", joined=joined, birth=birth,
                     deleted=gone)
    followers = int(20_000_000 / rank**ZIPF_S) + int(r() * 50)
    profile = (user_id, user_id, handle, country, "" if gone else handle.title(),
               "" if gone else f"Bench creator of rank {rank}.", joined, followers,
               followers * (2 + int(r() * 38)), int(r() * 90),
               joined - dt.timedelta(days=int(r() * 3000)),
               "business" if r() < 0.1 else "personal", "good", False, joined)
    return user, profile


_SYLLABLES = ("ka", "lo", "mi", "ra", "ze", "tu", "no", "vi", "sa", "be", "do", "lu", "ny", "xo")


def _name(rng) -> str:
    """A short pronounceable handle stem; mixed case, because handles are matched case-blind."""
    r = rng.random
    stem = "".join(_SYLLABLES[int(r() * len(_SYLLABLES))] for _ in range(2 + int(r() * 3)))
    return stem.capitalize() if r() < 0.3 else stem


@dataclass(frozen=True)
class Fan:
    user_id: int
    token: str


def load_fans(ctx: Context, count: int, *, first_user_id: int) -> list[Fan]:
    """``count`` verified fans, each with a DRF token: real authentication from distinct users."""
    fans = [Fan(first_user_id + i, secrets.token_hex(20)) for i in range(count)]
    joined = NOW - dt.timedelta(days=30)
    copy_rows(ctx.db, "accounts_user", USER_COLUMNS,
              (_user_row(f.user_id, f"fan{f.user_id}", joined=joined, birth=dt.date(1990, 5, 17))
               for f in fans))
    copy_rows(ctx.db, "authtoken_token", ("key", "created", "user_id"),
              ((f.token, joined, f.user_id) for f in fans))
    sync_identity(ctx.db, "accounts_user")
    return fans


def spread(items: Sequence, k: int, rng) -> list:
    """``k`` items drawn uniformly (who sends a request: every fan equally often)."""
    return [items[rng.randrange(len(items))] for _ in range(k)]
