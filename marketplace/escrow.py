"""Collaborations with escrow (PRODUCT.md §4): fund, submit, revise, approve, release or refund.

Money (value-holder convention, docs/decisions/0004):

- funding: the brand's card is charged the fee plus the estimated processor fee
  (``gross_for``), purpose ``escrow``. On success: provider inflow −gross, processor fees +fee
  the provider reported, escrow +collaboration fee; what the estimate missed by goes to revenue
  (over) or losses (under), so escrow always holds exactly the collaboration fee.
- release (approval, auto-approval, staff): escrow −fee, platform revenue +platform fee, the
  creator's pending cash +the rest (``creator_income``: debt first, then on hold).
- refund to the brand (cancel after funding, staff): the collaboration fee goes back through the
  provider; the processor fee the brand paid on top is the provider's (it keeps it on refunds).
  Ledger: escrow −amount, provider inflow +amount.
- chargeback: the provider takes the gross and its dispute fee: escrow gives what it still holds,
  the platform's loss account the rest; the collaboration is frozen (``disputed``) for staff.

Each posting's key comes from the collaboration (``collaboration:<id>:funded``, ``…:released``,
``…:refund:<total>``, ``…:dispute``), so a handler or a task that runs twice moves money once.
Every transition locks the collaboration row first, so an approval and a cancellation racing each
other serialise and the second finds the state moved (409 ``invalid_state``).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import transaction
from django.db.models import Q, QuerySet, Sum
from django.utils import timezone

from creatornext.accounts.models import User
from creatornext.audit.services import audit_record
from creatornext.core import config
from creatornext.core.approvals import second_approval
from creatornext.core.text import text_problem
from creatornext.ledger.models import ESCROW_POSTING_PREFIX, AccountKind, Entry, Transaction
from creatornext.ledger.services import Leg, Posting, creator_income, platform_account, post_once
from creatornext.money import Money
from creatornext.payments import services as payments
from creatornext.payments.config import DISPUTE_FEE
from creatornext.payments.models import Payment, PaymentStatus
from creatornext.payments.provider import ProviderError
from marketplace import config as settings_
from marketplace.campaigns import InvalidState, member_brand_ids, notify_brand, notify_creator
from marketplace.models import Collaboration, CollaborationMessage

log = logging.getLogger(__name__)
C = Collaboration.State
PURPOSE = "escrow"
HELD = (C.FUNDED, C.SUBMITTED, C.REVISION_REQUESTED, C.ESCALATED)
IN_FLIGHT = (PaymentStatus.CREATED, PaymentStatus.REQUIRES_ACTION, PaymentStatus.PROCESSING)
# A payment the brand has not completed (3-D Secure in another tab, or abandoned): it can be given
# up (``_give_up_unfinished``); a processing one cannot, its outcome decides.
UNFINISHED = (PaymentStatus.CREATED, PaymentStatus.REQUIRES_ACTION)


# --- who sees what -----------------------------------------------------------------------------
def collaborations_of(user: User) -> QuerySet[Collaboration]:
    return (Collaboration.objects.filter(Q(creator__user=user) | Q(brand_id__in=member_brand_ids(user)))
            .select_related("brand", "creator__user", "campaign", "payment"))


def collaboration_for(user: User, collaboration_id: int) -> Collaboration | None:
    return collaborations_of(user).filter(pk=collaboration_id).first()


def side_of(user: User, collaboration: Collaboration) -> str:
    """"creator" or "brand" (a member of the brand who is also the creator acts as the creator)."""
    return "creator" if collaboration.creator.user_id == user.pk else "brand"


# --- numbers -----------------------------------------------------------------------------------
def gross_for(fee: int) -> int:
    """What to charge so that, after the provider's percentage + fixed fee, ``fee`` is left.

    gross − (gross × bps / 10,000 + fixed) ≥ fee  ⇒  gross = ⌈(fee + fixed) × 10,000 / (10,000 − bps)⌉
    (rounded up: the brand pays the processor fee, never the creator or the platform).
    """
    bps, fixed = config.get(settings_.PROCESSOR_FEE_BPS), config.get(settings_.PROCESSOR_FEE_FIXED)
    return -(-(fee + fixed) * 10_000 // (10_000 - bps))


def platform_fee_of(collaboration: Collaboration) -> int:
    """The platform's cut of a released fee, rounded down (the creator keeps the fraction)."""
    return collaboration.fee * collaboration.platform_fee_bps // 10_000


