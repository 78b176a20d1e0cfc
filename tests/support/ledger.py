"""Ledger helpers for tests: fund accounts the way the product does (through postings)."""

from __future__ import annotations

import itertools

from creatornext.ledger.models import COIN, DIAMOND, AccountKind
from creatornext.ledger.services import Leg, Posting, account_for, platform_account, post

_seq = itertools.count(1)


def give_coins(user, coins: int):
    wallet = account_for(user, AccountKind.COINS, COIN)
    post(Posting(key=f"test:coins:{next(_seq)}:{user.pk}", kind="test_coins",
                 legs=[Leg(platform_account(AccountKind.COINS_ISSUED, COIN), -coins), Leg(wallet, coins)]))
    return wallet


def give_diamonds(user, diamonds: int):
    wallet = account_for(user, AccountKind.DIAMONDS, DIAMOND)
    post(Posting(key=f"test:diamonds:{next(_seq)}:{user.pk}", kind="test_diamonds",
                 legs=[Leg(platform_account(AccountKind.DIAMONDS_ISSUED, DIAMOND), -diamonds),
                       Leg(wallet, diamonds)]))
    return wallet


def give_available_cash(user, amount: int, currency: str = "USD"):
    available = account_for(user, AccountKind.AVAILABLE, currency)
    post(Posting(key=f"test:cash:{next(_seq)}:{user.pk}", kind="test_cash",
                 legs=[Leg(platform_account(AccountKind.PROVIDER_INFLOW, currency), -amount),
                       Leg(available, amount)]))
    return available
