"""Campaigns and invitations (PRODUCT.md §4): a brand writes a campaign and invites creators with a
fee offer; the creator accepts, declines or counters once; the brand answers the counter-offer.

An accepted invitation becomes a ``Collaboration`` waiting for the brand's funding (``escrow.py``
moves the money). Every transition happens under the invitation's row lock, is audited, and the
other party gets an email. Open invitations expire after ``marketplace.invitation_days`` (beat).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from creatornext.accounts.models import Brand, BrandMembership, CreatorProfile, User
from creatornext.accounts.selectors import creator_by_handle
from creatornext.audit.services import audit_record
from creatornext.core import config
from creatornext.core.api import DomainError
from creatornext.core.emails import email_queue
from creatornext.core.text import text_problem
from creatornext.money import Money
from eligibility.services import require_enrolled
from marketplace import config as settings_
from marketplace import taxonomy
from marketplace.models import Campaign, Collaboration, Invitation
from marketplace.services import CURRENCY, PROGRAM, require_verified

S = Invitation.State


class InvalidState(DomainError):
    code = "invalid_state"


class OwnCounterOffer(DomainError):
    status_code = 403
    code = "permission_denied"


def _require_brand_side(invitation: Invitation, actor: User) -> None:
    """A counter-offer is answered by the brand, never by the creator who made it — even one who is
    also a member of the brand (every way in — API, pages — goes through here)."""
    if invitation.creator.user_id == actor.pk:
        raise OwnCounterOffer("Only the brand can answer your counter-offer.")


# --- who sees what -----------------------------------------------------------------------------
def member_brand_ids(user: User) -> QuerySet:
    return BrandMembership.objects.filter(user=user, user__deleted_at__isnull=True).values("brand_id")


def campaigns_of(user: User) -> QuerySet[Campaign]:
    return Campaign.objects.filter(brand_id__in=member_brand_ids(user)).select_related("brand")


def campaign_for(user: User, campaign_id: int) -> Campaign | None:
    return campaigns_of(user).filter(pk=campaign_id).first()


def invitations_of(user: User) -> QuerySet[Invitation]:
    """Invitations to the user as a creator, and those their brands sent."""
    return (Invitation.objects.filter(Q(creator__user=user) | Q(campaign__brand_id__in=member_brand_ids(user)))
            .select_related("campaign__brand", "creator"))


def invitation_for(user: User, invitation_id: int) -> Invitation | None:
    return invitations_of(user).filter(pk=invitation_id).first()


def is_brand_side(user: User, brand_id: int) -> bool:
    return BrandMembership.objects.filter(user=user, brand_id=brand_id).exists()


# --- emails ------------------------------------------------------------------------------------
def brand_emails(brand_id: int) -> list[tuple[str, str]]:
    return list(User.objects.filter(brand_memberships__brand_id=brand_id, deleted_at__isnull=True)
                .exclude(email="").order_by("pk").values_list("email", "username"))


def notify(recipients: list[tuple[str, str]], *, subject: str, text: str, link: str) -> None:
    """Tell the other party what happened (one email each, sent after commit)."""
    for email, username in recipients:
        email_queue(to=[email], template="marketplace_update",
                    context={"username": username, "subject": subject, "text": text, "link": link})


def notify_creator(creator: CreatorProfile, **kwargs: Any) -> None:
    user = creator.user
    if user.email and user.deleted_at is None:
        notify([(user.email, user.username)], **kwargs)


def notify_brand(brand_id: int, **kwargs: Any) -> None:
    notify(brand_emails(brand_id), **kwargs)


# --- campaigns ---------------------------------------------------------------------------------
def _clean_campaign(*, title: str, brief: str, deliverables: list[str], budget: Money,
                    deadline: datetime) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    title, brief = title.strip(), brief.strip()
    if not title:
        errors["title"] = ["Give the campaign a title."]
    elif problem := text_problem(title, 120):  # Campaign.title
        errors["title"] = [problem]
    if problem := text_problem(brief, 5000):
        errors["brief"] = [problem]
    wanted = list(dict.fromkeys(deliverables))
    if not wanted or any(d not in taxonomy.DELIVERABLES for d in wanted):
        errors["deliverables"] = [f"Choose from {', '.join(taxonomy.DELIVERABLES)}."]
    if budget.currency != CURRENCY:
        errors["budget"] = [f"Budgets are in {CURRENCY}."]
    elif budget.amount < config.get(settings_.MIN_FEE):
        errors["budget"] = [f"A budget is at least {Money(config.get(settings_.MIN_FEE), CURRENCY)}."]
    if deadline <= timezone.now():
        errors["deadline"] = ["The deadline must be in the future."]
    if errors:
        raise ValidationError(errors)
    return {"title": title, "brief": brief, "deliverables": wanted, "budget": budget.amount,
            "currency": budget.currency, "deadline": deadline}


def _campaign_audit(campaign: Campaign) -> dict[str, Any]:
    return {"title": campaign.title, "deliverables": campaign.deliverables, "budget": campaign.budget,
            "deadline": campaign.deadline.isoformat()}


def campaign_create(*, brand: Brand, actor: User, title: str, brief: str, deliverables: list[str],
                    budget: Money, deadline: datetime) -> Campaign:
    """Any member may draft a campaign; contacting creators needs a verified brand."""
    values = _clean_campaign(title=title, brief=brief, deliverables=deliverables, budget=budget,
                             deadline=deadline)
    with transaction.atomic():
        campaign = Campaign.objects.create(brand=brand, created_by=actor, **values)
        audit_record(actor=actor, action="campaign.created", obj=campaign, after=_campaign_audit(campaign))
    return campaign


def campaign_update(*, campaign: Campaign, actor: User, **changes: Any) -> Campaign:
    current = {"title": campaign.title, "brief": campaign.brief, "deliverables": campaign.deliverables,
               "budget": Money(campaign.budget, campaign.currency), "deadline": campaign.deadline}
    values = _clean_campaign(**{**current, **changes})
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update(no_key=True).get(pk=campaign.pk)
        before = _campaign_audit(campaign)
        for key, value in values.items():
            setattr(campaign, key, value)
        campaign.save()
        audit_record(actor=actor, action="campaign.updated", obj=campaign, before=before,
                     after=_campaign_audit(campaign))
    return campaign


def campaign_delete(*, campaign: Campaign, actor: User) -> None:
    """Only a campaign that invited nobody can go (invitations and money keep their history)."""
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update(no_key=True).get(pk=campaign.pk)
        if campaign.invitations.exists():
            raise InvalidState("This campaign has invitations: it stays for its history.")
        audit_record(actor=actor, action="campaign.deleted", obj=campaign, before=_campaign_audit(campaign))
        campaign.delete()


# --- invitations -------------------------------------------------------------------------------
def _check_fee(fee: Money, field: str = "fee") -> None:
    low, high = config.get(settings_.MIN_FEE), config.get(settings_.MAX_FEE)
    if fee.currency != CURRENCY:
        raise ValidationError({field: [f"Fees are in {CURRENCY}."]})
    if not low <= fee.amount <= high:
        raise ValidationError({field: [f"A fee is between {Money(low, CURRENCY)} and {Money(high, CURRENCY)}."]})


def _expiry(now: datetime) -> datetime:
    return now + timedelta(days=config.get(settings_.INVITATION_DAYS))


def _link(invitation: Invitation) -> str:
    return f"/marketplace/invitations/{invitation.pk}/"


def invitation_create(*, campaign: Campaign, actor: User, handle: str, fee: Money, message: str = "") -> Invitation:
    """A verified brand invites an enrolled creator (403 ``brand_unverified``, 409 ``not_eligible``)."""
    message = message.strip()
    errors = {field: [problem] for field, problem in (("creator", text_problem(handle)),
                                                       ("message", text_problem(message, 2000))) if problem}
    if errors:
        raise ValidationError(errors)
    require_verified(campaign.brand)
    creator = creator_by_handle(handle)
    if creator is None:
        raise ValidationError({"creator": ["No creator with this handle."]})
    if creator.user_id == actor.pk:
        raise ValidationError({"creator": ["You cannot invite yourself."]})
    _check_fee(fee)
    if fee.amount > campaign.budget:
        raise ValidationError({"fee": ["The fee is more than the campaign's budget."]})
    if campaign.deadline <= timezone.now():
        raise InvalidState("The campaign's deadline has passed.")
    require_enrolled(creator, PROGRAM)
    with transaction.atomic():
        Campaign.objects.select_for_update(no_key=True).filter(pk=campaign.pk).first()  # one invite at a time
        if campaign.invitations.filter(creator=creator, state__in=[S.PENDING, S.COUNTERED, S.ACCEPTED]).exists():
            raise InvalidState(f"@{creator.handle} already has an open invitation to this campaign.")
        now = timezone.now()
        invitation = Invitation.objects.create(campaign=campaign, creator=creator, fee=fee.amount,
                                               currency=fee.currency, message=message,
                                               expires_at=_expiry(now), created_by=actor)
        audit_record(actor=actor, action="invitation.sent", obj=invitation,
                     after={"campaign": campaign.pk, "creator": creator.handle, "fee": fee.amount})
        notify_creator(creator, subject=f"{campaign.brand.name} invites you: {campaign.title}",
                       text=f"{campaign.brand.name} offers {fee} for “{campaign.title}”. Accept, decline or "
                            "make one counter-offer within 7 days.", link=_link(invitation))
    return invitation


def _locked(invitation: Invitation) -> Invitation:
    return Invitation.objects.select_for_update(no_key=True).select_related("campaign__brand", "creator__user").get(
        pk=invitation.pk)


def _move(invitation: Invitation, to: str, *, actor: User, action: str, **extra: Any) -> None:
    before = {"state": invitation.state, "fee": invitation.fee, "counter_fee": invitation.counter_fee}
    invitation.state = to
    for key, value in extra.items():
        setattr(invitation, key, value)
    invitation.save()
    audit_record(actor=actor, action=action, obj=invitation, before=before,
                 after={"state": to, "fee": invitation.fee, "counter_fee": invitation.counter_fee})


def _require_open(invitation: Invitation, state: str, what: str) -> None:
    if invitation.state != state or invitation.expires_at <= timezone.now():
        shown = "expired" if invitation.state in (S.PENDING, S.COUNTERED) else invitation.state
        raise InvalidState(f"This invitation is {shown}: it cannot be {what}.")


def _collaboration(invitation: Invitation, fee: int) -> Collaboration:
    now = timezone.now()
    return Collaboration.objects.create(
        invitation=invitation, campaign=invitation.campaign, brand=invitation.campaign.brand,
        creator=invitation.creator, fee=fee, currency=invitation.currency,
        platform_fee_bps=config.get(settings_.PLATFORM_FEE_BPS),
        max_revisions=config.get(settings_.MAX_REVISIONS),
        fund_by=now + timedelta(days=config.get(settings_.FUNDING_DAYS)), deadline=invitation.campaign.deadline)


def invitation_accept(*, invitation: Invitation, actor: User) -> Collaboration:
    """The creator accepts the brand's offer: a collaboration waits for the brand's funding."""
    require_enrolled(invitation.creator, PROGRAM, own=True)
    with transaction.atomic():
        invitation = _locked(invitation)
        _require_open(invitation, S.PENDING, "accepted")
        _move(invitation, S.ACCEPTED, actor=actor, action="invitation.accepted")
        collaboration = _collaboration(invitation, invitation.fee)
        notify_brand(invitation.campaign.brand_id,
                     subject=f"@{invitation.creator.handle} accepted: {invitation.campaign.title}",
                     text=f"Fund {Money(invitation.fee, invitation.currency)} into escrow within "
                          f"{config.get(settings_.FUNDING_DAYS)} days to start the collaboration.",
                     link=f"/marketplace/collaborations/{collaboration.pk}/")
    return collaboration


def invitation_decline(*, invitation: Invitation, actor: User) -> Invitation:
    with transaction.atomic():
        invitation = _locked(invitation)
        _require_open(invitation, S.PENDING, "declined")
        _move(invitation, S.DECLINED, actor=actor, action="invitation.declined", declined_by="creator")
        notify_brand(invitation.campaign.brand_id,
                     subject=f"@{invitation.creator.handle} declined: {invitation.campaign.title}",
                     text="The creator declined your invitation.", link=_link(invitation))
    return invitation


def invitation_counter(*, invitation: Invitation, actor: User, fee: Money) -> Invitation:
    """One counter-offer per invitation; it restarts the expiry. A second one is 409 ``invalid_state``."""
    require_enrolled(invitation.creator, PROGRAM, own=True)
    _check_fee(fee)
    with transaction.atomic():
        invitation = _locked(invitation)
        if invitation.counter_fee is not None:
            raise InvalidState("You already made your one counter-offer on this invitation.")
        _require_open(invitation, S.PENDING, "countered")
        _move(invitation, S.COUNTERED, actor=actor, action="invitation.countered", counter_fee=fee.amount,
              expires_at=_expiry(timezone.now()))
        notify_brand(invitation.campaign.brand_id,
                     subject=f"@{invitation.creator.handle} asks for {fee}: {invitation.campaign.title}",
                     text=f"The creator counters your offer of {Money(invitation.fee, invitation.currency)} "
                          f"with {fee}. Accept or decline it within 7 days.", link=_link(invitation))
    return invitation


def counter_accept(*, invitation: Invitation, actor: User) -> Collaboration:
    _require_brand_side(invitation, actor)
    require_verified(invitation.campaign.brand)
    with transaction.atomic():
        invitation = _locked(invitation)
        _require_open(invitation, S.COUNTERED, "accepted")
        assert invitation.counter_fee is not None
        _move(invitation, S.ACCEPTED, actor=actor, action="invitation.counter_accepted")
        collaboration = _collaboration(invitation, invitation.counter_fee)
        notify_creator(invitation.creator,
                       subject=f"{invitation.campaign.brand.name} accepted your counter-offer",
                       text=f"{Money(invitation.counter_fee, invitation.currency)} for “{invitation.campaign.title}”."
                            " You can start once the brand funds escrow.",
                       link=f"/marketplace/collaborations/{collaboration.pk}/")
    return collaboration


def counter_decline(*, invitation: Invitation, actor: User) -> Invitation:
    _require_brand_side(invitation, actor)
    with transaction.atomic():
        invitation = _locked(invitation)
        _require_open(invitation, S.COUNTERED, "declined")
        _move(invitation, S.DECLINED, actor=actor, action="invitation.counter_declined", declined_by="brand")
        notify_creator(invitation.creator,
                       subject=f"{invitation.campaign.brand.name} declined your counter-offer",
                       text=f"The invitation to “{invitation.campaign.title}” is closed.", link=_link(invitation))
    return invitation


def invitations_expire(*, now: datetime | None = None, batch_size: int = 500) -> int:
    """Beat: open invitations past their expiry become ``expired`` (each under its row lock)."""
    now = now or timezone.now()
    done = 0
    due = list(Invitation.objects.filter(state__in=[S.PENDING, S.COUNTERED], expires_at__lte=now)
               .order_by("expires_at").values_list("pk", flat=True)[:batch_size])
    for pk in due:
        with transaction.atomic():
            invitation = Invitation.objects.select_for_update(no_key=True).select_related(
                "campaign__brand", "creator__user").get(pk=pk)
            if invitation.state not in (S.PENDING, S.COUNTERED) or invitation.expires_at > now:
                continue  # answered meanwhile
            _move(invitation, S.EXPIRED, actor=None, action="invitation.expired")  # type: ignore[arg-type]
            text = f"The invitation to “{invitation.campaign.title}” expired unanswered."
            notify_brand(invitation.campaign.brand_id, subject="An invitation expired", text=text,
                         link=_link(invitation))
            notify_creator(invitation.creator, subject="An invitation expired", text=text, link=_link(invitation))
            done += 1
    return done


def campaign_report(campaign: Campaign) -> dict[str, Any]:
    """Invitations sent / accepted, deliverables submitted / approved, spend (what escrow paid out
    to creators, and what the brand's cards were charged, less refunds)."""
    from django.db.models import Count, Sum

    invitations = campaign.invitations.aggregate(sent=Count("id"),
                                                 accepted=Count("id", filter=Q(state=S.ACCEPTED)))
    c = Collaboration.State
    collabs = campaign.collaborations.aggregate(
        submitted=Count("id", filter=Q(submitted_at__isnull=False)),
        approved=Count("id", filter=Q(state=c.RELEASED)),
        released=Sum("fee", filter=Q(state=c.RELEASED)),
        in_escrow=Sum("fee", filter=Q(state__in=[c.FUNDED, c.SUBMITTED, c.REVISION_REQUESTED, c.ESCALATED])))
    from creatornext.payments.models import Payment

    paid = Payment.objects.filter(purpose="escrow", pk__in=campaign.collaborations.values("payment_id"),
                                  status__in=["succeeded", "refunded", "disputed"]).aggregate(
        gross=Sum("amount"), refunded=Sum("refunded_amount"))
    cur = campaign.currency
    return {"campaign": campaign.pk, "invitations_sent": invitations["sent"],
            "invitations_accepted": invitations["accepted"],
            "deliverables_submitted": collabs["submitted"], "deliverables_approved": collabs["approved"],
            "released": Money(collabs["released"] or 0, cur), "in_escrow": Money(collabs["in_escrow"] or 0, cur),
            "spend": Money((paid["gross"] or 0) - (paid["refunded"] or 0), cur),
            "budget": Money(campaign.budget, cur)}
