"""creator-profile: a fan opens a creator's public profile, with popular creators far more often.

``GET /api/v1/creators/{handle}/`` over 100,000 creators; handles drawn with Zipf skew; every
request authenticated with the token of one of 64 fans (real authentication, distinct users).
Target in the manner of TARGETS.md P4: p95 ≤ 3 × B-json p95, no errors; the throughput ratio is
reported.
"""

from bench import data
from bench.registry import (
    Load,
    Request,
    latency_ratio_at_most,
    no_errors,
    rate_ratio_reported,
    workload,
)

NAME = "creator-profile"
FANS = 64


@workload(
    NAME,
    "GET /api/v1/creators/{handle}/ — 100,000 creators, handles drawn Zipf-skewed (s = 1.1), "
    "each request authenticated as one of 64 fans.",
    baselines=["B-json"],
    checks=[
        latency_ratio_at_most(NAME, "B-json", 3, percentile=95),
        rate_ratio_reported(NAME, "B-json"),
        no_errors(NAME, "B-json"),
    ],
    scale=100_000,
    smoke_scale=500,
)
def creator_profile(ctx) -> Load:
    creators = data.load_creators(ctx, ctx.scale)
    fans = data.load_fans(ctx, FANS, first_user_id=ctx.scale + 1)
    zipf = data.ZipfSampler(len(creators.handles_by_rank))
    ranks = zipf.ranks(ctx.rng, ctx.plan_size)
    who = data.spread(fans, ctx.plan_size, ctx.rng)
    ctx.notes.append(
        f"Data: {ctx.scale:,} creators ({creators.deleted:,} deleted accounts among them), {FANS} "
        f"fans with tokens; the top 1% of creators get {zipf.share_of_top(ctx.scale // 100):.0%} "
        f"of the requests; {len(set(ranks)):,} distinct creators in a plan of {ctx.plan_size:,}.")
    return Load([Request("GET", f"/api/v1/creators/{creators.handle(rank)}/", token=fan.token)
                 for rank, fan in zip(ranks, who, strict=True)])
