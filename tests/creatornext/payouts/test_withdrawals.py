"""Withdrawal rules at their boundaries (each refusal changes nothing), R15 for the daily cap,
debt netted first, the cooling-off, and payout accounts kept in sync from account.updated."""

from __future__ import annotations

import datetime

import pytest
from django.test import Client
from django.utils import timezone

from creatornext.core import config
from creatornext.ledger import selectors as ledger
from creatornext.ledger.models import AccountKind
from creatornext.ledger.services import Leg, Posting, account_for, platform_account, post
from creatornext.payouts import services
from creatornext.payouts.config import DAILY_MAX
from creatornext.payouts.models import PayoutAccount, Withdrawal
from tests.support import connect
from tests.support.concurrency import run_together
from tests.support.ledger import give_available_cash
from tests.support.stripe import deliver, event
from tests.support.world import api_client, make_user

SECRET = "whsec_creatornext_local"


def withdraw(user, cents, key=None, currency="USD"):
    return api_client(user).post("/api/v1/withdrawals/", {"amount": {"amount": cents, "currency": currency}},
                                 format="json", HTTP_IDEMPOTENCY_KEY=key or f"w-{timezone.now().timestamp()}")


def cash(user):
    return ledger.wallet(user)["cash"][0]


def test_a_withdrawal_moves_available_to_in_payout(funded):
    response = withdraw(funded, 1000, key="k1")
    assert response.status_code == 201, response.content
    assert response.json()["status"] == "requested"
    assert (cash(funded)["available"], cash(funded)["in_payout"]) == (499_000, 1000)
    # The same key and body replays; nothing moves again
    again = withdraw(funded, 1000, key="k1")
    assert again.status_code == 201 and again.json() == response.json()
    assert Withdrawal.objects.count() == 1


@pytest.mark.parametrize("cents", [999, 0, -1000])
def test_below_the_minimum_is_refused_and_changes_nothing(funded, nothing_changed, cents):
    with nothing_changed():
        response = withdraw(funded, cents)
    assert response.status_code == 400, response.content


def test_exactly_the_minimum_and_exactly_the_daily_maximum_are_accepted(funded):
    assert withdraw(funded, 1000).status_code == 201
    assert withdraw(funded, 99_000).status_code == 201
    assert Withdrawal.objects.filter(user=funded).count() == 2


def test_one_cent_over_the_daily_maximum_is_refused_and_changes_nothing(funded, nothing_changed):
    assert withdraw(funded, 60_000).status_code == 201
    with nothing_changed():
        response = withdraw(funded, 40_001)
    assert response.status_code == 409 and response.json()["error"]["code"] == "limit_exceeded"
    assert withdraw(funded, 40_000).status_code == 201


def test_more_than_available_is_refused_and_changes_nothing(creator, nothing_changed):
    give_available_cash(creator, 2500)
    api_client(creator)
    with nothing_changed():
        response = withdraw(creator, 2501)
    assert response.status_code == 409 and response.json()["error"]["code"] == "insufficient_funds"
    assert withdraw(creator, 2500).status_code == 201
    assert cash(creator)["available"] == 0


def _debt(user, cents):
    post(Posting(key=f"test-debt:{user.pk}:{cents}", kind="test_debt", legs=[
        Leg(account_for(user, AccountKind.DEBT, "USD"), -cents),
        Leg(platform_account(AccountKind.LOSSES, "USD"), cents)]))


def test_debt_is_repaid_first_and_counts_against_what_can_be_withdrawn(creator, nothing_changed):
    give_available_cash(creator, 5000)
    _debt(creator, 1500)
    api_client(creator)
    with nothing_changed():
        refused = withdraw(creator, 3501)
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "insufficient_funds"
    response = withdraw(creator, 3500)
    assert response.status_code == 201
    assert response.json()["netted_debt"] == {"amount": 1500, "currency": "USD"}
    assert (cash(creator)["available"], cash(creator)["debt"], cash(creator)["in_payout"]) == (0, 0, 3500)