def escrow_held(collaboration: Collaboration) -> int:
    """What the ledger's escrow account holds for this collaboration (the ledger is the truth)."""
    return escrow_entries(collaboration).aggregate(s=Sum("amount"))["s"] or 0


def escrow_entries(collaboration: Collaboration) -> QuerySet[Entry]:
    """The collaboration's entries in the shared escrow account: its escrow postings, found by
    ref through their partial index (the kind condition is the index's own), not among every
    escrow entry of every collaboration."""
    escrow = platform_account(AccountKind.ESCROW, collaboration.currency)
    return Entry.objects.filter(account=escrow, transaction__ref=collaboration.ref,
                                transaction__kind__startswith=ESCROW_POSTING_PREFIX)


# --- notifications and transitions ---------------------------------------------------------------
def _link(collaboration: Collaboration) -> str:
    return f"/marketplace/collaborations/{collaboration.pk}/"


def _tell_other(collaboration: Collaboration, actor: User | None, subject: str, text: str) -> None:
    """Email the party that did not act (both when the system or staff acted)."""
    side = side_of(actor, collaboration) if actor is not None and not actor.is_staff else None
    title = f"{subject}: {collaboration.campaign.title}"
    if side != "creator":
        notify_creator(collaboration.creator, subject=title, text=text, link=_link(collaboration))
    if side != "brand":
        notify_brand(collaboration.brand_id, subject=title, text=text, link=_link(collaboration))


def _locked(collaboration: Collaboration | int) -> Collaboration:
    """The collaboration, locked for a workflow step. Its payment's row is locked first: the
    payments boundary runs our handlers (funded, refunded, disputed) with the payment locked and
    then changes the collaboration, so this is the one order both sides take. The other order let
    a cancel (collaboration, then refund → payment) and a dispute webhook (payment, then
    collaboration) deadlock, and PostgreSQL would abort one of them."""
    pk = collaboration if isinstance(collaboration, int) else collaboration.pk
    payment_id = Collaboration.objects.filter(pk=pk).values_list("payment_id", flat=True).first()
    if payment_id is not None:
        list(Payment.objects.select_for_update(no_key=True).filter(pk=payment_id).values_list("pk", flat=True))
    return (Collaboration.objects.select_for_update(of=("self",), no_key=True)
            .select_related("brand", "creator__user", "campaign", "payment").get(pk=pk))


def _move(collaboration: Collaboration, to: str, *, actor: User | None, action: str, reason: str = "",
          **extra: Any) -> None:
    before = {"state": collaboration.state}
    collaboration.state = to
    for key, value in extra.items():
        setattr(collaboration, key, value)
    collaboration.save()
    audit_record(actor=actor, action=action, obj=collaboration, before=before,
                 after={"state": to, **{k: (v.isoformat() if isinstance(v, datetime) else v)
                                        for k, v in extra.items()}}, reason=reason)


def _require(collaboration: Collaboration, states: tuple[str, ...], what: str) -> None:
    if collaboration.state not in states:
        raise InvalidState(f"This collaboration is {collaboration.state.replace('_', ' ')}: it cannot be {what}.")


