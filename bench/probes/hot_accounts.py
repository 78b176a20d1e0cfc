"""Hot-account probe (decision 0005): gift-shaped postings per second through the ledger service.

Compares one creator receiving every gift (hot) with gifts spread over 1,000 creators, and with a
variant where every posting also locks one shared cached row (what caching platform balances
would cost). Run against a throwaway database that has been migrated:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/cn_hot_probe CREATORNEXT_DEV=true \
        .venv/bin/python bench/probes/hot_accounts.py
"""

from __future__ import annotations

import multiprocessing as mp
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "creatornext.settings")

import django

django.setup()

from django.db import connection  # noqa: E402

from creatornext.accounts.models import User  # noqa: E402
from creatornext.ledger.models import COIN, DIAMOND, AccountKind  # noqa: E402
from creatornext.ledger.services import Leg, Posting, account_for, platform_account, post  # noqa: E402

PROCS = int(os.environ.get("PROCS", "8"))
SECONDS = float(os.environ.get("SECONDS", "6"))


def make_users(n: int) -> list[int]:
    stamp = time.time_ns()
    return [u.pk for u in User.objects.bulk_create([User(username=f"probe{stamp}_{i}") for i in range(n)])]


def fund(fan_ids: list[int]) -> None:
    issued = platform_account(AccountKind.COINS_ISSUED, COIN)
    for pk in fan_ids:
        wallet = account_for(User(pk=pk), AccountKind.COINS, COIN)
        post(Posting(key=f"probe-seed:{pk}", kind="seed", legs=[Leg(issued, -10**9), Leg(wallet, 10**9)]))


def worker(idx: int, creators: list[int], fan: int, shared: int, mode: str, out: mp.Queue) -> None:
    connection.close()  # a fresh connection per process
    rnd = random.Random(idx)
    coins = account_for(User(pk=fan), AccountKind.COINS, COIN)
    spent = platform_account(AccountKind.COINS_SPENT, COIN)
    issued = platform_account(AccountKind.DIAMONDS_ISSUED, DIAMOND)
    diamonds = {c: account_for(User(pk=c), AccountKind.DIAMONDS, DIAMOND) for c in creators}
    shared_row = account_for(User(pk=shared), AccountKind.DIAMONDS, DIAMOND)
    count, end = 0, time.monotonic() + SECONDS
    while time.monotonic() < end:
        creator = rnd.choice(creators)
        legs = [Leg(coins, -1), Leg(spent, 1), Leg(issued, -1), Leg(diamonds[creator], 1)]
        if mode == "shared-cached":
            legs = [Leg(coins, -1), Leg(spent, 1), Leg(issued, -2), Leg(diamonds[creator], 1),
                    Leg(shared_row, 1)]
        post(Posting(key=f"probe:{mode}:{idx}:{count}:{time.time_ns()}", kind="gift", legs=legs))
        count += 1
    out.put(count)


def run(label: str, creators: list[int], fans: list[int], shared: int, mode: str) -> float:
    out: mp.Queue = mp.Queue()
    procs = [mp.Process(target=worker, args=(i, creators, fans[i], shared, mode, out)) for i in range(PROCS)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    rate = sum(out.get() for _ in procs) / SECONDS
    print(f"{label:48s} {rate:8.0f} postings/s")
    return rate


def main() -> None:
    fans, one, many, shared = make_users(PROCS), make_users(1), make_users(1000), make_users(1)[0]
    fund(fans)
    connection.close()
    hot = run("hot: one creator", one, fans, shared, "plain")
    spread = run("spread: 1,000 creators", many, fans, shared, "plain")
    cached = run("spread + one shared cached row per posting", many, fans, shared, "shared-cached")
    print(f"hot / spread = {hot / spread:.2f}; shared-cached / spread = {cached / spread:.2f}")


if __name__ == "__main__":
    main()
