"""Payouts' staff-editable numbers (PRODUCT.md §5). Money in minor units of the withdrawal's currency."""

from creatornext.core import config

MIN_WITHDRAWAL = config.register("payouts.min_withdrawal", 1000,
                                 "Smallest withdrawal (minor units).", minimum=1)
DAILY_MAX = config.register("payouts.daily_max", 100_000,
                            "Most a creator may withdraw per UTC day (minor units).", minimum=0)
COOLING_OFF_DAYS = config.register(
    "payouts.cooling_off_days", 5,
    "Days after a payout account change during which no withdrawal is accepted (account-takeover "
    "protection).", minimum=0, maximum=60)
RATE_PER_SECOND = config.register(
    "payouts.rate_per_second", 25,
    "Transfer calls per second to the provider, shared by every worker (Stripe allows 25 writes/s "
    "per endpoint by default).", minimum=1, maximum=1000)
CLAIM_LEASE_SECONDS = config.register(
    "payouts.claim_lease_seconds", 300,
    "How long a worker owns a claimed payout item; after that the sweeper resumes it (same key).",
    minimum=1, maximum=86_400)
MAX_INLINE_ATTEMPTS = config.register(
    "payouts.max_inline_attempts", 8,
    "Attempts per item within one run for 429s and timeouts before it waits for the sweeper.",
    minimum=1, maximum=20)
KEY_SAFE_HOURS = config.register(
    "payouts.key_safe_hours", 23,
    "After this many hours since an item's first call its provider idempotency key may have expired "
    "(Stripe keeps them 24 h): the item is looked up by transfer group before any new call.",
    minimum=1, maximum=23)
PARALLEL_CALLS = config.register(
    "payouts.parallel_calls", 16,
    "Payout items a batch run pays at once (threads in the worker: they overlap provider and database "
    "waits; the shared rate above still bounds the calls).", minimum=1, maximum=64)
RUN_PARTS = config.register(
    "payouts.run_parts", 2,
    "Worker processes one payout batch is split across (each pays the items whose id modulo this is "
    "its part, with the threads above). Match the worker's --concurrency.", minimum=1, maximum=16)
