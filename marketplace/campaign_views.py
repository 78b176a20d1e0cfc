"""Pages for campaigns, invitations and collaborations (brands and creators). They call the same
services as the API; funding takes the card in the browser (static/js/collaboration.js with pay.js)
and posts to the API with an Idempotency-Key. Other actions are plain forms: a repeated form post
finds the state already moved and is refused (409 in the API, a message here)."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.dateparse import parse_date

from creatornext.accounts import selectors as account_selectors
from creatornext.accounts.models import User
from creatornext.core.api import DomainError
from creatornext.money import Money, MoneyError
from creatornext.payments.provider import stripe_js_url
from marketplace import campaigns, escrow, selectors, taxonomy
from marketplace.models import Invitation
from marketplace.services import CURRENCY
from marketplace.views import _errors


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)  # login_required
    return request.user


def _attempt(request: HttpRequest, action: Callable[[], Any], success: str) -> bool:
    """Run a service; show its refusal as messages. True when it went through."""
    try:
        action()
    except ValidationError as exc:
        for message in _errors(exc):
            messages.error(request, message)
        return False
    except DomainError as exc:
        messages.error(request, exc.message)
        return False
    messages.success(request, success)
    return True


def _money(text: str, field: str) -> Money:
    try:
        return Money.parse(text.strip(), CURRENCY)
    except MoneyError as exc:
        raise ValidationError({field: [str(exc)]}) from None


# --- campaigns (brand members) -----------------------------------------------------------------
@login_required
def campaigns_page(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    brands = list(account_selectors.brands_of(user))
    if request.method == "POST":
        done: dict[str, Any] = {}

        def create() -> None:
            brand = selectors.brand_of_member(user, int(request.POST.get("brand") or 0))
            if brand is None:
                raise ValidationError({"brand": ["Choose one of your brands."]})
            day = parse_date(request.POST.get("deadline", ""))
            if day is None:
                raise ValidationError({"deadline": ["Give a date."]})
            created = campaigns.campaign_create(
                brand=brand, actor=user, title=request.POST.get("title", ""), brief=request.POST.get("brief", ""),
                deliverables=request.POST.getlist("deliverables"),
                budget=_money(request.POST.get("budget", ""), "budget"),
                deadline=datetime.datetime.combine(day, datetime.time(23, 59), tzinfo=datetime.UTC))
            done["campaign"] = created

        if _attempt(request, create, "Campaign created."):
            return redirect("marketplace-campaign", done["campaign"].pk)
        return redirect("marketplace-campaigns")
    return render(request, "marketplace/campaigns.html", {
        "brands": brands, "campaigns": campaigns.campaigns_of(user).order_by("-pk")[:200],
        "deliverables": taxonomy.DELIVERABLE_LABELS})


@login_required
def campaign_page(request: HttpRequest, campaign_id: int) -> HttpResponse:
    user = _user(request)
    campaign = campaigns.campaign_for(user, campaign_id)
    if campaign is None:
        raise Http404
    if request.method == "POST":
        action, invitation_id = request.POST.get("action"), int(request.POST.get("invitation") or 0)
        invitation = campaign.invitations.filter(pk=invitation_id).first()
        if action == "invite":
            handle = request.POST.get("creator", "").strip().lstrip("@")
            _attempt(request, lambda: campaigns.invitation_create(
                campaign=campaign, actor=user, handle=handle, fee=_money(request.POST.get("fee", ""), "fee"),
                message=request.POST.get("message", "")), f"@{handle} is invited.")
        elif action in ("accept-counter", "decline-counter") and invitation is not None:
            service = campaigns.counter_accept if action == "accept-counter" else campaigns.counter_decline
            _attempt(request, lambda: service(invitation=invitation, actor=user),
                     "Counter-offer accepted: fund escrow to start." if action == "accept-counter"
                     else "Counter-offer declined.")
        return redirect("marketplace-campaign", campaign.pk)
    invitations = campaign.invitations.select_related("creator").order_by("-pk")
    collabs = {c.invitation_id: c for c in campaign.collaborations.all()}
    return render(request, "marketplace/campaign.html", {
        "campaign": campaign, "budget": Money(campaign.budget, campaign.currency),
        "rows": [{"invitation": i, **_prices(i), "collaboration": collabs.get(i.pk)} for i in invitations],
        "report": campaigns.campaign_report(campaign)})


# --- invitations (creators and brands) ---------------------------------------------------------
def _prices(invitation: Invitation) -> dict[str, Money | None]:
    """The offer and the counter-offer (None if none) as Money, for the templates."""
    counter = invitation.counter_fee
    return {"fee": Money(invitation.fee, invitation.currency),
            "counter": None if counter is None else Money(counter, invitation.currency)}


@login_required
def invitations_page(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    rows = [{"invitation": i, **_prices(i), "mine": i.creator.user_id == user.pk}
            for i in campaigns.invitations_of(user).order_by("-pk")[:200]]
    return render(request, "marketplace/invitations.html", {"rows": rows})


@login_required
def invitation_page(request: HttpRequest, invitation_id: int) -> HttpResponse:
    user = _user(request)
    invitation = campaigns.invitation_for(user, invitation_id)
    if invitation is None:
        raise Http404
    is_creator = invitation.creator.user_id == user.pk
    if request.method == "POST":
        action = request.POST.get("action")
        done: dict[str, Any] = {}
        if is_creator and action == "accept":
            _attempt(request, lambda: done.update(c=campaigns.invitation_accept(invitation=invitation, actor=user)),
                     "Accepted. The brand funds escrow next.")
        elif is_creator and action == "decline":
            _attempt(request, lambda: campaigns.invitation_decline(invitation=invitation, actor=user), "Declined.")
        elif is_creator and action == "counter":
            _attempt(request, lambda: campaigns.invitation_counter(
                invitation=invitation, actor=user, fee=_money(request.POST.get("fee", ""), "fee")),
                "Counter-offer sent.")
        elif not is_creator and action in ("accept-counter", "decline-counter"):
            service = campaigns.counter_accept if action == "accept-counter" else campaigns.counter_decline
            _attempt(request, lambda: done.update(c=service(invitation=invitation, actor=user)),
                     "Counter-offer answered.")
        if "c" in done and hasattr(done["c"], "fund_by"):
            return redirect("marketplace-collaboration", done["c"].pk)
        return redirect("marketplace-invitation", invitation.pk)
    collaboration = getattr(invitation, "collaboration", None) if invitation.state == Invitation.State.ACCEPTED \
        else None
    return render(request, "marketplace/invitation.html", {
        "invitation": invitation, "is_creator": is_creator, **_prices(invitation),
        "open": invitation.state in ("pending", "countered") and invitation.expires_at > timezone.now(),
        "collaboration": collaboration})


# --- collaborations ----------------------------------------------------------------------------
@login_required
def collaborations_page(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    rows = [{"c": c, "fee": Money(c.fee, c.currency), "side": escrow.side_of(user, c)}
            for c in escrow.collaborations_of(user).order_by("-pk")[:200]]
    return render(request, "marketplace/collaborations.html", {"rows": rows})


@login_required
def collaboration_page(request: HttpRequest, collaboration_id: int) -> HttpResponse:
    user = _user(request)
    collaboration = escrow.collaboration_for(user, collaboration_id)
    if collaboration is None:
        raise Http404
    side = escrow.side_of(user, collaboration)
    if request.method == "POST":
        action, post = request.POST.get("action"), request.POST
        actions: dict[tuple[str, str], tuple[Callable[[], Any], str]] = {
            ("creator", "submit"): (lambda: escrow.collaboration_submit(
                collaboration=collaboration, actor=user, url=post.get("url", "")), "Deliverable submitted."),
            ("brand", "approve"): (lambda: escrow.collaboration_approve(collaboration=collaboration, actor=user),
                                   "Approved: escrow is released to the creator."),
            ("brand", "revision"): (lambda: escrow.collaboration_request_revision(
                collaboration=collaboration, actor=user, note=post.get("note", "")), "Revision requested."),
            ("brand", "escalate"): (lambda: escrow.collaboration_escalate(
                collaboration=collaboration, actor=user, note=post.get("note", "")), "Sent to our staff."),
            (side, "cancel"): (lambda: escrow.collaboration_cancel(
                collaboration=collaboration, actor=user, reason=post.get("reason", "")), "Cancelled."),
            (side, "message"): (lambda: escrow.message_post(
                collaboration=collaboration, actor=user, body=post.get("body", "")), "Message sent."),
        }
        found = actions.get((side, action or ""))
        if found is not None:
            _attempt(request, found[0], found[1])
        return redirect("marketplace-collaboration", collaboration.pk)
    from marketplace.campaigns_api import collaboration_data

    return render(request, "marketplace/collaboration.html", {
        "c": collaboration, "data": collaboration_data(collaboration, user), "side": side,
        "stripe_js_url": stripe_js_url(), "stripe_publishable_key": settings.STRIPE_PUBLISHABLE_KEY})