# --- funding -----------------------------------------------------------------------------------
def _give_up_unfinished(collaboration: Collaboration, source: str) -> Collaboration:
    """Inside the caller's transaction, with the collaboration locked: its payment that the brand
    never completed is canceled at the provider — it can never charge later — so the collaboration
    can be funded with another card, cancelled, or cancelled unfunded. If it succeeded meanwhile,
    that success is applied instead (the collaboration is then funded). Returns the collaboration
    as it is now. Without this, an abandoned 3-D Secure payment held the collaboration forever."""
    payment = collaboration.payment
    if payment is None or payment.status not in UNFINISHED:
        return collaboration
    payments.payment_cancel(payment=payment, source=source)
    return _locked(collaboration.pk)


def collaboration_fund(*, collaboration: Collaboration, actor: User, payment_method: str) -> Collaboration:
    """The brand pays fee + estimated processor fee into escrow. A declined card leaves the
    collaboration waiting (the payment is ``failed``; try another card); so does one the brand did
    not complete (3-D Secure): trying again gives that one up first."""
    from marketplace.services import require_verified

    require_verified(collaboration.brand)
    with transaction.atomic():
        collaboration = _locked(collaboration)
        _require(collaboration, (C.PENDING_FUNDING,), "funded")
        collaboration = _give_up_unfinished(collaboration, "escrow:funded again")
        _require(collaboration, (C.PENDING_FUNDING,), "funded")  # the given-up payment had succeeded
        if collaboration.payment is not None and collaboration.payment.status in IN_FLIGHT:
            raise InvalidState("A payment for this collaboration is already in progress.")
        gross = gross_for(collaboration.fee)
        collaboration.processor_fee = gross - collaboration.fee
        collaboration.save(update_fields=["processor_fee", "updated_at"])
        payment = payments.payment_create(
            purpose=PURPOSE, ref=collaboration.ref, payer=actor, amount=Money(gross, collaboration.currency),
            payment_method=payment_method,
            metadata={"collaboration_id": collaboration.pk, "escrow_amount": collaboration.fee})
        Collaboration.objects.filter(pk=collaboration.pk).update(payment=payment)
        audit_record(actor=actor, action="collaboration.fund_attempted", obj=collaboration,
                     after={"payment": payment.pk, "gross": gross, "status": payment.status})
    return Collaboration.objects.select_related("brand", "creator__user", "campaign", "payment").get(
        pk=collaboration.pk)


def collaboration_refresh(*, collaboration: Collaboration) -> Collaboration:
    """After 3-D Secure in the browser: ask the provider about the payment again."""
    if collaboration.payment is not None:
        payments.payment_refresh(payment=collaboration.payment)
    return Collaboration.objects.select_related("brand", "creator__user", "campaign", "payment").get(
        pk=collaboration.pk)


def _accounts(currency: str) -> dict[str, Any]:
    return {kind: platform_account(kind, currency) for kind in (
        AccountKind.PROVIDER_INFLOW, AccountKind.PROCESSOR_FEES, AccountKind.ESCROW, AccountKind.REVENUE,
        AccountKind.LOSSES)}


def _of(payment: Payment) -> Collaboration:
    return _locked(int(payment.metadata["collaboration_id"]))


def on_succeeded(payment: Payment) -> None:
    collaboration = _of(payment)
    a = _accounts(payment.currency)
    escrow_amount = int(payment.metadata["escrow_amount"])
    fee = payment.fee or 0
    diff = payment.amount - fee - escrow_amount  # > 0: the estimate was high (revenue); < 0: low (loss)
    legs = [Leg(a[AccountKind.PROVIDER_INFLOW], -payment.amount), Leg(a[AccountKind.ESCROW], escrow_amount)]
    if fee:
        legs.append(Leg(a[AccountKind.PROCESSOR_FEES], fee))
    if diff:
        legs.append(Leg(a[AccountKind.REVENUE if diff > 0 else AccountKind.LOSSES], diff))
    _, created = post_once(Posting(key=f"{collaboration.ref}:funded", kind="escrow_funded", legs=legs,
                                   ref=collaboration.ref, memo="Collaboration fee into escrow",
                                   metadata={"payment": payment.pk, "estimate_difference": diff}))
    if created and collaboration.state == C.PENDING_FUNDING:
        _move(collaboration, C.FUNDED, actor=None, action="collaboration.funded", funded_at=timezone.now())
        _tell_other(collaboration, None, "Escrow funded",
                    f"{Money(collaboration.fee, collaboration.currency)} is in escrow. The creator can deliver "
                    f"by {collaboration.deadline:%Y-%m-%d}.")


