"""A dispute inquiry on an escrow funding leaves escrow and the collaboration as they were; the
chargeback it may escalate into takes escrow back and freezes the collaboration, once."""

from __future__ import annotations

import pytest

from creatornext.core import config
from creatornext.ledger.checks import ledger_check
from creatornext.ledger.models import Transaction
from creatornext.payments.config import DISPUTE_FEE
from marketplace import escrow
from marketplace.models import Collaboration
from tests.marketplace.collab_helpers import funded_collaboration, post, submit
from tests.marketplace.helpers import brand_member, listed_creator
from tests.support import state
from tests.support.disputes import dispute_event, escalation, inquiry, only_the_event_and_its_audit_line

FEE = 50_000


@pytest.fixture
def funded(db, fake_stripe):
    """A funded collaboration whose creator has delivered: (buyer, collaboration id, payment)."""
    buyer, brand = brand_member("buyer")
    creator = listed_creator("ana.cooks")
    collab_id = funded_collaboration(buyer, brand, creator)
    assert submit(creator, collab_id).status_code == 200
    return buyer, collab_id, Collaboration.objects.get(pk=collab_id).payment


def collaboration(collab_id: int) -> tuple[str, int]:
    c = Collaboration.objects.get(pk=collab_id)
    return c.state, escrow.escrow_held(c)


def test_an_inquiry_on_an_escrow_funding_leaves_escrow_and_the_collaboration_alone(funded, send_event):
    buyer, collab_id, payment = funded
    assert collaboration(collab_id) == ("submitted", FEE)
    before = state.snapshot()
    send_event(inquiry(payment))
    send_event(inquiry(payment, "warning_closed", kind="charge.dispute.closed"))
    only_the_event_and_its_audit_line(before, events=2)  # no posting, no state change, no message
    assert collaboration(collab_id) == ("submitted", FEE)
    assert not Transaction.objects.filter(kind="escrow_dispute").exists()
    assert ledger_check() == []
    # The brand can still approve: the creator is paid as usual
    assert post(buyer, f"collaborations/{collab_id}/approve/").status_code == 200
    assert collaboration(collab_id) == ("released", 0)


def test_an_inquiry_that_escalates_takes_escrow_back_and_freezes_the_collaboration_once(funded, send_event):
    buyer, collab_id, payment = funded
    send_event(inquiry(payment))
    assert collaboration(collab_id) == ("submitted", FEE)
    for evt in escalation(payment):
        send_event(evt)
        send_event(evt, duplicate=True)
    assert collaboration(collab_id) == ("disputed", 0)
    (txn,) = Transaction.objects.filter(kind="escrow_dispute")
    out = payment.amount + config.get(DISPUTE_FEE)
    assert {e.account.kind: e.amount for e in txn.entries.all()} == {
        "provider_inflow": out, "escrow": -FEE, "losses": -(out - FEE)}
    assert post(buyer, f"collaborations/{collab_id}/approve/").status_code == 409
    # Won: escrow gets back what the dispute took, once; staff decide
    won = dispute_event(payment, "charge.dispute.closed", "won", withdrawn=True)
    send_event(won)
    send_event(won, duplicate=True)
    assert collaboration(collab_id) == ("disputed", FEE)
    assert ledger_check() == []
