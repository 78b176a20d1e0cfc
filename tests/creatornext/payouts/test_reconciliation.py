"""R16 (reconciliation part): every injected mismatch between our records and the provider's is
reported (admin page + staff email); a clean state reports none."""

from __future__ import annotations

from creatornext.accounts.models import User
from creatornext.core.models import OutboundEmail
from creatornext.money import Money
from creatornext.payouts import batches, reconciliation, services
from creatornext.payouts.models import Mismatch
from tests.support import connect


def paid_batch(user, *amounts):
    for cents in amounts:
        services.withdrawal_create(user=user, amount=Money(cents, "USD"))
    batch = batches.payout_batch_create()
    batches.payout_batch_run(batch_id=batch.pk)
    return list(batch.items.order_by("pk"))


def kinds(run):
    return sorted((m.kind, m.ref) for m in run.mismatches.all())


def test_a_clean_state_reports_nothing(funded):
    paid_batch(funded, 1000, 2000)
    run = reconciliation.reconcile()
    assert run.mismatch_count == 0, kinds(run)
    assert run.checked["transfers"] == 2 and run.checked["ledger"] == 2


def test_each_injected_mismatch_is_reported_to_staff(funded, client):
    staff = User.objects.create_user(username="boss", email="boss@example.com", password="x",
                                     is_staff=True, is_superuser=True)
    missing, wrong, _fine = paid_batch(funded, 1000, 2000, 3000)
    connect.call(f"transfers/{missing.transfer_id}", method="DELETE")  # the provider lost it
    connect.call(f"transfers/{wrong.transfer_id}", {"amount": 2001})  # a different amount
    unknown = connect.call("transfers", {"amount": 777, "currency": "usd", "destination": "acct_x"})
    run = reconciliation.reconcile()
    assert kinds(run) == sorted([
        (Mismatch.Kind.MISSING_TRANSFER, f"payout-item:{missing.pk}"),
        (Mismatch.Kind.AMOUNT_MISMATCH, f"payout-item:{wrong.pk}"),
        (Mismatch.Kind.UNKNOWN_TRANSFER, unknown["id"]),
    ])
    email = OutboundEmail.objects.get(template="reconciliation_report")
    assert email.to == [staff.email] and "3 mismatches" in email.subject
    for ref in (f"payout-item:{missing.pk}", f"payout-item:{wrong.pk}", unknown["id"]):
        assert ref in email.body_text
    client.force_login(staff)
    page = client.get(f"/admin/payouts/reconciliationrun/{run.pk}/change/")
    assert page.status_code == 200 and unknown["id"] in page.content.decode()


def test_a_transfer_for_an_item_we_have_not_recorded_is_reported(funded):
    services.withdrawal_create(user=funded, amount=Money(1500, "USD"))
    batch = batches.payout_batch_create()
    item = batch.items.get()
    # A transfer made for the item (e.g. by hand at the provider) while our item is still queued
    connect.call("transfers", {"amount": 1500, "currency": "usd", "destination": funded.payout_account.provider_id,
                               "transfer_group": item.transfer_group})
    run = reconciliation.reconcile()
    assert kinds(run) == [(Mismatch.Kind.UNRECORDED_TRANSFER, item.transfer_group)]


def test_payments_and_refunds_are_compared_with_the_provider(stand_in, db, django_capture_on_commit_callbacks):
    from creatornext.payments.models import Payment
    from tests.eligibility.helpers import enroll, make_creator
    from tests.support.world import api_client, make_user

    creator = make_creator("ana.paints")
    enroll(creator, "creator-next", "tips")
    fan = make_user("fan")
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client(fan).post("/api/v1/tips/", {
            "creator": "ana.paints", "amount": {"amount": 1000, "currency": "USD"},
            "payment_method": "pm_card_visa"}, format="json", HTTP_IDEMPOTENCY_KEY="t1")
    assert response.status_code == 201, response.content
    run = reconciliation.reconcile()
    assert run.checked.get("payments") == 1 and run.mismatch_count == 0, (run.error, kinds(run))
    # Our record says a different amount than the provider's
    Payment.objects.update(amount=1001)
    run = reconciliation.reconcile()
    assert [m.kind for m in run.mismatches.all()] == [Mismatch.Kind.PAYMENT_MISMATCH]
