"""Eligibility test helpers: creators who meet every default rule, enrolments, reading the API."""

from __future__ import annotations

import datetime

from django.utils import timezone

from creatornext.accounts.models import CreatorProfile
from eligibility import selectors, services
from eligibility.models import Enrollment
from tests.support.world import api_client, make_user


def qualifying_metrics(**overrides) -> dict:
    """Metrics that meet every default rule of every program (for a US adult)."""
    now = timezone.now()
    metrics = {"followers": 150_000, "views_30d": 80_000, "posts_30d": 12,
               "account_created_at": now - datetime.timedelta(days=400), "account_type": "personal",
               "standing": "good", "fraud_flag": False,
               "last_public_post_at": now - datetime.timedelta(days=1)}
    metrics.update(overrides)
    return metrics


def years_ago(years: int, *, plus_days: int = 0) -> datetime.date:
    """The birth date of someone whose ``years``th birthday is today (+ ``plus_days``)."""
    today = timezone.now().date()
    try:
        day = today.replace(year=today.year - years)
    except ValueError:  # 29 February
        day = datetime.date(today.year - years, 3, 1)
    return day + datetime.timedelta(days=plus_days)


def make_creator(handle: str = "maya", *, country: str = "US", dob: datetime.date | None = None,
                 **metrics) -> CreatorProfile:
    user = make_user(handle.replace(".", "_"), dob=dob or datetime.date(1990, 1, 1))
    api_client(user)  # its API token exists up front, so `nothing_changed` blocks see only the action
    return CreatorProfile.objects.create(user=user, handle=handle, country=country,
                                         **qualifying_metrics(**metrics))


def enroll(creator: CreatorProfile, *programs: str) -> None:
    book = selectors.rule_book()
    for program in programs:
        services.enrollment_opt_in(creator=creator, program=program, actor=creator.user,
                                   terms_version=book.get(program).terms.version)


def status_of(creator: CreatorProfile, program: str) -> str | None:
    return Enrollment.objects.filter(creator=creator, program__slug=program).values_list(
        "status", flat=True).first()


def eligibility(creator: CreatorProfile) -> dict[str, dict]:
    response = api_client(creator.user).get("/api/v1/eligibility/")
    assert response.status_code == 200, response.content
    return {item["program"]: item for item in response.json()}


def requirement(creator: CreatorProfile, program: str, key: str) -> dict:
    item = eligibility(creator)[program]
    found = [r for r in item["requirements"] if r["key"] == key]
    assert found, f"{program} has no {key} requirement: {item['requirements']}"
    return found[0]