def on_refunded(payment: Payment, amount: int) -> None:
    """Money went back to the brand: out of escrow first, the platform's loss account for the rest
    (a staff refund of more than escrow holds)."""
    collaboration = _of(payment)
    a = _accounts(payment.currency)
    from_escrow = max(0, min(amount, escrow_held(collaboration)))
    legs = [Leg(a[AccountKind.PROVIDER_INFLOW], amount)]
    if from_escrow:
        legs.append(Leg(a[AccountKind.ESCROW], -from_escrow))
    if amount - from_escrow:
        legs.append(Leg(a[AccountKind.LOSSES], -(amount - from_escrow)))
    post_once(Posting(key=f"{collaboration.ref}:refund:{payment.refunded_amount}", kind="escrow_refund",
                      legs=legs, ref=collaboration.ref, memo="Escrow refunded to the brand",
                      metadata={"payment": payment.pk, "from_escrow": from_escrow}))


def on_dispute_created(payment: Payment) -> None:
    collaboration = _of(payment)
    a = _accounts(payment.currency)
    disputed = payment.amount - payment.refunded_amount
    out = disputed + config.get(DISPUTE_FEE)
    from_escrow = max(0, min(out, escrow_held(collaboration)))
    legs = [Leg(a[AccountKind.PROVIDER_INFLOW], out)]
    if from_escrow:
        legs.append(Leg(a[AccountKind.ESCROW], -from_escrow))
    if out - from_escrow:
        legs.append(Leg(a[AccountKind.LOSSES], -(out - from_escrow)))
    # What was disputed is kept: a refund while the dispute is open must not change what winning
    # it brings back.
    _, created = post_once(Posting(key=f"{collaboration.ref}:dispute", kind="escrow_dispute", legs=legs,
                                   ref=collaboration.ref, metadata={"payment": payment.pk, "disputed": disputed,
                                                                    "from_escrow": from_escrow}))
    if created and collaboration.state in (*HELD, C.PENDING_FUNDING):
        _move(collaboration, C.DISPUTED, actor=None, action="collaboration.disputed", closed_at=timezone.now())


def on_dispute_closed(payment: Payment, won: bool) -> None:
    """Won: the provider returns the disputed gross; escrow gets back what the dispute took from it
    and the loss account the rest (the dispute fee stays a loss). The collaboration stays
    ``disputed``: staff release or refund it."""
    if not won:
        return
    collaboration = _of(payment)
    a = _accounts(payment.currency)
    took = Transaction.objects.filter(key=f"{collaboration.ref}:dispute").first()
    if took is None:
        return
    from_escrow = int(took.metadata.get("from_escrow", 0))
    disputed = int(took.metadata.get("disputed", payment.amount - payment.refunded_amount))
    legs = [leg for leg in (Leg(a[AccountKind.PROVIDER_INFLOW], -disputed),
                            Leg(a[AccountKind.ESCROW], from_escrow),
                            Leg(a[AccountKind.LOSSES], disputed - from_escrow)) if leg.amount]
    if len(legs) < 2:  # nothing was disputed and escrow paid nothing (a fully refunded payment)
        return
    post_once(Posting(key=f"{collaboration.ref}:dispute_won", kind="escrow_dispute_won", legs=legs,
                      ref=collaboration.ref, metadata={"payment": payment.pk, "to_escrow": from_escrow}))


def register() -> None:
    payments.register_purpose(PURPOSE, payments.PurposeHandlers(
        on_succeeded=on_succeeded, on_refunded=on_refunded, on_dispute_created=on_dispute_created,
        on_dispute_closed=on_dispute_closed))


