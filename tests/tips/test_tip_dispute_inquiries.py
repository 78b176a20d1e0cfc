"""A dispute inquiry on a tip takes nothing from the creator; the chargeback it may escalate
into takes the net back once, as a chargeback opened directly always did."""

from __future__ import annotations

from creatornext.core import config
from creatornext.ledger import selectors as ledger
from creatornext.ledger.checks import ledger_check
from creatornext.ledger.models import Transaction
from creatornext.payments.config import DISPUTE_FEE
from tests.support import state
from tests.support.disputes import dispute_event, escalation, inquiry, only_the_event_and_its_audit_line

NET = 1000 - 59  # the provider's fee on 10.00: 2.9% + 30¢


def cash(creator):
    return ledger.wallet(creator.user)["cash"][0]


def test_an_inquiry_on_a_tip_takes_nothing_from_the_creator(paid_tip, send_event):
    tip, creator = paid_tip
    assert (cash(creator)["pending"], cash(creator)["debt"]) == (NET, 0)
    before = state.snapshot()
    send_event(inquiry(tip.payment))
    send_event(inquiry(tip.payment, "warning_under_review", kind="charge.dispute.updated"))
    send_event(inquiry(tip.payment, "warning_closed", kind="charge.dispute.closed"))  # answered: ours
    only_the_event_and_its_audit_line(before, events=3)  # no posting, no balance moved
    assert (cash(creator)["pending"], cash(creator)["debt"]) == (NET, 0)
    assert not Transaction.objects.filter(ref=f"tip:{tip.pk}").exclude(kind="tip").exists()
    tip.payment.refresh_from_db()
    assert (tip.payment.status, tip.payment.dispute_id) == ("succeeded", "")
    assert ledger_check() == []


def test_an_inquiry_that_escalates_takes_the_net_back_once(paid_tip, send_event):
    tip, creator = paid_tip
    send_event(inquiry(tip.payment))
    assert cash(creator)["pending"] == NET
    for evt in escalation(tip.payment):
        send_event(evt)
        send_event(evt, duplicate=True)  # the provider delivers it again
    assert (cash(creator)["pending"], cash(creator)["debt"]) == (0, 0)
    (txn,) = Transaction.objects.filter(kind="tip_dispute")
    legs = {e.account.kind: e.amount for e in txn.entries.select_related("account")}
    fee = config.get(DISPUTE_FEE)
    assert legs == {"provider_inflow": 1000 + fee, "losses": -(59 + fee), "pending": -NET}
    tip.payment.refresh_from_db()
    assert tip.payment.status == "disputed"
    # Won: the creator gets the net back, once; the dispute fee stays a loss
    won = dispute_event(tip.payment, "charge.dispute.closed", "won", withdrawn=True)
    send_event(won)
    send_event(won, duplicate=True)
    assert cash(creator)["pending"] == NET
    assert Transaction.objects.filter(kind="tip_dispute_won").count() == 1
    assert ledger_check() == []


def test_a_chargeback_opened_directly_still_takes_the_net_back_at_once(paid_tip, send_event):
    tip, creator = paid_tip
    send_event(dispute_event(tip.payment, "charge.dispute.created", "needs_response", withdrawn=True))
    assert cash(creator)["pending"] == 0
    send_event(dispute_event(tip.payment, "charge.dispute.funds_withdrawn", "needs_response", withdrawn=True))
    assert Transaction.objects.filter(kind="tip_dispute").count() == 1
    assert cash(creator)["pending"] == 0
