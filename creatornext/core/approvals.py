"""The two-person rule for large staff decisions (PRODUCT.md §7).

A service that carries out a staff decision calls ``second_approval`` inside its transaction, after
locking the subject row. Below the threshold the decision runs at once. Above it, the first staff
member's call records a pending request and the decision does not run; the same call by a
*different* staff member confirms it, and the decision runs in that second call's transaction.

    pending = second_approval(action="redemption.approve", subject=f"redemption:{r.pk}",
                              amount=Money(r.amount, r.currency), actor=staff, reason=reason)
    if pending is not None:
        return r  # waits for a second staff member
"""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils import timezone

from creatornext.core import config
from creatornext.core.api import DomainError
from creatornext.core.models import StaffApproval
from creatornext.money import Money

SECOND_APPROVAL_ABOVE = config.register(
    "staff.second_approval_above", 50_000,
    "Staff decisions moving more than this (minor units: refunds, redemption decisions) need a second "
    "staff member's approval.", minimum=0)


class SecondApprovalRefused(DomainError):
    status_code = 409
    code = "invalid_state"


def needs_second_approval(amount: Money) -> bool:
    return amount.amount > config.get(SECOND_APPROVAL_ABOVE)


def second_approval(*, action: str, subject: str, amount: Money, actor, reason: str) -> StaffApproval | None:
    """None when the decision may run now; the pending request when it waits for a second member.

    Must run inside the caller's transaction, with the subject locked, so that two staff members
    confirming at once cannot both run the decision."""
    from creatornext.audit.services import audit_record

    if not needs_second_approval(amount):
        return None
    pending = StaffApproval.objects.select_for_update(no_key=True).filter(
        subject=subject, status=StaffApproval.Status.PENDING).first()
    if pending is None:
        try:
            with transaction.atomic():
                pending = StaffApproval.objects.create(action=action, subject=subject, amount=amount.amount,
                                                       currency=amount.currency, requested_by=actor,
                                                       reason=reason)
        except IntegrityError as exc:  # another member's request landed first
            raise SecondApprovalRefused("Another staff member has just asked for this decision; reload.") from exc
        audit_record(actor=actor, action="approval.requested", obj=pending, after={"action": action},
                     reason=reason)
        return pending
    if pending.action != action:
        raise SecondApprovalRefused(
            f"{pending.requested_by} asked for {pending.action} here; a second member can only confirm that "
            "decision (withdraw the request first to decide otherwise).")
    if pending.requested_by_id == actor.pk:
        raise SecondApprovalRefused("A second, different staff member must confirm this decision.")
    pending.status, pending.decided_by, pending.decided_at = StaffApproval.Status.CONFIRMED, actor, timezone.now()
    pending.save(update_fields=["status", "decided_by", "decided_at"])
    audit_record(actor=actor, action="approval.confirmed", obj=pending, after={"action": action},
                 reason=reason)
    return None


def withdraw(*, approval: StaffApproval, actor, reason: str) -> StaffApproval:
    """Drop a pending request (its requester changed their mind, or another decision is wanted)."""
    from creatornext.audit.services import audit_record

    with transaction.atomic():
        approval = StaffApproval.objects.select_for_update(no_key=True).get(pk=approval.pk)
        if approval.status != StaffApproval.Status.PENDING:
            raise SecondApprovalRefused(f"This request is already {approval.status}.")
        approval.status, approval.decided_by, approval.decided_at = (
            StaffApproval.Status.WITHDRAWN, actor, timezone.now())
        approval.save(update_fields=["status", "decided_by", "decided_at"])
        audit_record(actor=actor, action="approval.withdrawn", obj=approval, reason=reason)
    return approval

