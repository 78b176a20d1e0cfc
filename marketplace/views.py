"""Marketplace pages: search with creator cards, shortlists, brand sign-up and team, the creator's
profile editor. They call the same selectors and services as the API."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST
from rest_framework.exceptions import ValidationError as ApiValidationError

from creatornext.accounts import selectors as account_selectors
from creatornext.accounts import services as account_services
from creatornext.accounts.models import Brand, BrandMembership, CreatorProfile, User
from creatornext.core.api import DomainError
from creatornext.money import Money, MoneyError
from eligibility import services as eligibility_services
from eligibility.selectors import enrollment_status
from marketplace import api, selectors, services, taxonomy
from marketplace.models import MarketplaceProfile


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)  # login_required
    return user


def refuse(form: forms.Form, exc: ValidationError | DomainError,
           field_of: Callable[[str], str] = lambda name: name) -> None:
    """Show a service's refusal on the page's form, as the withdraw page and the profile editor do:
    each field's messages next to that field (``field_of`` maps a service field to the form's),
    the rest — a state conflict, a missing permission — above the form. The view then renders the
    form again (200) with what was typed in it; only a success redirects (POST/redirect/GET)."""
    if isinstance(exc, DomainError):
        form.add_error(None, exc.message)
    elif hasattr(exc, "error_dict"):
        for field, errors in exc.message_dict.items():
            name = field_of(field)
            form.add_error(name if name in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)


def text_field(label: str, max_length: int, *, rows: int = 0, required: bool = True,
               check_length: bool = False, widget_class: type[forms.widgets.Input] = forms.TextInput,
               ) -> forms.CharField:
    """A text input for a form whose service checks the text (empty, too long, NUL): the browser
    gets ``maxlength`` and ``required``, the service gives the messages. ``check_length`` checks
    the length here too, for a service that does not."""
    attrs: dict[str, Any] = {"maxlength": max_length, **({"required": True} if required else {})}
    widget = forms.Textarea(attrs={"rows": rows, **attrs}) if rows else widget_class(attrs=attrs)
    return forms.CharField(label=label, required=False, widget=widget,
                           max_length=max_length if check_length else None,
                           error_messages={"max_length": f"At most {max_length:,} characters."})


def _errors(exc: ValidationError | ApiValidationError) -> list[str]:
    if isinstance(exc, ApiValidationError):
        detail = exc.detail
        if isinstance(detail, dict):
            return [f"{k.replace('_', ' ')}: {' '.join(str(m) for m in v)}" for k, v in detail.items()]
        return [str(d) for d in detail]
    if hasattr(exc, "error_dict"):
        return [f"{k.replace('_', ' ')}: {' '.join(v)}" for k, v in exc.message_dict.items()]
    return list(exc.messages)


# --- search ------------------------------------------------------------------------------------
FILTER_FIELDS = ("q", "country", "category", "language", "min_followers", "max_followers",
                 "min_avg_views", "max_avg_views", "min_engagement_rate_bps", "audience_country",
                 "audience_country_min_pct", "audience_gender", "audience_gender_min_pct",
                 "audience_age", "audience_age_min_pct", "ordering", "cursor")


@login_required
def marketplace_home(request: HttpRequest) -> HttpResponse:
    """Brand members search here; everyone else finds the way to a brand or to their profile."""
    user = _user(request)
    if not account_selectors.is_brand_member(user):
        return render(request, "marketplace/start.html", {
            "creator": CreatorProfile.objects.filter(user=user).first()})
    query = {k: v for k in FILTER_FIELDS if (v := request.GET.get(k, "").strip())}
    errors: list[str] = []
    page = None
    try:
        _, page = api.run_search(query)
    except ApiValidationError as exc:
        errors = _errors(exc)
    cards = [json.loads(card) for card in page.results] if page else []
    base = request.get_full_path()
    return render(request, "marketplace/search.html", {
        "query": query, "errors": errors, "cards": cards,
        "next": api.page_link(base, page.next) if page else None,
        "previous": api.page_link(base, page.previous) if page else None,
        "shortlists": list(selectors.shortlists_of(user).order_by("brand__name", "name")),
        "taxonomy": taxonomy, "here": base,
    })


# --- shortlists --------------------------------------------------------------------------------
def _back(request: HttpRequest, default: str) -> HttpResponse:
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return redirect(target)
    return redirect(default)


class BrandChoice(forms.ModelChoiceField):
    """One of the user's brands (anything else, "abc" included, is "Choose one of your brands.")."""

    def __init__(self, brands: Any, *, mark_unverified: bool = False, **kwargs: Any) -> None:
        message = "Choose one of your brands."
        self.mark_unverified = mark_unverified
        super().__init__(queryset=brands, label="Brand", empty_label=None,
                         error_messages={"required": message, "invalid_choice": message}, **kwargs)

    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.name} (not verified yet)" if self.mark_unverified and not obj.verified_at else obj.name