# --- release and refund ------------------------------------------------------------------------
def _release(collaboration: Collaboration, *, actor: User | None, action: str, reason: str = "") -> None:
    """Escrow → the creator's pending cash, less the platform fee; the row is locked by the caller."""
    held = escrow_held(collaboration)
    if held != collaboration.fee:
        raise InvalidState(f"Escrow holds {held} for this collaboration, not its fee: staff must look.")
    a = _accounts(collaboration.currency)
    cut = platform_fee_of(collaboration)
    net = collaboration.fee - cut
    source = [Leg(a[AccountKind.ESCROW], -collaboration.fee)] + ([Leg(a[AccountKind.REVENUE], cut)] if cut else [])
    key = f"{collaboration.ref}:released"
    metadata = {"platform_fee": cut, "platform_fee_bps": collaboration.platform_fee_bps}
    if net:
        creator_income(key=key, kind="escrow_release", owner=collaboration.creator.user,
                       amount=Money(net, collaboration.currency), source_legs=source, ref=collaboration.ref,
                       memo=f"Collaboration: {collaboration.campaign.title}"[:200], metadata=metadata)
    else:  # a 100% platform fee: nothing for the creator
        post_once(Posting(key=key, kind="escrow_release", legs=source, ref=collaboration.ref, metadata=metadata))
    _move(collaboration, C.RELEASED, actor=actor, action=action, reason=reason, closed_at=timezone.now())
    _tell_other(collaboration, actor, "Approved and paid",
                f"{Money(net, collaboration.currency)} was released to the creator's pending balance.")


def _refund(collaboration: Collaboration, *, actor: User, action: str, reason: str = "") -> None:
    """Escrow back to the brand through the provider (the processor fee stays with the provider)."""
    held = escrow_held(collaboration)
    payment = collaboration.payment
    if payment is None or held <= 0:
        raise InvalidState("Escrow holds nothing for this collaboration.")
    try:
        refund = payments.payment_refund(payment=payment, actor=actor, reason=reason or action, amount=held)
    except payments.RefundRefused as exc:
        raise InvalidState(str(exc)) from exc
    if refund.status != refund.Status.SUCCEEDED:
        raise InvalidState("The provider refused the refund; nothing changed. Try again later.")
    _move(collaboration, C.REFUNDED, actor=actor, action=action, reason=reason, closed_at=timezone.now())
    _tell_other(collaboration, actor, "Cancelled and refunded",
                f"{Money(held, collaboration.currency)} went back from escrow to the brand.")


# --- the workflow ------------------------------------------------------------------------------
def _check_url(url: str) -> str:
    url = url.strip()
    try:
        URLValidator(schemes=["http", "https"])(url)
    except ValidationError:
        raise ValidationError({"url": ["Give the video's link (http or https)."]}) from None
    return url


def _text(field: str, value: str, max_length: int) -> str:
    """``value`` stripped, or a ValidationError on ``field`` (NUL, too long): the limits the API's
    serializers and the pages' forms show, held here too, where every way in passes."""
    if problem := text_problem(value, max_length):
        raise ValidationError({field: [problem]})
    return value.strip()


def collaboration_submit(*, collaboration: Collaboration, actor: User, url: str) -> Collaboration:
    url = _check_url(_text("url", url, 500))
    with transaction.atomic():
        collaboration = _locked(collaboration)
        _require(collaboration, (C.FUNDED, C.REVISION_REQUESTED), "submitted")
        now = timezone.now()
        _move(collaboration, C.SUBMITTED, actor=actor, action="collaboration.submitted", deliverable_url=url,
              submitted_at=now, auto_approve_at=now + timedelta(days=config.get(settings_.AUTO_APPROVE_DAYS)))
        _tell_other(collaboration, actor, "Deliverable submitted",
                    f"@{collaboration.creator.handle} submitted {url}. Approve it or ask for a revision; "
                    f"without an answer it is approved in {config.get(settings_.AUTO_APPROVE_DAYS)} days.")
    return collaboration


