"""P1 gift-burst and P2 gift-spread: 32 fans POST /api/v1/gift-sends/ to live streams.

- ``hot``: every gift goes to the one most popular creator's live stream (a LIVE burst);
- ``spread``: the same load over 1,000 creators' live streams, uniformly.

Every creator is enrolled in ``live-gifts`` and live; each fan holds ten million coins (one ledger
transaction each, consistent for ``ledger_check``), so no request is refused for money. A Rose
(1 coin → 1 diamond) each, with a unique Idempotency-Key per request. Targets (TARGETS.md): hot
≥ 0.5 × B-insert req/s, hot p99 ≤ 3 × B-insert p99, 0 errors, hot ≥ 0.8 × spread, and
``ledger_check`` clean afterwards (decision 0005 explains why the hot creator's row is not the
bottleneck).
"""

from __future__ import annotations

import json

from bench import data
from bench.ledger_data import HISTORY_TIPS, LedgerLoader, Txn, tip_history
from bench.registry import (
    Load,
    Request,
    latency_ratio_at_most,
    no_errors,
    rate_ratio_at_least,
    workload,
)

FANS = 32
COINS_EACH = 10_000_000


def _enroll_and_go_live(ctx) -> dict[int, int]:
    """Enrol every live creator in live-gifts and start one stream each: {user_id: stream_id}."""
    ctx.sql("""
        INSERT INTO eligibility_enrollment (creator_id, program_id, status, terms_version,
            staff_granted, decided_requirements, created_at, updated_at)
        SELECT cp.id, p.id, 'enrolled', COALESCE(t.version, 'v1'), false, '[]', now(), now()
        FROM accounts_creatorprofile cp
        JOIN accounts_user u ON u.id = cp.user_id AND u.deleted_at IS NULL
        JOIN eligibility_program p ON p.slug = 'live-gifts'
        LEFT JOIN LATERAL (SELECT version FROM eligibility_termsversion tv WHERE tv.program_id = p.id
                           ORDER BY tv.id DESC LIMIT 1) t ON true""")
    ctx.sql("""
        INSERT INTO gifts_livestream (creator_id, title, started_at, ended_at)
        SELECT cp.id, 'Bench live', now(), NULL FROM accounts_creatorprofile cp
        JOIN accounts_user u ON u.id = cp.user_id AND u.deleted_at IS NULL""")
    return dict(ctx.sql("SELECT cp.user_id, ls.id FROM gifts_livestream ls "
                        "JOIN accounts_creatorprofile cp ON cp.id = ls.creator_id"))


def _give_coins(loader: LedgerLoader, fans) -> None:
    issued = loader.platform("coins_issued", data_coin := "COIN")
    wallets = [loader.owner(f.user_id, "coins", data_coin) for f in fans]

    def transactions():
        for fan, wallet in zip(fans, wallets, strict=True):
            yield Txn(key=f"bench:coins:{fan.user_id}", kind="coin_purchase",
                      legs=((issued, -COINS_EACH), (wallet, COINS_EACH)))

    loader.write(transactions)


@workload(
    "gift-burst",
    "P1/P2: 32 fans POST /api/v1/gift-sends/ — to one live creator (hot) and spread over 1,000",
    baselines=["B-insert"],
    checks=[rate_ratio_at_least("hot", "B-insert", 0.5),
            latency_ratio_at_most("hot", "B-insert", 3, percentile=99),
            rate_ratio_at_least("hot", "spread", 0.8),
            no_errors("hot"), no_errors("spread")],
    scale=1_000, smoke_scale=20,
    ledger_check=True,
)
def gift_burst(ctx):
    creators = data.load_creators(ctx, ctx.scale, deleted_share=0)
    fans = data.load_fans(ctx, FANS, first_user_id=ctx.scale + 1)
    streams = _enroll_and_go_live(ctx)
    loader = LedgerLoader(ctx)
    tip_history(loader, creators.user_ids_by_rank, ctx.rng)
    _give_coins(loader, fans)
    rose = ctx.sql("SELECT id FROM gifts_gift WHERE name = 'Rose'")[0][0]
    ctx.sql("ANALYZE")

    def request(i: int, rank: int) -> Request:
        handle, user_id = creators.handle(rank), creators.user_ids_by_rank[rank - 1]
        body = json.dumps({"creator": handle, "gift": rose, "quantity": 1, "live_stream": streams[user_id]})
        return Request("POST", "/api/v1/gift-sends/", token=fans[i % FANS].token, body=body)

    ranks = len(creators.handles_by_rank)
    ctx.notes.append(f"Data: {ranks:,} creators enrolled in live-gifts, each live; {FANS} fans with "
                     f"{COINS_EACH:,} coins each; a Rose (1 coin → 1 diamond) per request. The ledger "
                     f"holds {HISTORY_TIPS:,} earlier tips to these creators (bench/ledger_data.tip_history).")
    hot = Load([request(i, 1) for i in range(ctx.plan_size)], unique_keys=True)
    spread = Load([request(i, 1 + ctx.rng.randrange(ranks)) for i in range(ctx.plan_size)],
                  unique_keys=True)
    return {"hot": hot, "spread": spread}
