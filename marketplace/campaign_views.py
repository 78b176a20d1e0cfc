"""Pages for campaigns, invitations and collaborations (brands and creators). They call the same
services as the API; funding takes the card in the browser (static/js/collaboration.js with pay.js)
and posts to the API with an Idempotency-Key. Other actions are plain forms: a repeated form post
finds the state already moved and is refused (409 in the API, a message here). A form with typed
input that is refused renders again (200) with what was typed and each message next to its field
(``views.refuse``, templates/includes/form.html); only a success redirects."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone

from creatornext.accounts import selectors as account_selectors
from creatornext.accounts.models import User
from creatornext.core.api import DomainError
from creatornext.money import Money
from creatornext.payments.provider import stripe_js_url
from marketplace import campaigns, escrow, taxonomy
from marketplace.models import Campaign, Invitation
from marketplace.views import AmountField, BrandChoice, _errors, _int, _user, refuse, text_field


def _attempt(request: HttpRequest, action: Callable[[], Any], success: str) -> bool:
    """Run a service for a button (nothing typed to keep); show its refusal as messages. True when
    it went through. Forms with typed input re-render instead (``views.refuse``)."""
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


# --- campaigns (brand members) -----------------------------------------------------------------
class CampaignForm(forms.Form):
    title = text_field("Title", 120)
    brief = text_field("Brief", 5000, rows=4, required=False)
    deliverables = forms.MultipleChoiceField(label="Deliverables", required=False,
                                             choices=list(taxonomy.DELIVERABLE_LABELS.items()),
                                             widget=forms.CheckboxSelectMultiple)
    budget = AmountField("Budget (USD)")
    deadline = forms.DateField(label="Deadline", widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
                               input_formats=["%Y-%m-%d"],
                               error_messages={"required": "Give a date.",
                                               "invalid": "Give a real date, e.g. 2031-02-28."})

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        kwargs.setdefault("initial", {"deliverables": [taxonomy.DELIVERABLES[0]]})
        super().__init__(*args, **kwargs)
        self.fields["brand"] = BrandChoice(account_selectors.brands_of(user), mark_unverified=True)
        self.order_fields(["brand"])


@login_required
def campaigns_page(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    brands = list(account_selectors.brands_of(user))
    form = CampaignForm(request.POST or None, user=user)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            created = campaigns.campaign_create(
                brand=data["brand"], actor=user, title=data["title"], brief=data["brief"],
                deliverables=data["deliverables"], budget=data["budget"],
                deadline=datetime.datetime.combine(data["deadline"], datetime.time(23, 59), tzinfo=datetime.UTC))
        except (ValidationError, DomainError) as exc:
            refuse(form, exc)
        else:
            messages.success(request, "Campaign created.")
            return redirect("marketplace-campaign", created.pk)
    return render(request, "marketplace/campaigns.html", {
        "brands": brands, "form": form, "campaigns": campaigns.campaigns_of(user).order_by("-pk")[:200]})


class InviteForm(forms.Form):
    creator = text_field("Creator's handle", 25)
    fee = AmountField("Fee offer (USD)")
    message = text_field("Message", 2000, rows=3, required=False)


@login_required
def campaign_page(request: HttpRequest, campaign_id: int) -> HttpResponse:
    user = _user(request)
    campaign = campaigns.campaign_for(user, campaign_id)
    if campaign is None:
        raise Http404
    action = request.POST.get("action") if request.method == "POST" else None
    form = InviteForm(request.POST if action == "invite" else None)
    if action == "invite":
        if form.is_valid():
            handle = form.cleaned_data["creator"].strip().lstrip("@")
            try:
                campaigns.invitation_create(campaign=campaign, actor=user, handle=handle,
                                            fee=form.cleaned_data["fee"], message=form.cleaned_data["message"])
            except (ValidationError, DomainError) as exc:
                refuse(form, exc)
            else:
                messages.success(request, f"@{handle} is invited.")
                return redirect("marketplace-campaign", campaign.pk)
    elif request.method == "POST":  # buttons on a row of the table
        invitation = campaign.invitations.filter(pk=_int(request.POST.get("invitation"))).first()
        if action in ("accept-counter", "decline-counter") and invitation is not None:
            service = campaigns.counter_accept if action == "accept-counter" else campaigns.counter_decline
            _attempt(request, lambda: service(invitation=invitation, actor=user),
                     "Counter-offer accepted: fund escrow to start." if action == "accept-counter"
                     else "Counter-offer declined.")
        return redirect("marketplace-campaign", campaign.pk)
    return render(request, "marketplace/campaign.html", _campaign_context(campaign) | {"form": form})


def _campaign_context(campaign: Campaign) -> dict[str, Any]:
    invitations = campaign.invitations.select_related("creator").order_by("-pk")
    collabs = {c.invitation_id: c for c in campaign.collaborations.all()}
    return {"campaign": campaign, "budget": Money(campaign.budget, campaign.currency),
            "rows": [{"invitation": i, **_prices(i), "collaboration": collabs.get(i.pk)} for i in invitations],
            "report": campaigns.campaign_report(campaign)}


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


class CounterForm(forms.Form):
    fee = AmountField("Your fee (USD)")


@login_required
def invitation_page(request: HttpRequest, invitation_id: int) -> HttpResponse:
    user = _user(request)
    invitation = campaigns.invitation_for(user, invitation_id)
    if invitation is None:
        raise Http404
    is_creator = invitation.creator.user_id == user.pk
    action = request.POST.get("action") if request.method == "POST" else None
    form = CounterForm(request.POST if is_creator and action == "counter" else None)
    if form.is_bound:
        if form.is_valid():
            try:
                campaigns.invitation_counter(invitation=invitation, actor=user, fee=form.cleaned_data["fee"])
            except (ValidationError, DomainError) as exc:
                refuse(form, exc)
            else:
                messages.success(request, "Counter-offer sent.")
                return redirect("marketplace-invitation", invitation.pk)
    elif request.method == "POST":  # buttons
        done: dict[str, Any] = {}
        if is_creator and action == "accept":
            _attempt(request, lambda: done.update(c=campaigns.invitation_accept(invitation=invitation, actor=user)),
                     "Accepted. The brand funds escrow next.")
        elif is_creator and action == "decline":
            _attempt(request, lambda: campaigns.invitation_decline(invitation=invitation, actor=user), "Declined.")
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
        "invitation": invitation, "is_creator": is_creator, **_prices(invitation), "form": form,
        "open": invitation.state in ("pending", "countered") and invitation.expires_at > timezone.now(),
        "collaboration": collaboration})


# --- collaborations ----------------------------------------------------------------------------
@login_required
def collaborations_page(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    rows = [{"c": c, "fee": Money(c.fee, c.currency), "side": escrow.side_of(user, c)}
            for c in escrow.collaborations_of(user).order_by("-pk")[:200]]
    return render(request, "marketplace/collaborations.html", {"rows": rows})


class SubmitForm(forms.Form):
    url = text_field("Video link", 500, check_length=True, widget_class=forms.URLInput)


class NoteForm(forms.Form):
    note = text_field("What should change?", 2000, rows=2, required=False, check_length=True)


class MessageForm(forms.Form):
    body = text_field("Message", 2000, rows=2, check_length=True)


class CancelForm(forms.Form):
    reason = forms.CharField(required=False, max_length=500)


# The escrow services take the text as given: these forms check its length (and, as every Django
# form, NUL) as the API's serializers do, so a page never sends the database what it refuses.
_FORMS: dict[str, type[forms.Form]] = {"submit": SubmitForm, "revision": NoteForm, "escalate": NoteForm,
                                       "message": MessageForm, "cancel": CancelForm}
_FORM_KEYS = {"submit": "submit_form", "revision": "note_form", "escalate": "note_form", "message": "message_form"}


@login_required
def collaboration_page(request: HttpRequest, collaboration_id: int) -> HttpResponse:
    user = _user(request)
    collaboration = escrow.collaboration_for(user, collaboration_id)
    if collaboration is None:
        raise Http404
    side = escrow.side_of(user, collaboration)
    forms_ = {"submit_form": SubmitForm(), "note_form": NoteForm(), "message_form": MessageForm()}
    if request.method == "POST":
        action = request.POST.get("action") or ""
        actions: dict[tuple[str, str], tuple[Callable[[dict[str, Any]], Any], str]] = {
            ("creator", "submit"): (lambda d: escrow.collaboration_submit(
                collaboration=collaboration, actor=user, url=d["url"]), "Deliverable submitted."),
            ("brand", "approve"): (lambda d: escrow.collaboration_approve(collaboration=collaboration, actor=user),
                                   "Approved: escrow is released to the creator."),
            ("brand", "revision"): (lambda d: escrow.collaboration_request_revision(
                collaboration=collaboration, actor=user, note=d["note"]), "Revision requested."),
            ("brand", "escalate"): (lambda d: escrow.collaboration_escalate(
                collaboration=collaboration, actor=user, note=d["note"]), "Sent to our staff."),
            (side, "cancel"): (lambda d: escrow.collaboration_cancel(
                collaboration=collaboration, actor=user, reason=d["reason"]), "Cancelled."),
            (side, "message"): (lambda d: escrow.message_post(
                collaboration=collaboration, actor=user, body=d["body"]), "Message sent."),
        }
        found = actions.get((side, action))
        if found is None:
            return redirect("marketplace-collaboration", collaboration.pk)
        service, success = found
        form_class = _FORMS.get(action)
        form = form_class(request.POST) if form_class is not None else None
        if form is None or isinstance(form, CancelForm):  # buttons: nothing typed to keep
            if form is not None and not form.is_valid():
                for errors in form.errors.values():
                    for message in errors:
                        messages.error(request, str(message))
            else:
                _attempt(request, lambda: service(form.cleaned_data if form is not None else {}), success)
            return redirect("marketplace-collaboration", collaboration.pk)
        if form.is_valid():
            try:
                service(form.cleaned_data)
            except ValidationError as exc:
                refuse(form, exc)
            except DomainError as exc:  # the state moved on: the form may be gone from the page
                messages.error(request, exc.message)
            else:
                messages.success(request, success)
                return redirect("marketplace-collaboration", collaboration.pk)
        forms_[_FORM_KEYS[action]] = form
    from marketplace.campaigns_api import collaboration_data

    return render(request, "marketplace/collaboration.html", {
        "c": collaboration, "data": collaboration_data(collaboration, user), "side": side, **forms_,
        "stripe_js_url": stripe_js_url(), "stripe_publishable_key": settings.STRIPE_PUBLISHABLE_KEY})
