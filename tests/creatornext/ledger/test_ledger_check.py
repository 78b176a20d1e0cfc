import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from creatornext.ledger.checks import ledger_check
from creatornext.ledger.models import AccountKind
from creatornext.ledger.services import Leg, Posting, platform_account, post
from tests.support.ledger import give_coins
from tests.support.world import make_user

pytestmark = pytest.mark.django_db


def test_a_clean_ledger_passes(capsys):
    give_coins(make_user("fan"), 10)
    assert ledger_check() == []
    call_command("ledger_check")
    assert "ledger_check: OK (1 transactions, 2 entries, 2 accounts)" in capsys.readouterr().out


@pytest.mark.ledger_corrupted
def test_a_corrupted_cached_balance_is_caught_and_named():
    wallet = give_coins(make_user("fan"), 10)
    with connection.cursor() as c:  # what a buggy "check then write" would leave behind
        c.execute("UPDATE ledger_account SET balance = 11 WHERE id = %s", [wallet.pk])
    problems = ledger_check()
    assert problems == [f"cached balances that differ from the sum of their entries: "
                        f"({wallet.pk}, 'coins', 'COIN', 11, 10)"]
    with pytest.raises(CommandError, match="1 problem"):
        call_command("ledger_check")


@pytest.mark.ledger_corrupted
def test_an_unbalanced_transaction_is_caught():
    fan = make_user("fan")
    wallet = give_coins(fan, 10)
    with connection.cursor() as c:  # entries are append-only, but inserts are possible
        c.execute("INSERT INTO ledger_entry (transaction_id, account_id, asset, owner_id, amount, "
                  "balance_after, created_at) SELECT transaction_id, account_id, asset, owner_id, 5, "
                  "NULL, created_at FROM ledger_entry WHERE account_id = %s", [wallet.pk])
    problems = ledger_check()
    assert any(p.startswith("transactions that do not sum to zero per asset") for p in problems)
    assert any(p.startswith("cached balances that differ") for p in problems)


@pytest.mark.ledger_corrupted
def test_a_posting_to_escrow_under_another_kind_is_caught():
    """A collaboration's escrow is read through the index of escrow postings only (``escrow_held``):
    a posting that moved escrow under another kind would be missed there, so the check names it."""
    escrow = platform_account(AccountKind.ESCROW, "USD")
    inflow = platform_account(AccountKind.PROVIDER_INFLOW, "USD")
    post(Posting(key="escrow-by-hand", kind="escrow_funded", ref="collaboration:1",
                 legs=[Leg(inflow, -500), Leg(escrow, 500)]))
    assert ledger_check() == []
    wrong = post(Posting(key="adjustment-into-escrow", kind="adjustment", ref="collaboration:1",
                         legs=[Leg(inflow, -300), Leg(escrow, 300)]))
    entry = wrong.entries.get(account=escrow)
    assert ledger_check() == [f"escrow entries of postings whose kind is not an escrow kind: "
                              f"({entry.pk}, 'adjustment')"]
