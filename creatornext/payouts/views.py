"""Payout pages for creators: account status, withdraw form, history; and the onboarding hop."""

from __future__ import annotations

import uuid

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone

from creatornext.accounts.models import CreatorProfile, User
from creatornext.core.api import DomainError
from creatornext.ledger import selectors as ledger
from creatornext.money import CURRENCIES, Money, MoneyError
from creatornext.payments.provider import ProviderError
from creatornext.payouts import selectors, services
from creatornext.payouts.api import item_data, withdrawal_data


def _creator_or_page(request: HttpRequest) -> HttpResponse | None:
    assert isinstance(request.user, User)
    if not CreatorProfile.objects.filter(user=request.user).exists():
        return render(request, "payouts/not_a_creator.html", status=403)
    return None


def _cash(user: User) -> list[dict]:
    return [{k: (Money(v, row["currency"]) if k != "currency" else v) for k, v in row.items()}
            for row in ledger.wallet(user)["cash"]]


@login_required
def account(request: HttpRequest) -> HttpResponse:
    assert isinstance(request.user, User)
    if (refused := _creator_or_page(request)) is not None:
        return refused
    payout_account = selectors.payout_account_of(request.user)
    if request.method == "POST":
        action = request.POST.get("action")
        if action == "connect":
            payout_account, _ = services.payout_account_start(user=request.user)
            return redirect(services.onboarding_url(payout_account, request.build_absolute_uri("/")))
        if action in ("auto_on", "auto_off") and payout_account is not None:
            services.payout_account_set_auto(account=payout_account, auto_withdraw=action == "auto_on",
                                             actor=request.user)
            messages.success(request, "Automatic weekly withdrawal is "
                             + ("on." if action == "auto_on" else "off."))
        return redirect("payouts-account")
    until = services.cooling_off_until(payout_account) if payout_account else None
    return render(request, "payouts/account.html", {
        "account": payout_account, "cooling_off_until": until,
        "cooling_off": until is not None and until > timezone.now(), "cash": _cash(request.user)})


class WithdrawForm(forms.Form):
    amount = forms.CharField(label="Amount", max_length=20, help_text="For example 25.00",
                             widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}))
    currency = forms.ChoiceField(label="Currency", choices=[(c, c) for c in sorted(CURRENCIES)])

    def clean(self) -> dict:
        data = super().clean() or {}
        if "amount" in data and "currency" in data:
            try:
                data["money"] = Money.parse(data["amount"], data["currency"])
            except MoneyError as exc:
                self.add_error("amount", str(exc))
        return data


@login_required
def withdraw(request: HttpRequest) -> HttpResponse:
    assert isinstance(request.user, User)
    if (refused := _creator_or_page(request)) is not None:
        return refused
    form = WithdrawForm(request.POST or None, initial={"currency": "USD"})
    if request.method == "POST" and form.is_valid():
        # One submission per rendered form: a double click cannot withdraw twice.
        if request.session.pop("withdraw_nonce", None) != request.POST.get("nonce"):
            messages.info(request, "That form was already sent.")
            return redirect("payouts-history")
        try:
            services.withdrawal_create(user=request.user, amount=form.cleaned_data["money"])
        except DomainError as exc:
            form.add_error(None, exc.message)
        except ValidationError as exc:
            form.add_error("amount", exc.message_dict.get("amount", exc.messages))
        else:
            messages.success(request, f"Withdrawal of {form.cleaned_data['money']} requested.")
            return redirect("payouts-history")
    nonce = uuid.uuid4().hex
    request.session["withdraw_nonce"] = nonce
    return render(request, "payouts/withdraw.html", {
        "form": form, "nonce": nonce, "cash": _cash(request.user),
        "account": selectors.payout_account_of(request.user)})


@login_required
def history(request: HttpRequest) -> HttpResponse:
    assert isinstance(request.user, User)
    if (refused := _creator_or_page(request)) is not None:
        return refused
    withdrawals = [withdrawal_data(w) | {"item": item_data(w.item) if hasattr(w, "item") else None}
                   for w in selectors.withdrawals_of(request.user)[:200]]
    return render(request, "payouts/history.html", {"withdrawals": withdrawals})


def onboard(request: HttpRequest, token: str) -> HttpResponse:
    """Our signed link from ``POST /api/v1/payout-account/``: make a fresh provider link, go there."""
    payout_account = services.account_from_token(token)
    if payout_account is None:
        return HttpResponseBadRequest("This onboarding link is invalid or expired. Start again.")
    base = settings.SITE_URL or request.build_absolute_uri("/")
    if not base.startswith("http") or request.get_host() not in base:
        base = request.build_absolute_uri("/")
    try:
        url = services.payout_account_provider_link(
            account=payout_account, return_url=base.rstrip("/") + reverse("payouts-return"),
            refresh_url=base.rstrip("/") + reverse("payouts-onboard", args=[token]))
    except ProviderError:
        return render(request, "payouts/provider_down.html", status=503)
    return redirect(url)


@login_required
def onboarding_return(request: HttpRequest) -> HttpResponse:
    """Back from the provider: ask it for the account's state now (the webhook may be later)."""
    payout_account = selectors.payout_account_of(request.user)
    if payout_account is not None:
        try:
            services.payout_account_refresh(account=payout_account)
        except ProviderError:
            messages.warning(request, "We could not reach the payment provider; your status will update shortly.")
    return redirect("payouts-account")
