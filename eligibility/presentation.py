"""Requirements in words: "8,120 / 10,000 followers", "1,880 more followers".

Used by the creator's page, the 409 ``not_eligible`` messages and the "program paused" email, so a
creator reads the same sentence everywhere.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from eligibility.evaluation import Check, Facts
from eligibility.models import RequirementKey

# key → (title, singular noun, plural noun)
_COUNTED = {
    RequirementKey.FOLLOWERS: ("Followers", "follower", "followers"),
    RequirementKey.VIEWS_30D: ("Views in the last 30 days", "view in the last 30 days",
                               "views in the last 30 days"),
    RequirementKey.POSTS_30D: ("Public posts in the last 30 days", "public post in the last 30 days",
                               "public posts in the last 30 days"),
    RequirementKey.ACCOUNT_AGE_DAYS: ("Account age", "day", "days"),
}
TITLES = {
    RequirementKey.AGE: "Age",
    RequirementKey.RECENT_PUBLIC_POST: "A recent public post",
    RequirementKey.STANDING: "Good standing",
    RequirementKey.ACCOUNT_TYPE: "Account type",
    RequirementKey.FRAUD_FLAG: "No fraud review",
    RequirementKey.MEMBERSHIP: "Creator Next membership",
    **{key: title for key, (title, _, _) in _COUNTED.items()},
}
_TYPE_NAMES = {"personal": "personal", "business": "business", "government": "government or political"}


def _n(count: int, singular: str, plural: str) -> str:
    return f"{count:,} {singular if count == 1 else plural}"


def _date(day: datetime.date) -> str:
    return f"{day.day} {day:%B %Y}"


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _birthday(dob: datetime.date, years: int) -> datetime.date:
    """The day someone born on ``dob`` turns ``years`` (29 February → 1 March in common years)."""
    try:
        return dob.replace(year=dob.year + years)
    except ValueError:
        return datetime.date(dob.year + years, 3, 1)


def _one_of(key: str, allowed: list[str]) -> str:
    if key == RequirementKey.STANDING:
        return " or ".join(allowed) + " standing"
    names = [_TYPE_NAMES.get(a, a) for a in allowed]
    return " or ".join(names) + " accounts"


def progress_text(c: Check) -> str:
    """Where the creator stands, e.g. "8,120 / 10,000 followers"."""
    key = c.key
    if key in _COUNTED:
        _, singular, plural = _COUNTED[RequirementKey(key)]
        current = "unknown" if c.current is None else f"{c.current:,}"
        return f"{current} / {_n(c.required, singular, plural)}"
    if key == RequirementKey.AGE:
        return "Date of birth unknown" if c.current is None else f"Age {c.current} (at least {c.required})"
    if key == RequirementKey.RECENT_PUBLIC_POST:
        if c.current is None:
            return f"No public post yet (one in the last {c.required} days needed)"
        when = "today" if c.current == 0 else f"{_n(c.current, 'day', 'days')} ago"
        return f"Last public post {when} (one in the last {c.required} days needed)"
    if key == RequirementKey.STANDING:
        return f"Standing: {c.current}"
    if key == RequirementKey.ACCOUNT_TYPE:
        return f"{_TYPE_NAMES.get(c.current, c.current).capitalize()} account"
    if key == RequirementKey.FRAUD_FLAG:
        return "Under fraud review" if c.current else "No fraud review"
    if key == RequirementKey.MEMBERSHIP:
        return "Member of Creator Next" if c.current else "Not a member of Creator Next"
    return f"{c.current} / {c.required}"


def missing_text(c: Check, facts: Facts | None = None) -> str:
    """What is missing, in words ("1,880 more followers"); empty when the requirement is met."""
    if c.met:
        return ""
    key = c.key
    if key in _COUNTED:
        _, singular, plural = _COUNTED[RequirementKey(key)]
        if c.current is None:
            return "The account's creation date is not known yet"
        missing = c.required - c.current
        return f"{missing:,} more {singular if missing == 1 else plural}"
    if key == RequirementKey.AGE:
        if c.current is None or facts is None or facts.date_of_birth is None:
            return f"You must be at least {c.required}"
        return f"You can join from your {_ordinal(c.required)} birthday, on " \
               f"{_date(_birthday(facts.date_of_birth, c.required))}"
    if key == RequirementKey.RECENT_PUBLIC_POST:
        return f"A public post in the last {c.required} days"
    if key in (RequirementKey.STANDING, RequirementKey.ACCOUNT_TYPE):
        shown = c.current if key == RequirementKey.STANDING else _TYPE_NAMES.get(c.current, c.current)
        return f"Only for {_one_of(key, c.required)} (yours: {shown})"
    if key == RequirementKey.FRAUD_FLAG:
        return "Your account is under fraud review"
    if key == RequirementKey.MEMBERSHIP:
        return "Join Creator Next first"
    return f"{c.key} must be {c.required}"


@dataclass(frozen=True)
class RequirementView:
    key: str
    title: str
    met: bool
    progress: str
    missing: str
    bar_value: int | None  # a progress bar for counted requirements
    bar_max: int | None


def view(c: Check, facts: Facts | None = None) -> RequirementView:
    bar = c.key in _COUNTED and isinstance(c.required, int) and c.required > 0
    value = min(c.current or 0, c.required) if bar else None
    return RequirementView(key=c.key, title=TITLES.get(RequirementKey(c.key), c.key), met=c.met,
                           progress=progress_text(c), missing=missing_text(c, facts),
                           bar_value=value, bar_max=c.required if bar else None)
