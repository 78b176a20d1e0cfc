"""P5 wallet-statement: a creator with 1,000,000 ledger entries against one with 10, same run.

``GET /api/v1/wallet/`` (cached balances) and ``GET /api/v1/wallet/statement/`` (the first page,
newest first, cursor-paginated) must cost the same whatever the length of the history (decision
0004): the target is latency ≤ 1.2 × the small creator's, for each endpoint. Each load is one
creator's own requests (a wallet is only ever read by its owner, so one token per load).

History, loaded with COPY and consistent for ``ledger_check`` (``bench/ledger_data.py``): blocks
of 10 owner entries — 2 tips (provider inflow → processor fees + creator pending), 2 gifts'
diamonds (diamonds issued → creator diamonds) and 3 hold releases (pending → available, two owner
entries each) — repeated 100,000 times for the big creator, once for the small one, and 100 times
for each of 1,000 other creators, so the big creator's rows sit among other owners' as they would.
"""

from __future__ import annotations

import random
import secrets

from bench import data
from bench.database import copy_rows
from bench.ledger_data import DIAMOND, LedgerLoader, Txn, metadata
from bench.registry import Load, Request, latency_ratio_at_most, no_errors, rate_ratio_reported, workload

NAME = "wallet-statement"
CURRENCY = "USD"
PER_BLOCK = 10  # owner entries per block
OTHERS, OTHER_BLOCKS = 1_000, 10  # 1,000 other creators × 100 entries
LOADS = {
    "wallet-1M": ("big", "/api/v1/wallet/"), "wallet-10": ("small", "/api/v1/wallet/"),
    "statement-1M": ("big", "/api/v1/wallet/statement/"),
    "statement-10": ("small", "/api/v1/wallet/statement/"),
    # The small creator's first page holds 10 rows, the big one's 50 (the default page size): the
    # same page size isolates what the length of the history costs from what 40 more rows cost.
    "statement-1M-10rows": ("big", "/api/v1/wallet/statement/?page_size=10"),
}


