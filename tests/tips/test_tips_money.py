"""Exactly-once credit, the caps under concurrency (R15), refunds and disputes (with debt)."""

from __future__ import annotations

import pytest
from django.test import Client

from creatornext.core import config
from creatornext.core.approvals import SECOND_APPROVAL_ABOVE
from creatornext.core.models import StaffApproval
from creatornext.ledger import selectors as ledger
from creatornext.ledger.models import AccountKind, Transaction
from creatornext.ledger.services import Leg, Posting, account_for, platform_account, post
from creatornext.payments.config import DISPUTE_FEE
from creatornext.payments.models import Payment
from eligibility.defaults import seed_defaults
from tests.eligibility.helpers import enroll, make_creator
from tests.support.concurrency import run_together
from tests.support.stripe import charge_refunded, deliver, dispute, pi_succeeded
from tests.support.world import api_client, make_user
from tips.config import DAILY_COUNT
from tips.models import Tip

SECRET = "whsec_creatornext_local"


def body(cents=1000):
    return {"creator": "maya.makes", "amount": {"amount": cents, "currency": "USD"},
            "payment_method": "pm_card_visa"}


@pytest.fixture
def world(fake_stripe):
    seed_defaults()  # transactional tests empty the tables the seed migration filled
    creator = make_creator("maya.makes")
    enroll(creator, "creator-next", "tips")
    fan = make_user("fan")
    api_client(fan)
    return creator, fan


@pytest.mark.django_db(transaction=True)
def test_ten_concurrent_replays_of_one_key_make_one_tip_and_one_credit(world):
    creator, fan = world
    responses = run_together(10, lambda i: api_client(fan).post(
        "/api/v1/tips/", body(), format="json", HTTP_IDEMPOTENCY_KEY="same-key"))
    assert {r.status_code for r in responses} == {201}
    assert len({r.content for r in responses}) == 1
    assert Tip.objects.count() == 1 and Payment.objects.count() == 1
    assert ledger.wallet(creator.user)["cash"][0]["pending"] == 941


@pytest.mark.django_db(transaction=True)
def test_duplicate_and_reordered_webhooks_after_the_confirmation_credit_nothing_more(world):
    creator, fan = world
    tip_id = api_client(fan).post("/api/v1/tips/", body(), format="json",
                                  HTTP_IDEMPOTENCY_KEY="k").json()["id"]
    payment = Tip.objects.get(pk=tip_id).payment
    succeeded = pi_succeeded(payment)
    for _ in range(3):
        assert deliver(Client(), succeeded, SECRET).status_code == 200
    assert Transaction.objects.filter(key=f"tip:{tip_id}:captured").count() == 1
    assert ledger.wallet(creator.user)["cash"][0]["pending"] == 941


@pytest.mark.django_db(transaction=True)
def test_concurrent_tips_straddling_the_daily_total_stop_exactly_at_the_cap(world):
    creator, fan = world
    # 500.00 a day: 8 tips of 100.00 at once → exactly 5 succeed
    responses = run_together(8, lambda i: api_client(fan).post(
        "/api/v1/tips/", body(10_000), format="json", HTTP_IDEMPOTENCY_KEY=f"cap-{i}"))
    codes = sorted(r.status_code for r in responses)
    assert codes == [201] * 5 + [409] * 3
    assert {r.json()["error"]["code"] for r in responses if r.status_code == 409} == {"limit_exceeded"}
    assert Tip.objects.count() == 5
    assert ledger.wallet(creator.user)["cash"][0]["pending"] == 5 * (10_000 - 320)


@pytest.mark.django_db(transaction=True)
def test_concurrent_tips_straddling_the_daily_count_stop_exactly_at_the_cap(world):
    _, fan = world
    config.set_value(definition=DAILY_COUNT, value=4, actor=make_user("boss", staff=True))
    responses = run_together(7, lambda i: api_client(fan).post(
        "/api/v1/tips/", body(100), format="json", HTTP_IDEMPOTENCY_KEY=f"n-{i}"))
    assert sorted(r.status_code for r in responses) == [201] * 4 + [409] * 3
    assert Tip.objects.count() == 4


# --- refunds and disputes ------------------------------------------------------------------------
def cash(creator):
    return ledger.wallet(creator.user)["cash"][0]


