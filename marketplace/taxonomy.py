"""The marketplace's fixed vocabularies (PRODUCT.md §4). Part of the API contract: not settings."""

from __future__ import annotations

import re

CATEGORIES = ("art", "automotive", "beauty", "comedy", "dance", "education", "fashion", "finance",
              "fitness", "food", "gaming", "health", "lifestyle", "music", "parenting", "pets",
              "sports", "tech", "travel")
AGE_BUCKETS = ("13-17", "18-24", "25-34", "35-44", "45+")
GENDERS = ("female", "male", "other")
# What a brand can buy; a campaign's deliverables (part 2) use the same words.
DELIVERABLES = ("video", "live", "series")
DELIVERABLE_LABELS = {"video": "One sponsored video", "live": "A sponsored LIVE",
                      "series": "A series of three videos"}
ORDERINGS = ("-followers", "-engagement_rate", "-avg_views", "relevance")

LANGUAGE_RE = re.compile(r"\A[a-z]{2}\Z")  # ISO 639-1
COUNTRY_RE = re.compile(r"\A[A-Z]{2}\Z")  # ISO 3166-1 alpha-2

# Audience shares are whole percentages. For the search index each share is also written as
# threshold tokens in steps of SHARE_STEP ("at least 30% in US"), see docs/decisions/0009.
SHARE_STEP = 10


def facet_tokens(*, categories: list[str], languages: list[str], audience_countries: dict[str, int],
                 audience_genders: dict[str, int], audience_ages: dict[str, int]) -> str:
    """The filter tokens of a profile for the search index (decision 0009), space-separated.

    An audience share of s% in key k is written as one token per step it reaches: 41% in US gives
    ``=ac:US:10 =ac:US:20 =ac:US:30 =ac:US:40``, so "at least 30%" is one index lookup. Tokens begin
    with "=", which a search word never does, so text search cannot hit them.
    """
    tokens = [f"=c:{c}" for c in categories] + [f"=l:{code}" for code in languages]
    for prefix, shares in (("ac", audience_countries), ("ag", audience_genders), ("aa", audience_ages)):
        for key, share in sorted(shares.items()):
            tokens += [f"={prefix}:{key}:{step}" for step in range(SHARE_STEP, int(share) + 1, SHARE_STEP)]
    return " ".join(tokens)
