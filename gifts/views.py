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


@ensure_csrf_cookie
def live_stream(request: HttpRequest, stream_id: int) -> HttpResponse:
    from django.http import Http404
    from django.templatetags.static import static

    from gifts.models import Gift, LiveStream

    stream = LiveStream.objects.select_related("creator__user").filter(pk=stream_id).first()
    if stream is None:
        raise Http404("No such live stream.")
    is_owner = request.user.is_authenticated and request.user.pk == stream.creator.user_id
    catalog = [{"gift": g, "icon": static(g.icon)} for g in Gift.objects.filter(active=True)]
    return render(request, "gifts/live.html", {"stream": stream, "is_owner": is_owner, "catalog": catalog})


@login_required
@ensure_csrf_cookie
def diamonds(request: HttpRequest) -> HttpResponse:
    from creatornext.accounts.models import CreatorProfile
    from gifts.models import LiveStream, Redemption

    assert isinstance(request.user, User)
    profile = CreatorProfile.objects.filter(user=request.user).first()
    if profile is None:
        return render(request, "gifts/not_a_creator.html", status=403)
    balance = ledger.wallet(request.user)["diamonds"]
    rate = services.redemption_rate()
    cents, paid_for = services.redemption_quote(balance, rate)
    return render(request, "gifts/diamonds.html", {
        "balance": balance, "worth": Money(cents, "USD"), "paid_for": paid_for,
        "redemptions": Redemption.objects.filter(creator=profile).order_by("-pk")[:50],
        "live": LiveStream.objects.filter(creator=profile, ended_at__isnull=True).first(),
    })