def test_staff_refund_takes_the_net_back_and_the_kept_fee_is_a_platform_loss(paid_tip):
    tip, creator = paid_tip
    staff = make_user("boss", staff=True)
    response = api_client(staff).post(f"/api/v1/tips/{tip.pk}/refund/", {"reason": "fan asked"},
                                      format="json", HTTP_IDEMPOTENCY_KEY="r1")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "refunded"
    assert (cash(creator)["pending"], cash(creator)["debt"]) == (0, 0)
    refund = Transaction.objects.get(kind="tip_refund")
    legs = {e.account.kind: e.amount for e in refund.entries.select_related("account")}
    assert legs == {"provider_inflow": 1000, "losses": -59, "pending": -941}
    # A second refund is a state conflict and changes nothing
    again = api_client(staff).post(f"/api/v1/tips/{tip.pk}/refund/", {}, format="json",
                                   HTTP_IDEMPOTENCY_KEY="r2")
    assert again.status_code == 409 and again.json()["error"]["code"] == "invalid_state"


def test_a_refund_above_the_two_person_bar_waits_for_a_second_staff_member(paid_tip, nothing_changed):
    """PRODUCT §7: refunds above ``staff.second_approval_above`` need a second staff member."""
    tip, creator = paid_tip
    first, second = make_user("ana", staff=True), make_user("bo", staff=True)
    config.set_value(definition=SECOND_APPROVAL_ABOVE, value=500, actor=first, reason="tighter for the test")

    def refund(user, key):
        return api_client(user).post(f"/api/v1/tips/{tip.pk}/refund/", {"reason": "fan asked"},
                                     format="json", HTTP_IDEMPOTENCY_KEY=key)

    asked = refund(first, "a1")
    assert asked.status_code == 202 and asked.json()["status"] != "refunded"
    assert cash(creator)["pending"] == 941 and not Transaction.objects.filter(kind="tip_refund").exists()
    assert StaffApproval.objects.get(subject=f"tip:{tip.pk}").status == "pending"
    with nothing_changed():  # the first member cannot be the second
        again = refund(first, "a2")
    assert again.status_code == 409 and again.json()["error"]["code"] == "invalid_state"

    confirmed = refund(second, "b1")
    assert confirmed.status_code == 200 and confirmed.json()["status"] == "refunded"
    assert cash(creator)["pending"] == 0 and Transaction.objects.filter(kind="tip_refund").count() == 1
    assert StaffApproval.objects.get(subject=f"tip:{tip.pk}").decided_by == second


def test_fans_and_creators_may_not_refund(paid_tip):
    tip, creator = paid_tip
    for user in (tip.fan, creator.user):
        r = api_client(user).post(f"/api/v1/tips/{tip.pk}/refund/", {}, format="json",
                                  HTTP_IDEMPOTENCY_KEY="x")
        assert r.status_code == 403
    assert cash(creator)["pending"] == 941


def withdraw_everything(creator):
    """Until payouts land: what a withdrawal does to the ledger (available → in payout → sent)."""
    from creatornext.ledger.services import holds_release_due

    holds_release_due(now=__import__("django.utils.timezone", fromlist=["now"]).now()
                      + __import__("datetime").timedelta(days=8))
    available = account_for(creator.user, AccountKind.AVAILABLE, "USD")
    available.refresh_from_db()
    post(Posting(key=f"test-withdraw:{creator.pk}", kind="payout", legs=[
        Leg(available, -available.balance),
        Leg(platform_account(AccountKind.PAYOUTS_SENT, "USD"), available.balance)]))


def test_a_refund_after_the_money_was_withdrawn_leaves_an_explicit_debt_netted_from_the_next_tip(
        paid_tip, django_capture_on_commit_callbacks):
    tip, creator = paid_tip
    withdraw_everything(creator)
    assert cash(creator)["available"] == 0
    staff = make_user("boss", staff=True)
    api_client(staff).post(f"/api/v1/tips/{tip.pk}/refund/", {}, format="json", HTTP_IDEMPOTENCY_KEY="r")
    assert cash(creator)["debt"] == 941
    # The next tip pays the debt first
    with django_capture_on_commit_callbacks(execute=True):
        api_client(tip.fan).post("/api/v1/tips/", body(2000), format="json", HTTP_IDEMPOTENCY_KEY="k2")
    net2 = 2000 - 88
    assert (cash(creator)["debt"], cash(creator)["pending"]) == (0, net2 - 941)


