"""The creator dashboard: balances, the earnings chart from ledger kinds, programs, activity."""

import datetime

import pytest
from django.test import Client
from django.utils import timezone

from creatornext.accounts.models import CreatorProfile
from creatornext.ledger.models import AccountKind
from creatornext.ledger.services import Leg, creator_cash_take, creator_income, platform_account
from creatornext.money import Money
from creatornext.site import selectors
from tests.support.ledger import give_diamonds
from tests.support.world import make_user

pytestmark = pytest.mark.django_db


def _income(user, key, kind, cents):
    inflow = platform_account(AccountKind.PROVIDER_INFLOW, "USD")
    return creator_income(key=key, kind=kind, owner=user, amount=Money(cents, "USD"),
                          source_legs=[Leg(inflow, -cents)])


@pytest.fixture
def creator():
    user = make_user("maya")
    CreatorProfile.objects.create(user=user, handle="maya", country="US", display_name="Maya")
    return user


def test_earnings_by_day_groups_ledger_kinds_per_day_in_one_query(creator, django_assert_num_queries):
    _income(creator, "t1", "tip", 950)
    _income(creator, "t2", "tip", 50)
    _income(creator, "r1", "redemption", 1200)
    _income(creator, "m1", "escrow_release", 30_000)
    other = make_user("other")
    _income(other, "t3", "tip", 999)  # someone else's income never shows
    with django_assert_num_queries(1):
        days = selectors.earnings_by_day(creator, days=30)
    assert len(days) == 30 and days[-1].day == timezone.now().date()
    assert days[-1].amounts == {"tips": 1000, "gifts": 1200, "marketplace": 30_000}
    assert sum(d.total for d in days) == 32_200
    # Seen from 50 days on, today's income is out of the 30-day window and inside the 90-day one.
    later = timezone.now().date() + datetime.timedelta(days=50)
    assert sum(d.total for d in selectors.earnings_by_day(creator, days=30, today=later)) == 0
    assert sum(d.total for d in selectors.earnings_by_day(creator, days=90, today=later)) == 32_200


def test_dashboard_shows_balances_diamonds_chart_programs_and_activity(creator):
    from eligibility.defaults import seed_defaults

    seed_defaults()
    _income(creator, "t1", "tip", 950)
    creator_cash_take(key="refund", kind="tip_refund", owner=creator, amount=Money(2000, "USD"),
                      sink_legs=[Leg(platform_account(AccountKind.PROVIDER_INFLOW, "USD"), 2000)])
    give_diamonds(creator, 2001)
    client = Client()
    client.force_login(creator)
    page = client.get("/dashboard/?days=90")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Earnings, last 90 days" in html
    assert 'data-balance="debt" class="debt">$10.50<' in html  # 20.00 refunded − 9.50 netted
    assert '<p class="big" id="dashboard-diamonds">2001</p>' in html
    assert 'class="bar bar-tips"' in html and "?format=csv" in html
    assert 'data-program="' in html and "tip refund" in html
    assert "<script>" not in html and " onclick=" not in html


def test_dashboard_is_for_creators_only():
    client = Client()
    assert client.get("/dashboard/").status_code == 302  # log in first
    client.force_login(make_user("fan"))
    assert client.get("/dashboard/").status_code == 403


def test_an_unknown_period_falls_back_to_30_days(creator):
    client = Client()
    client.force_login(creator)
    assert "Earnings, last 30 days" in client.get("/dashboard/?days=7").content.decode()