class ShortlistForm(forms.Form):
    name = text_field("Name", 120)

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["brand"] = BrandChoice(account_selectors.brands_of(user))


@login_required
def shortlists_page(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    brands = list(account_selectors.brands_of(user))
    form = ShortlistForm(request.POST or None, user=user)
    if request.method == "POST" and form.is_valid():
        try:
            shortlist = services.shortlist_create(brand=form.cleaned_data["brand"], actor=user,
                                                  name=form.cleaned_data["name"])
        except (ValidationError, DomainError) as exc:
            refuse(form, exc)
        else:
            messages.success(request, f"Shortlist “{shortlist.name}” created.")
            return redirect("marketplace-shortlist", shortlist.pk)
    shortlists = selectors.shortlists_of(user).order_by("brand__name", "name")[:500]
    return render(request, "marketplace/shortlists.html", {"brands": brands, "shortlists": shortlists,
                                                           "form": form})


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


class RenameForm(forms.Form):
    name = text_field("Rename", 120)


@login_required
def shortlist_page(request: HttpRequest, shortlist_id: int) -> HttpResponse:
    user = _user(request)
    shortlist = selectors.shortlist_for(user, shortlist_id)
    if shortlist is None:
        raise Http404
    action = request.POST.get("action") if request.method == "POST" else None
    form = RenameForm(request.POST if action == "rename" else None, initial={"name": shortlist.name})
    if action == "rename":
        if form.is_valid():
            try:
                services.shortlist_rename(shortlist=shortlist, actor=user, name=form.cleaned_data["name"])
            except ValidationError as exc:
                refuse(form, exc)
            else:
                messages.success(request, "Renamed.")
                return redirect("marketplace-shortlist", shortlist.pk)
    elif request.method == "POST":  # buttons: nothing typed to keep, so a message and the page again
        try:
            if action == "delete":
                services.shortlist_delete(shortlist=shortlist, actor=user)
                messages.success(request, f"Shortlist “{shortlist.name}” deleted.")
                return redirect("marketplace-shortlists")
            if action == "remove":
                handle = request.POST.get("handle", "")
                if services.shortlist_remove(shortlist=shortlist, actor=user, handle=handle):
                    messages.success(request, f"@{handle} removed.")
        except ValidationError as exc:
            for message in _errors(exc):
                messages.error(request, message)
        return redirect("marketplace-shortlist", shortlist.pk)
    return render(request, "marketplace/shortlist.html", {
        "shortlist": shortlist, "rows": selectors.shortlist_entries(shortlist), "form": form})


@login_required
@require_POST
def shortlist_add(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    shortlist = selectors.shortlist_for(user, _int(request.POST.get("shortlist")))
    if shortlist is None:
        raise Http404
    handle = request.POST.get("handle", "")
    try:
        _, created = services.shortlist_add(shortlist=shortlist, actor=user, handle=handle)
    except (ValidationError, DomainError) as exc:
        for message in (_errors(exc) if isinstance(exc, ValidationError) else [exc.message]):
            messages.error(request, message)
    else:
        messages.success(request, f"@{handle} {'added to' if created else 'is already on'} "
                                  f"“{shortlist.name}”.")
    return _back(request, reverse("marketplace"))


# --- brands ------------------------------------------------------------------------------------
class BrandForm(forms.Form):
    name = text_field("Brand name", 120)


@login_required
def brands_page(request: HttpRequest) -> HttpResponse:
    """Brand sign-up: create a brand (you become its owner) and see your brands."""
    user = _user(request)
    form = BrandForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            brand = account_services.brand_create(user=user, name=form.cleaned_data["name"])
        except ValidationError as exc:
            refuse(form, exc)
        else:
            messages.success(request, f"{brand.name} is created. Staff will verify it before it can "
                                      "contact creators; you can search and shortlist already.")
            return redirect("marketplace-brand", brand.pk)
    return render(request, "marketplace/brands.html", {"brands": account_selectors.brands_of(user),
                                                       "form": form})


class MemberForm(forms.Form):
    username = text_field("Username", 150)
    role = forms.ChoiceField(label="Role", choices=[("manager", "Manager"), ("owner", "Owner")],
                             error_messages={"invalid_choice": "Choose owner or manager.",
                                             "required": "Choose owner or manager."})


@login_required
def brand_page(request: HttpRequest, brand_id: int) -> HttpResponse:
    """A brand's team; owners add members."""
    user = _user(request)
    membership = account_selectors.brand_membership(user, brand_id)
    if membership is None:
        raise Http404
    brand: Brand = membership.brand
    is_owner = membership.role == BrandMembership.Role.OWNER
    form = MemberForm(request.POST or None)
    if request.method == "POST":
        if not is_owner:
            messages.error(request, "Only the brand's owners can change its team.")
            return redirect("marketplace-brand", brand.pk)
        if form.is_valid():
            try:
                added = account_services.brand_member_add(
                    brand=brand, actor=user, username=form.cleaned_data["username"],
                    role=form.cleaned_data["role"])
            except ValidationError as exc:
                refuse(form, exc)
            else:
                messages.success(request, f"{added.user.username} joined as {added.role}.")
                return redirect("marketplace-brand", brand.pk)
    members = brand.memberships.select_related("user").order_by("role", "user__username")
    return render(request, "marketplace/brand.html", {"brand": brand, "members": members,
                                                      "is_owner": is_owner, "form": form})


# --- the creator's profile editor --------------------------------------------------------------
class AmountField(forms.CharField):
    """An amount in USD as a person types it, cleaned to ``Money`` (``Money.parse``'s message next
    to the field for anything else: words, a fraction of a cent, 5,000 digits); left empty where
    not required: None."""

    def __init__(self, label: str, **kwargs: Any) -> None:
        super().__init__(label=label, max_length=None, error_messages={"required": "Give an amount, e.g. 400."},
                         widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}), **kwargs)

    def clean(self, value: Any) -> Any:
        text = super().clean(value).strip()
        if not text:
            return None
        try:
            return Money.parse(text, services.CURRENCY)
        except MoneyError as exc:
            raise ValidationError(str(exc)) from None