def collaboration_approve(*, collaboration: Collaboration, actor: User) -> Collaboration:
    with transaction.atomic():
        collaboration = _locked(collaboration)
        _require(collaboration, (C.SUBMITTED,), "approved")
        _release(collaboration, actor=actor, action="collaboration.approved")
    return collaboration


def collaboration_request_revision(*, collaboration: Collaboration, actor: User, note: str) -> Collaboration:
    """At most ``max_revisions`` (stored on the collaboration); after that approve or escalate."""
    note = _text("note", note, 2000)
    with transaction.atomic():
        collaboration = _locked(collaboration)
        _require(collaboration, (C.SUBMITTED,), "sent back")
        if collaboration.revisions >= collaboration.max_revisions:
            raise InvalidState(f"You already asked for {collaboration.max_revisions} revisions: approve the "
                               "deliverable or escalate to staff.")
        _move(collaboration, C.REVISION_REQUESTED, actor=actor, action="collaboration.revision_requested",
              revisions=collaboration.revisions + 1, revision_note=note.strip(), auto_approve_at=None)
        _tell_other(collaboration, actor, "Revision requested", note.strip() or "The brand asks for a revision.")
    return collaboration


def collaboration_escalate(*, collaboration: Collaboration, actor: User, note: str = "") -> Collaboration:
    """After the last revision the brand may hand the decision to staff (release or refund)."""
    note = _text("note", note, 2000)
    with transaction.atomic():
        collaboration = _locked(collaboration)
        _require(collaboration, (C.SUBMITTED,), "escalated")
        if collaboration.revisions < collaboration.max_revisions:
            raise InvalidState("Ask for a revision first: staff decide only after the last revision.")
        _move(collaboration, C.ESCALATED, actor=actor, action="collaboration.escalated", reason=note.strip(),
              auto_approve_at=None)
        _tell_other(collaboration, actor, "Escalated to staff",
                    "The brand asked our staff to decide: they will release the fee or refund the brand.")
    return collaboration


def collaboration_cancel(*, collaboration: Collaboration, actor: User, reason: str = "") -> Collaboration:
    """Either party before the first submission; the brand also after a missed deadline (before
    approval). Funded escrow goes back to the brand."""
    reason = _text("reason", reason, 500)
    with transaction.atomic():
        collaboration = _locked(collaboration)
        brand_side = side_of(actor, collaboration) == "brand"
        before_submission = collaboration.state in (C.PENDING_FUNDING, C.FUNDED) and collaboration.submitted_at is None
        missed = (brand_side and timezone.now() > collaboration.deadline
                  and collaboration.state in (C.PENDING_FUNDING, C.FUNDED, C.REVISION_REQUESTED))
        if not (before_submission or missed):
            raise InvalidState("This collaboration can no longer be cancelled"
                               + (" (the deliverable was submitted)." if collaboration.submitted_at else "."))
        if collaboration.state == C.PENDING_FUNDING:
            collaboration = _give_up_unfinished(collaboration, "escrow:cancelled")  # funded, if it had succeeded
        if collaboration.state == C.PENDING_FUNDING:
            if collaboration.payment is not None and collaboration.payment.status in IN_FLIGHT:
                raise InvalidState("A payment for this collaboration is in progress: wait for it to finish.")
            _move(collaboration, C.CANCELLED, actor=actor, action="collaboration.cancelled", reason=reason,
                  closed_at=timezone.now())
            _tell_other(collaboration, actor, "Collaboration cancelled", reason or "No money had moved.")
        else:
            _refund(collaboration, actor=actor, action="collaboration.cancelled", reason=reason)
    return collaboration


def _staff_decision(collaboration: Collaboration, *, actor: User, reason: str, release: bool) -> bool:
    """Lock, check the state and apply the two-person rule (PRODUCT §7): False while a large
    decision waits for a second staff member (nothing moved). Call inside a transaction."""
    _require(collaboration, (C.ESCALATED, C.DISPUTED), "released by staff" if release else "refunded by staff")
    return second_approval(action="collaboration.release" if release else "collaboration.refund",
                           subject=f"collaboration:{collaboration.pk}",
                           amount=Money(collaboration.fee, collaboration.currency),
                           actor=actor, reason=reason) is None