def test_no_withdrawal_during_the_cooling_off_and_without_payouts_enabled(funded, nothing_changed):
    account = PayoutAccount.objects.get(user=funded)
    account.changed_at = timezone.now() - datetime.timedelta(days=5) + datetime.timedelta(seconds=30)
    account.save()
    with nothing_changed():
        response = withdraw(funded, 1000)
    assert response.status_code == 409 and response.json()["error"]["code"] == "invalid_state"
    account.changed_at = timezone.now() - datetime.timedelta(days=5, seconds=1)
    account.save()
    assert withdraw(funded, 1000).status_code == 201
    account.payouts_enabled = False
    account.save()
    with nothing_changed():
        assert withdraw(funded, 1000).status_code == 409


def test_fans_may_not_withdraw(db, nothing_changed):
    fan = make_user("fan")
    api_client(fan)
    with nothing_changed():
        assert withdraw(fan, 1000).status_code == 403


@pytest.mark.django_db(transaction=True)
def test_r15_concurrent_withdrawals_straddling_the_daily_cap_stop_exactly_at_it(stand_in):
    from eligibility.defaults import seed_defaults
    from tests.eligibility.helpers import make_creator

    seed_defaults()
    user = make_creator("maya.makes").user
    connect.enabled_account(user)
    give_available_cash(user, 500_000)
    api_client(user)
    # 16 × 7,000 = 112,000 asked; the cap is 100,000: exactly 14 fit.
    responses = run_together(16, lambda i: withdraw(user, 7000, key=f"r15-{i}"))
    codes = sorted(r.status_code for r in responses)
    assert codes == [201] * 14 + [409] * 2, codes
    assert {r.json()["error"]["code"] for r in responses if r.status_code == 409} == {"limit_exceeded"}
    assert Withdrawal.objects.filter(user=user).count() == 14
    assert cash(user)["in_payout"] == 98_000 and cash(user)["available"] == 402_000
    assert config.get(DAILY_MAX) == 100_000


def test_the_payout_account_api_onboarding_and_account_updated_event(creator, client, fake_stripe,
                                                                    django_capture_on_commit_callbacks):
    fresh = make_user("newbie")
    from creatornext.accounts.models import CreatorProfile

    CreatorProfile.objects.create(user=fresh, handle="newbie", country="US")
    assert api_client(fresh).get("/api/v1/payout-account/").json()["status"] == "not_connected"
    started = api_client(fresh).post("/api/v1/payout-account/", {}, format="json")
    assert started.status_code == 201
    url = started.json()["onboarding_url"]
    # Opening our link creates the Connect account and sends the browser to the provider's page
    hop = client.get(url.split("127.0.0.1:8000")[-1] if "127.0.0.1:8000" in url else url)
    assert hop.status_code == 302 and "/_config/connect/onboard/acct_" in hop["Location"]
    account = PayoutAccount.objects.get(user=fresh)
    assert account.provider_id and not account.payouts_enabled
    # Stripe says onboarding is complete: payouts enabled, and the cooling-off starts now
    before = account.changed_at
    evt = event("account.updated", {"id": account.provider_id, "object": "account", "payouts_enabled": True,
                                    "details_submitted": True,
                                    "external_accounts": {"data": [{"id": "ba_1"}]}})
    with django_capture_on_commit_callbacks(execute=True):
        assert deliver(Client(), evt, SECRET).status_code == 200
    account.refresh_from_db()
    assert account.payouts_enabled and account.changed_at > before
    status = api_client(fresh).get("/api/v1/payout-account/").json()
    assert status["status"] == "enabled" and status["payouts_enabled"] is True
    # An older event delivered late does not undo it
    old = event("account.updated", {"id": account.provider_id, "object": "account", "payouts_enabled": False})
    old["created"] -= 3600
    with django_capture_on_commit_callbacks(execute=True):
        deliver(Client(), old, SECRET)
    account.refresh_from_db()
    assert account.payouts_enabled
    patched = api_client(fresh).patch("/api/v1/payout-account/", {"auto_withdraw": True}, format="json")
    assert patched.status_code == 200 and patched.json()["auto_withdraw"] is True


def test_automatic_weekly_withdrawal_once_per_week_within_the_limits(funded):
    account = PayoutAccount.objects.get(user=funded)
    services.payout_account_set_auto(account=account, auto_withdraw=True, actor=funded)
    assert services.withdrawals_auto() == 1
    assert services.withdrawals_auto() == 0
    auto = Withdrawal.objects.get(user=funded)
    assert auto.amount == 100_000 and auto.auto_week