class ProfileForm(forms.Form):
    bio = forms.CharField(widget=forms.Textarea(attrs={"rows": 5}), max_length=1000, required=False)
    categories = forms.MultipleChoiceField(
        choices=[(c, c.title()) for c in taxonomy.CATEGORIES], widget=forms.CheckboxSelectMultiple,
        help_text="One to three.")
    languages = forms.CharField(max_length=40, help_text="ISO 639-1 codes, separated by commas: en, es")
    country = forms.CharField(max_length=2, min_length=2, help_text="ISO 3166-1 alpha-2, e.g. US")
    rate_video = AmountField("Starting rate: one sponsored video (USD)", required=False)
    rate_live = AmountField("Starting rate: a sponsored LIVE (USD)", required=False)
    rate_series = AmountField("Starting rate: a series of three videos (USD)", required=False)

    def rates(self) -> dict[str, Money]:
        return {d: money for d in taxonomy.DELIVERABLES if (money := self.cleaned_data.get(f"rate_{d}"))}


def _initial(profile: MarketplaceProfile) -> dict[str, Any]:
    initial: dict[str, Any] = {"bio": profile.bio, "categories": profile.categories,
                               "languages": ", ".join(profile.languages), "country": profile.country}
    for deliverable, money in profile.rates.items():
        initial[f"rate_{deliverable}"] = str(Money.from_api(money).to_decimal())
    return initial


@login_required
def profile_editor(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    creator = CreatorProfile.objects.filter(user=user).first()
    if creator is None:
        return render(request, "marketplace/start.html", {"creator": None})
    profile = (MarketplaceProfile.objects.filter(creator=creator).first()
               or services.profile_draft(creator))
    status = enrollment_status(creator, services.PROGRAM) or "not_enrolled"
    form = ProfileForm(request.POST or None, initial=_initial(profile))
    if request.method == "POST" and form.is_valid():
        try:
            profile = services.profile_update(
                creator=creator, actor=user, bio=form.cleaned_data["bio"],
                categories=form.cleaned_data["categories"],
                languages=[c.strip() for c in form.cleaned_data["languages"].split(",") if c.strip()],
                country=form.cleaned_data["country"], rates=form.rates())
        except eligibility_services.EligibilityError as exc:
            messages.error(request, exc.message)
        except ValidationError as exc:
            refuse(form, exc, lambda field: field if field in form.fields
                   else f"rate_{field.split('.')[-1]}")
        else:
            messages.success(request, "Your marketplace profile is saved.")
            return redirect("marketplace-profile")
    return render(request, "marketplace/profile.html", {
        "form": form, "profile": profile, "creator": creator, "status": status,
        "listed": profile.pk is not None and selectors.is_listed(profile)})

