import csv
import io

import pytest

from creatornext.ledger.models import COIN, AccountKind
from creatornext.ledger.services import (
    Leg,
    Posting,
    account_for,
    creator_cash_take,
    creator_income,
    platform_account,
    post,
)
from creatornext.money import Money
from tests.support.ledger import give_coins, give_diamonds
from tests.support.world import api_client, make_user

pytestmark = pytest.mark.django_db


def test_wallet_shows_coins_diamonds_and_cash_buckets_in_minor_units():
    user = make_user("maya")
    give_coins(user, 70)
    give_diamonds(user, 2001)
    inflow = platform_account(AccountKind.PROVIDER_INFLOW, "USD")
    creator_income(key="t1", kind="tip", owner=user, amount=Money(950, "USD"),
                   source_legs=[Leg(inflow, -950)])
    body = api_client(user).get("/api/v1/wallet/").json()
    assert body == {"coins": 70, "diamonds": 2001, "cash": [
        {"currency": "USD", "pending": 950, "available": 0, "in_payout": 0, "debt": 0}]}


def test_debt_is_shown_as_the_positive_amount_owed():
    user = make_user("maya")
    inflow = platform_account(AccountKind.PROVIDER_INFLOW, "USD")
    creator_cash_take(key="r1", kind="tip_refund", owner=user, amount=Money(250, "USD"),
                      sink_legs=[Leg(inflow, 250)])
    assert api_client(user).get("/api/v1/wallet/").json()["cash"][0]["debt"] == 250


def test_an_empty_wallet():
    assert api_client(make_user("new")).get("/api/v1/wallet/").json() == {
        "coins": 0, "diamonds": 0, "cash": []}


def test_statement_pages_newest_first_with_a_cursor_and_only_my_lines():
    me, other = make_user("me"), make_user("other")
    for _ in range(5):
        give_coins(me, 10)
    give_coins(other, 99)
    client = api_client(me)
    first = client.get("/api/v1/wallet/statement/?page_size=2").json()
    assert [line["balance_after"] for line in first["results"]] == [50, 40]
    assert first["previous"] is None
    second = client.get(first["next"]).json()
    assert [line["balance_after"] for line in second["results"]] == [30, 20]
    third = client.get(second["next"]).json()
    assert [line["balance_after"] for line in third["results"]] == [10]
    assert third["next"] is None
    line = first["results"][0]
    assert set(line) == {"id", "created_at", "kind", "ref", "memo", "account", "asset", "amount",
                         "balance_after"}
    assert (line["kind"], line["account"], line["asset"]) == ("test_coins", "coins", "COIN")
    assert line["amount"] == 10


def test_statement_as_csv():
    me = make_user("me")
    give_coins(me, 10)
    give_coins(me, 5)
    response = api_client(me).get("/api/v1/wallet/statement/?format=csv&page_size=1")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [(r["amount"], r["balance_after"]) for r in rows] == [("5", "15")]
    assert 'rel="next"' in response["Link"]


@pytest.mark.parametrize("memo", ["=HYPERLINK(\"http://evil.example\",\"x\")", "+1+2", "-2+3", "@SUM(A1)",
                                  "\tcmd", "\r=1"])
def test_statement_csv_shows_a_memo_a_spreadsheet_would_run_as_text(memo):
    """A memo can hold another user's words (a brand's campaign title): never a formula in the file."""
    me = make_user("me")
    wallet = account_for(me, AccountKind.COINS, COIN)
    post(Posting(key="t:memo", kind="test_coins", memo=memo,
                 legs=[Leg(platform_account(AccountKind.COINS_ISSUED, COIN), -7), Leg(wallet, 7)]))
    response = api_client(me).get("/api/v1/wallet/statement/?format=csv")
    row = next(csv.DictReader(io.StringIO(response.content.decode())))
    assert (row["memo"], row["amount"]) == ("'" + memo, "7")  # the text kept, behind an apostrophe
    assert api_client(me).get("/api/v1/wallet/statement/").json()["results"][0]["memo"] == memo  # JSON as is


@pytest.mark.parametrize("query", ["format=", "format=xml", "cursor=", "cursor=garbage"])
def test_bad_statement_parameters_are_400_in_json(query):
    response = api_client(make_user("me")).get(f"/api/v1/wallet/statement/?{query}")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"]["code"] == "invalid"