@workload(
    NAME,
    "P5: GET /api/v1/wallet/ and the first page of GET /api/v1/wallet/statement/ for a creator with "
    "1,000,000 ledger entries vs one with 10 (each request authenticated as that creator).",
    baselines=["B-json"],
    checks=[
        latency_ratio_at_most("wallet-1M", "wallet-10", 1.2, percentile=95),
        latency_ratio_at_most("statement-1M", "statement-10", 1.2, percentile=95),
        latency_ratio_at_most("wallet-1M", "wallet-10", 1.2, percentile=50),
        latency_ratio_at_most("statement-1M", "statement-10", 1.2, percentile=50),
        latency_ratio_at_most("statement-1M-10rows", "statement-10", 1.2, percentile=95),
        latency_ratio_at_most("statement-1M-10rows", "statement-10", 1.2, percentile=50),
        rate_ratio_reported("statement-1M", "B-json"),
        no_errors(*LOADS),
    ],
    scale=1_000_000, smoke_scale=2_000,  # the big creator's entries
    ledger_check=True,
)
def wallet_statement(ctx) -> dict[str, Load]:
    others = OTHERS if not ctx.smoke else 20
    creators = data.load_creators(ctx, 2 + others, deleted_share=0)
    big, small, *rest = creators.user_ids_by_rank
    tokens = {"big": secrets.token_hex(20), "small": secrets.token_hex(20)}
    copy_rows(ctx.db, "authtoken_token", ("key", "created", "user_id"),
              [(tokens["big"], data.NOW, big), (tokens["small"], data.NOW, small)])

    ledger = LedgerLoader(ctx)
    inflow = ledger.platform("provider_inflow", CURRENCY)
    fees = ledger.platform("processor_fees", CURRENCY)
    issued = ledger.platform("diamonds_issued", DIAMOND)
    owners = [(big, ctx.scale // PER_BLOCK), (small, 1), *((c, OTHER_BLOCKS) for c in rest)]
    accounts = {owner: (ledger.owner(owner, "pending", CURRENCY),
                        ledger.owner(owner, "available", CURRENCY),
                        ledger.owner(owner, "diamonds", DIAMOND)) for owner, _ in owners}

    def history():
        rng = random.Random(5)
        # Interleaved as time goes: each step, every owner with blocks left writes one block.
        left = dict(owners)
        block = 0
        while left:
            for owner in list(left):
                yield from _block(rng, owner, block, accounts[owner], inflow, fees, issued)
                left[owner] -= 1
                if not left[owner]:
                    del left[owner]
            block += 1

    transactions, entries = ledger.write(history)
    ctx.sql("ANALYZE ledger_entry")
    counts = dict(ctx.sql("SELECT owner_id, count(*) FROM ledger_entry WHERE owner_id IN (%s, %s) "
                          "GROUP BY owner_id", [big, small]))
    ctx.notes.append(
        f"Data: {transactions:,} ledger transactions, {entries:,} entries; the big creator (user "
        f"{big}) has {counts.get(big, 0):,} entries, the small one (user {small}) "
        f"{counts.get(small, 0):,}, {len(rest):,} other creators {OTHER_BLOCKS * PER_BLOCK} each.")
    for label, owner in (("1M", big), ("10", small)):
        ctx.notes.append(f"Plan of the statement page's entry query for the {label} creator: "
                         + _explain(ctx, owner))
    return {name: Load([Request("GET", path, token=tokens[who])]) for name, (who, path) in LOADS.items()}


def _block(rng, owner, block, accounts, inflow, fees, issued):
    """10 owner entries: tip, tip, gift, release ×3, gift (pending never below zero)."""
    pending, available, diamonds = accounts
    nets = []
    for n in range(2):
        gross = 100 + int(rng.random() * 9_900)
        fee = 30 + gross * 29 // 1000
        nets.append(gross - fee)
        ref = f"bench-tip:{owner}:{block}:{n}"
        yield Txn(f"{ref}:captured", "tip", ((inflow, -gross), (fees, fee), (pending, gross - fee)),
                  ref=ref, memo="Tip", metadata=metadata(netted_debt=0))
    gift = 1 + int(rng.random() * 500)
    yield Txn(f"bench-gift:{owner}:{block}:0", "gift", ((issued, -gift), (diamonds, gift)))
    total = sum(nets)
    parts = [total // 3, total // 3, total - 2 * (total // 3)]
    for n, amount in enumerate(parts):
        yield Txn(f"bench-hold:{owner}:{block}:{n}:release", "hold_release",
                  ((pending, -amount), (available, amount)), ref=f"bench-hold:{owner}:{block}:{n}")
    gift = 1 + int(rng.random() * 500)
    yield Txn(f"bench-gift:{owner}:{block}:1", "gift", ((issued, -gift), (diamonds, gift)))


def _explain(ctx, owner: int) -> str:
    """EXPLAIN ANALYZE of the query the statement page runs (as the ORM writes it)."""
    rows = ctx.sql(
        "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, TIMING OFF) "
        "SELECT e.*, t.*, a.* FROM ledger_entry e "
        "JOIN ledger_transaction t ON t.id = e.transaction_id "
        "JOIN ledger_account a ON a.id = e.account_id "
        # The owner as a one-value range, ordered (owner, -id): creatornext.ledger.selectors.statement
        "WHERE e.owner_id >= %s AND e.owner_id <= %s ORDER BY e.owner_id, e.id DESC LIMIT 51", [owner, owner])
    lines = [r[0].strip() for r in rows]
    scans = [line.removeprefix("->").strip().split(" (")[0] for line in lines if "Scan" in line]
    buffers = next((line for line in lines if line.startswith("Buffers")), "")
    timing = next((line for line in lines if line.startswith("Execution Time")), "")
    return f"{'; '.join(scans)} ({buffers or 'no buffer line'}; {timing})."
