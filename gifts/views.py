"""Pages: buy coins, the wallet with gift history."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import ensure_csrf_cookie

from creatornext.accounts.models import User
from creatornext.ledger import selectors as ledger
from creatornext.money import Money
from creatornext.payments.provider import stripe_js_url
from gifts import services
from gifts.models import CoinPack, GiftSend


@login_required
@ensure_csrf_cookie
def buy_coins(request: HttpRequest) -> HttpResponse:
    from django.conf import settings

    packs = [{"pack": p, "price": Money(p.price, p.currency)} for p in CoinPack.objects.filter(active=True)]
    return render(request, "gifts/coins.html", {
        "packs": packs, "coins": ledger.wallet(request.user)["coins"],
        "stripe_js_url": stripe_js_url(), "stripe_publishable_key": settings.STRIPE_PUBLISHABLE_KEY})


@login_required
def wallet(request: HttpRequest) -> HttpResponse:
    user = request.user
    assert isinstance(user, User)
    balances = ledger.wallet(user)
    cash = [{"currency": c["currency"], **{k: Money(c[k], c["currency"]) for k in
                                           ("pending", "available", "in_payout", "debt")}}
            for c in balances["cash"]]
    sent = GiftSend.objects.select_related("gift", "creator").filter(fan=user).order_by("-pk")[:50]
    received = GiftSend.objects.select_related("gift", "fan").filter(creator__user=user).order_by("-pk")[:50]
    return render(request, "gifts/wallet.html", {
        "balances": balances, "cash": cash,
        "diamond_value": services.breakdown(0, balances["diamonds"]).creator_value,
        "sent": sent, "received": received})
