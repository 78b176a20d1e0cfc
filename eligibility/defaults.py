"""PRODUCT.md §1's default programs, rules and first terms, as data.

``seed_defaults`` is run by the data migration (with the migration's historical models) and is safe
to call again: it only adds what is missing and never overwrites what staff changed. Test suites
that empty the database (transactional tests flush every table, migration data included) call it
to put the defaults back.
"""

from __future__ import annotations

import datetime
from typing import Any

# (key, country, threshold, allowed); country "" = the default for every other country.
DEFAULT_PROGRAMS: list[dict[str, Any]] = [
    {
        "slug": "creator-next", "name": "Creator Next", "position": 1,
        "description": "Membership: the way into every other program.",
        "rules": [
            ("age", "", 18, ""), ("age", "KR", 19, ""), ("age", "JP", 20, ""),
            ("followers", "", 1_000, ""), ("views_30d", "", 1_000, ""), ("posts_30d", "", 3, ""),
            ("account_age_days", "", 30, ""), ("standing", "", None, "good"),
            ("account_type", "", None, "personal"),
        ],
    },
    {
        "slug": "tips", "name": "Tips", "position": 2,
        "description": "Fans send you money directly; you keep 100% less the processor's fee.",
        "rules": [("membership", "", None, ""), ("followers", "", 100_000, "")],
    },
    {
        "slug": "video-gifts", "name": "Video Gifts", "position": 3,
        "description": "Fans send gifts on your videos; gifts become diamonds you redeem for cash.",
        "rules": [("membership", "", None, ""), ("followers", "", 10_000, ""),
                  ("recent_public_post", "", 30, "")],
    },
    {
        "slug": "live-gifts", "name": "LIVE Gifts", "position": 4,
        "description": "Fans send gifts while you are live.",
        "rules": [("age", "", 18, ""), ("age", "KR", 19, ""), ("standing", "", None, "good"),
                  ("account_type", "", None, "personal,business")],
    },
    {
        "slug": "marketplace", "name": "Creator Marketplace", "position": 5,
        "description": "Brands find you and pay you for collaborations, through escrow.",
        "rules": [("age", "", 18, ""), ("age", "KR", 19, ""), ("followers", "", 10_000, ""),
                  ("followers", "KR", 50_000, ""), ("views_30d", "", 1_000, ""),
                  ("posts_30d", "", 3, ""), ("fraud_flag", "", None, "")],
    },
]
FIRST_TERMS_VERSION = "v1"
FIRST_TERMS_PUBLISHED_AT = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
FIRST_TERMS_BODY = (
    "By joining {name} you confirm that the content you earn with is your own, that you follow the "
    "community guidelines, and that you will tell us about any sponsorship. Earnings become available "
    "after the holding period. If you stop meeting the requirements, the program is paused: you keep "
    "what you earned, and nothing new is accepted until you qualify again. You may leave at any time."
)


def seed_defaults(apps: Any = None) -> int:
    """Add the default programs, rules and terms that are missing; returns how many rows it added."""
    if apps is None:
        from django.apps import apps as global_apps

        apps = global_apps
    program_model = apps.get_model("eligibility", "Program")
    rule_model = apps.get_model("eligibility", "Rule")
    terms_model = apps.get_model("eligibility", "TermsVersion")
    slugs = [p["slug"] for p in DEFAULT_PROGRAMS]
    if program_model.objects.filter(slug__in=slugs).count() == len(slugs):
        return 0  # already seeded (staff may have changed rules since: leave them alone)
    added = 0
    for spec in DEFAULT_PROGRAMS:
        program, created = program_model.objects.get_or_create(
            slug=spec["slug"],
            defaults={"name": spec["name"], "description": spec["description"],
                      "position": spec["position"]})
        if not created:
            continue
        added += 1
        for key, country, threshold, allowed in spec["rules"]:
            rule_model.objects.create(program=program, key=key, country=country,
                                      threshold=threshold, allowed=allowed)
            added += 1
        terms_model.objects.create(program=program, version=FIRST_TERMS_VERSION,
                                   body=FIRST_TERMS_BODY.format(name=spec["name"]),
                                   published_at=FIRST_TERMS_PUBLISHED_AT)
        added += 1
    return added
