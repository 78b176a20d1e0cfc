"""Tips through the API: the happy path with fees, every refusal (nothing changes), the caps."""

from __future__ import annotations

import datetime

import pytest

from creatornext.accounts.models import Block
from creatornext.core import config
from creatornext.ledger import selectors as ledger
from creatornext.ledger.models import Transaction
from eligibility import services as eligibility
from tests.eligibility.helpers import make_creator
from tests.support.world import api_client, make_user
from tips.config import DAILY_COUNT, DAILY_TOTAL
from tips.models import Tip

pytestmark = pytest.mark.django_db


def test_a_tip_is_paid_and_the_creator_is_credited_the_net_once(tip, fan, creator):
    response = tip(fan, cents=1000, message="<b>love</b> your pots", anonymous=False)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "succeeded"
    assert body["amount"] == {"amount": 1000, "currency": "USD"}
    assert body["fee"] == {"amount": 59, "currency": "USD"}  # the provider's fee: 2.9% + 30¢
    assert body["net"] == {"amount": 941, "currency": "USD"}
    assert body["message"] == "<b>love</b> your pots"  # stored as typed; escaped when shown
    assert body["fan"] == "fan" and body["creator"] == "maya.makes"
    cash = ledger.wallet(creator.user)["cash"][0]
    assert (cash["pending"], cash["available"]) == (941, 0)
    assert Transaction.objects.filter(key=f"tip:{body['id']}:captured").count() == 1


def test_the_creator_sees_anonymous_tips_as_anonymous(tip, fan, creator):
    tip_id = tip(fan, anonymous=True).json()["id"]
    assert api_client(creator.user).get(f"/api/v1/tips/{tip_id}/").json()["fan"] == "Anonymous"
    assert api_client(fan).get(f"/api/v1/tips/{tip_id}/").json()["fan"] == "fan"
    assert api_client(creator.user).get("/api/v1/tips/?direction=received").json()["results"][0]["fan"] \
        == "Anonymous"
    # Anonymous tips never appear among the public supporters
    assert api_client(None).get("/api/v1/creators/maya.makes/supporters/").json()["results"] == []
    tip(fan, cents=500)
    supporters = api_client(None).get("/api/v1/creators/maya.makes/supporters/").json()["results"]
    assert [(s["fan"], s["amount"]["amount"]) for s in supporters] == [("fan", 500)]


def test_another_users_tip_is_404(tip, fan, creator):
    tip_id = tip(fan).json()["id"]
    assert api_client(make_user("stranger")).get(f"/api/v1/tips/{tip_id}/").status_code == 404


def test_a_declined_card_is_201_failed_and_credits_nothing(tip, fan, creator, fake_stripe):
    from creatornext.payments import provider

    declined = provider.client().v1.payment_methods.create({
        "type": "card", "card": {"number": "4000000000000341", "exp_month": 12, "exp_year": 2030,
                                 "cvc": "123"}})["id"]
    response = tip(fan, payment_method=declined)
    assert response.status_code == 201
    assert (response.json()["status"], response.json()["failure_code"]) == ("failed", "card_declined")
    assert ledger.wallet(creator.user)["cash"] == []


@pytest.mark.parametrize(("amount", "field"), [
    ({"amount": 99, "currency": "USD"}, "amount"),
    ({"amount": 10_001, "currency": "USD"}, "amount"),
    ({"amount": 0, "currency": "USD"}, "amount"),
    ({"amount": -500, "currency": "USD"}, "amount"),
    ({"amount": 10.5, "currency": "USD"}, "amount"),
    ({"amount": "1000", "currency": "USD"}, "amount"),
    ({"amount": 2**63, "currency": "USD"}, "amount"),
    ({"amount": 1000, "currency": "EUR"}, "amount"),
    ({"amount": 1000, "currency": "XXX"}, "amount"),
    ({"amount": 1000}, "amount"),
])
def test_bad_amounts_are_400_and_change_nothing(fake_stripe, fan, creator, nothing_changed, amount, field):
    body = {"creator": "maya.makes", "amount": amount, "payment_method": "pm_card_visa"}
    with nothing_changed():
        response = api_client(fan).post("/api/v1/tips/", body, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]


