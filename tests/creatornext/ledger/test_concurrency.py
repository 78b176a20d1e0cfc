"""Real concurrency against PostgreSQL: threads with their own connections, released together."""

from __future__ import annotations

import pytest

from creatornext.ledger.models import DIAMOND, AccountKind, Transaction
from creatornext.ledger.services import InsufficientFunds, Leg, Posting, platform_account, post
from tests.support.concurrency import run_together
from tests.support.ledger import give_diamonds
from tests.support.world import make_user

pytestmark = pytest.mark.django_db(transaction=True)


def test_50_debits_totalling_3x_the_balance_exactly_the_affordable_ones_succeed():
    creator = make_user("creator")
    wallet = give_diamonds(creator, 1500)  # 50 debits of 90 = 4,500 = 3 × 1,500
    sink = platform_account(AccountKind.DIAMONDS_REDEEMED, DIAMOND)

    def debit(i):
        return post(Posting(key=f"redeem:{i}", kind="redemption", legs=[Leg(wallet, -90), Leg(sink, 90)]))

    results = run_together(50, debit)
    ok = [r for r in results if isinstance(r, Transaction)]
    refused = [r for r in results if isinstance(r, InsufficientFunds)]
    assert len(ok) == 1500 // 90 == 16
    assert len(refused) == 34
    assert len(ok) + len(refused) == 50
    wallet.refresh_from_db()
    assert wallet.balance == 1500 - 16 * 90 == 60


def test_20_postings_with_one_key_make_one_transaction():
    creator = make_user("creator")
    wallet = give_diamonds(creator, 100)
    sink = platform_account(AccountKind.DIAMONDS_REDEEMED, DIAMOND)

    def same(i):
        return post(Posting(key="redeem:same", kind="redemption", legs=[Leg(wallet, -10), Leg(sink, 10)]))

    results = run_together(20, same)
    assert all(isinstance(r, Transaction) for r in results), results
    assert len({r.pk for r in results}) == 1
    assert Transaction.objects.filter(key="redeem:same").count() == 1
    wallet.refresh_from_db()
    assert wallet.balance == 90