def staff_release(*, collaboration: Collaboration, actor: User, reason: str) -> Collaboration:
    """Staff decide an escalated collaboration (or a disputed one whose dispute was won: escrow
    holds the fee again; ``_release`` refuses while it does not). A fee above
    ``staff.second_approval_above`` is released only when a second staff member confirms."""
    with transaction.atomic():
        collaboration = _locked(collaboration)
        if _staff_decision(collaboration, actor=actor, reason=reason, release=True):
            _release(collaboration, actor=actor, action="collaboration.staff_released", reason=reason)
    return collaboration


def staff_refund(*, collaboration: Collaboration, actor: User, reason: str) -> Collaboration:
    """Refund the brand; above the threshold only when a second staff member confirms."""
    with transaction.atomic():
        collaboration = _locked(collaboration)
        if _staff_decision(collaboration, actor=actor, reason=reason, release=False):
            _refund(collaboration, actor=actor, action="collaboration.staff_refunded", reason=reason)
    return collaboration


def message_post(*, collaboration: Collaboration, actor: User, body: str) -> CollaborationMessage:
    body = _text("body", body, 2000)
    if not body:
        raise ValidationError({"body": ["Write a message."]})
    with transaction.atomic():
        message = CollaborationMessage.objects.create(collaboration=collaboration, author=actor, body=body)
        _tell_other(collaboration, actor, "New message", f"{actor.username}: {body[:500]}")
    return message


# --- beat --------------------------------------------------------------------------------------
def unfunded_cancel_due(*, now: datetime | None = None, batch_size: int = 500) -> int:
    """Accepted collaborations the brand did not fund in time are cancelled. A payment the brand
    never completed is given up first (canceled at the provider; if it succeeded after all, the
    collaboration is funded instead); one processing is left to finish: its outcome decides."""
    now = now or timezone.now()
    done = 0
    for pk in list(Collaboration.objects.filter(state=C.PENDING_FUNDING, fund_by__lte=now)
                   .order_by("fund_by").values_list("pk", flat=True)[:batch_size]):
        with transaction.atomic():
            collaboration = _locked(pk)
            if collaboration.state != C.PENDING_FUNDING or collaboration.fund_by > now:
                continue
            try:
                collaboration = _give_up_unfinished(collaboration, "escrow:unfunded in time")
            except ProviderError:
                log.warning("Collaboration %s: its unfinished payment could not be canceled now; next run", pk)
                continue
            if collaboration.state != C.PENDING_FUNDING:
                continue
            if collaboration.payment is not None and collaboration.payment.status in IN_FLIGHT:
                continue
            _move(collaboration, C.CANCELLED, actor=None, action="collaboration.unfunded_cancelled",
                  closed_at=now)
            _tell_other(collaboration, None, "Collaboration cancelled",
                        "The brand did not fund escrow in time; no money moved.")
            done += 1
    return done


def auto_approve_due(*, now: datetime | None = None, batch_size: int = 500) -> int:
    """Submissions the brand left unanswered for ``auto_approve_days`` are approved and released."""
    now = now or timezone.now()
    done = 0
    for pk in list(Collaboration.objects.filter(state=C.SUBMITTED, auto_approve_at__lte=now)
                   .order_by("auto_approve_at").values_list("pk", flat=True)[:batch_size]):
        with transaction.atomic():
            collaboration = _locked(pk)
            if collaboration.state != C.SUBMITTED or not collaboration.auto_approve_at \
                    or collaboration.auto_approve_at > now:
                continue
            try:
                _release(collaboration, actor=None, action="collaboration.auto_approved")
            except InvalidState:
                log.exception("Collaboration %s not auto-approved: escrow does not hold its fee.", pk)
                continue
            done += 1
    return done