def test_a_message_over_150_characters_is_400(fake_stripe, fan, creator, nothing_changed):
    body = {"creator": "maya.makes", "amount": {"amount": 500, "currency": "USD"},
            "payment_method": "pm_card_visa", "message": "x" * 151}
    with nothing_changed():
        response = api_client(fan).post("/api/v1/tips/", body, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    assert response.status_code == 400 and "message" in response.json()["error"]["fields"]


def refused(tip, user, nothing_changed, **kwargs):
    with nothing_changed():
        response = tip(user, **kwargs)
    return response.status_code, response.json()["error"]["code"]


def test_a_minor_is_403_age_restricted(tip, creator, nothing_changed):
    minor = make_user("teen", dob=datetime.date.today() - datetime.timedelta(days=365 * 17))
    api_client(minor)
    assert refused(tip, minor, nothing_changed) == (403, "age_restricted")


def test_a_creator_not_enrolled_in_tips_is_409_not_eligible(tip, fan, nothing_changed):
    make_creator("small")  # meets the rules but never opted in
    assert refused(tip, fan, nothing_changed, creator_handle="small") == (409, "not_eligible")


def test_a_paused_creator_accepts_no_tips(tip, fan, creator, nothing_changed):
    staff = make_user("boss", staff=True)
    eligibility.metrics_update(creator=creator, actor=staff, source="test", followers=50_000,
                               views_30d=creator.views_30d, posts_30d=creator.posts_30d,
                               account_created_at=creator.account_created_at,
                               account_type=creator.account_type, standing=creator.standing,
                               fraud_flag=creator.fraud_flag,
                               last_public_post_at=creator.last_public_post_at)
    assert refused(tip, fan, nothing_changed) == (409, "not_eligible")
    # The fan is not told why (the creator's follower count, standing or moderation are theirs).
    with nothing_changed():
        error = tip(fan).json()["error"]
    assert (error["message"], error["fields"]) == (f"@{creator.handle} does not take part in Tips.",
                                                   {"creator": [f"@{creator.handle} is not enrolled in Tips."]})


def test_a_blocked_fan_is_403(tip, fan, creator, nothing_changed):
    Block.objects.create(creator=creator, fan=fan)
    assert refused(tip, fan, nothing_changed) == (403, "blocked")


def test_self_tipping_is_400(tip, creator, nothing_changed):
    api_client(creator.user)
    assert refused(tip, creator.user, nothing_changed) == (400, "invalid")


def test_unknown_creator_is_400(tip, fan, nothing_changed):
    assert refused(tip, fan, nothing_changed, creator_handle="nobody") == (400, "invalid")


def test_daily_total_cap_holds(tip, fan, creator, nothing_changed):
    for _ in range(5):
        assert tip(fan, cents=10_000).status_code == 201  # 500.00 in 24 hours
    assert refused(tip, fan, nothing_changed, cents=100) == (409, "limit_exceeded")


def test_daily_count_cap_holds_and_failed_payments_do_not_count(tip, fan, creator, nothing_changed):
    staff = make_user("boss", staff=True)
    config.set_value(definition=DAILY_COUNT, value=3, actor=staff)
    for _ in range(3):
        assert tip(fan, cents=100).status_code == 201
    assert refused(tip, fan, nothing_changed, cents=100) == (409, "limit_exceeded")
    # Yesterday's tips no longer count (rolling 24 hours)
    day_ago = datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=24, seconds=1)
    Tip.objects.update(created_at=day_ago)
    assert tip(fan, cents=100).status_code == 201


def test_caps_are_the_ones_recorded_on_each_tip(tip, fan, creator):
    staff = make_user("boss", staff=True)
    first = Tip.objects.get(pk=tip(fan, cents=100).json()["id"])
    config.set_value(definition=DAILY_TOTAL, value=20_000, actor=staff)
    second = Tip.objects.get(pk=tip(fan, cents=100).json()["id"])
    assert (first.limits["daily_total"], second.limits["daily_total"]) == (50_000, 20_000)


def test_missing_idempotency_key_is_400(fake_stripe, fan, creator, nothing_changed):
    body = {"creator": "maya.makes", "amount": {"amount": 500, "currency": "USD"},
            "payment_method": "pm_card_visa"}
    with nothing_changed():
        response = api_client(fan).post("/api/v1/tips/", body, format="json")
    assert response.json()["error"]["code"] == "idempotency_key_required"


def test_the_daily_digest_emails_each_creator_once(tip, fan, creator, django_capture_on_commit_callbacks):
    from django.core import mail
    from django.utils import timezone

    from tips.services import tips_daily_digest

    tip(fan, cents=1000)
    tip(fan, cents=500)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert tips_daily_digest(day=timezone.now().date()) == 1
        assert tips_daily_digest(day=timezone.now().date()) == 0  # idempotent
    assert len(mail.outbox) == 1
    body = mail.outbox[0].body
    assert mail.outbox[0].subject.startswith("You received 2 tips on")
    assert "$15.00" in body and "$13.96" in body  # fees 0.59 + 0.45 (2.9% + 30¢ each, half up)