def test_a_dispute_takes_the_net_back_and_books_fee_and_dispute_fee_as_losses(paid_tip, send_event):
    tip, creator = paid_tip
    send_event(dispute(tip.payment))
    assert cash(creator)["pending"] == 0
    txn = Transaction.objects.get(kind="tip_dispute")
    legs = {e.account.kind: e.amount for e in txn.entries.select_related("account")}
    fee = config.get(DISPUTE_FEE)
    assert legs == {"provider_inflow": 1000 + fee, "losses": -(59 + fee), "pending": -941}
    # Won: the creator gets the net back; the dispute fee stays a loss
    send_event(dispute(tip.payment, "charge.dispute.closed", status="won"))
    assert cash(creator)["pending"] == 941
    tip.payment.refresh_from_db()
    assert tip.payment.status == "disputed"


def test_a_dispute_won_after_a_refund_while_it_was_open_returns_what_was_disputed(paid_tip, send_event):
    """Found by the stateful money-flow test: the won dispute used to recompute 'disputed' from
    the payment after the refund (0) and posted a zero entry (the webhook failed for ever)."""
    tip, creator = paid_tip
    send_event(dispute(tip.payment))
    send_event(charge_refunded(tip.payment, 1000))  # refunded while the dispute is open
    assert cash(creator)["pending"] == 0
    send_event(dispute(tip.payment, "charge.dispute.closed", status="won"))
    won = Transaction.objects.get(kind="tip_dispute_won")
    legs = {e.account.kind: e.amount for e in won.entries.select_related("account")}
    assert legs == {"provider_inflow": -1000, "losses": 59, "pending": 941}
    assert cash(creator)["pending"] == 941


def test_what_a_tip_gave_back_is_read_by_its_ref_through_the_returns_index(paid_tip, send_event):
    """Refunds and disputes read what earlier ones took back (``tips.handlers.tip_returns``): by
    the tip's ref in the partial index of these postings, not among every refund and dispute."""
    from django.db import connection

    from tips.handlers import tip_returns

    tip, _ = paid_tip
    send_event(dispute(tip.payment))
    send_event(dispute(tip.payment, "charge.dispute.closed", status="won"))
    taken, given = tip_returns(tip)
    assert [t.kind for t in taken] == ["tip_dispute"] and [t.kind for t in given] == ["tip_dispute_won"]
    with connection.cursor() as cursor:
        # One tip's postings are too few for the planner to prefer an index: forbid the other
        # ways in, so the plans show whether the queries can use the partial index at all.
        for switch in ("enable_seqscan", "enable_bitmapscan"):
            cursor.execute(f"SET LOCAL {switch} = off")
        plans = [taken.explain(), given.explain()]
    assert all("ledger_txn_tip_returns_ref" in plan for plan in plans), plans


def test_a_refund_webhook_before_anything_else_is_handled_once(paid_tip, send_event):
    tip, creator = paid_tip
    for _ in range(2):
        send_event(charge_refunded(tip.payment, 1000))
    assert Transaction.objects.filter(kind="tip_refund").count() == 1
    assert cash(creator)["pending"] == 0


@pytest.fixture
def send_event(django_capture_on_commit_callbacks):
    def _send(evt):
        with django_capture_on_commit_callbacks(execute=True):
            assert deliver(Client(), evt, SECRET).status_code == 200
    return _send


def test_a_tip_success_webhook_stays_within_its_query_budget(db, django_capture_on_commit_callbacks,
                                                              django_assert_max_num_queries):
    from creatornext.payments.webhooks import webhook_event_process
    from tests.tips.conftest import pending_tip_event

    creator = make_creator("maya.makes")
    enroll(creator, "creator-next", "tips")
    fan = make_user("fan")
    (_, first), (_, second) = (pending_tip_event(creator, fan, f"budget-{n}") for n in (1, 2))
    with django_capture_on_commit_callbacks(execute=True):  # commits: platform accounts are remembered
        webhook_event_process(event_pk=first.pk)
    # 17 (was ~35; 22 until the payment was no longer written twice nor looked up before its lock;
    # 19 until a posting was one statement):
    # the event, the payment and its move, the tip with its fan's hour, the credit's ledger writes,
    # the savepoints around them, the event's outcome (pytest -vv lists them on failure).
    with django_assert_max_num_queries(17):
        assert webhook_event_process(event_pk=second.pk).status == "processed"
    assert cash(creator)["pending"] == 2 * 941
    assert Transaction.objects.filter(kind="tip").count() == 2
