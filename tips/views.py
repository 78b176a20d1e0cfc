"""Tip pages: what a fan sent and what a creator received, with the breakdown."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from creatornext.accounts.models import User
from creatornext.money import Money
from tips import selectors


def _rows(tips, viewer):
    rows = []
    for tip in tips[:200]:
        fee = tip.payment.fee if tip.payment else None
        rows.append({
            "tip": tip, "amount": Money(tip.amount, tip.currency),
            "fee": None if fee is None else Money(fee, tip.currency),
            "net": None if fee is None else Money(tip.amount - fee, tip.currency),
            "fan": tip.fan.username if (tip.fan_id == viewer.pk or not tip.anonymous) else "Anonymous",
        })
    return rows


@login_required
def sent(request: HttpRequest) -> HttpResponse:
    assert isinstance(request.user, User)
    return render(request, "tips/list.html", {
        "title": "Tips you sent", "direction": "sent",
        "rows": _rows(selectors.tips_of(request.user, "sent"), request.user)})


@login_required
def received(request: HttpRequest) -> HttpResponse:
    assert isinstance(request.user, User)
    return render(request, "tips/list.html", {
        "title": "Tips you received", "direction": "received",
        "rows": _rows(selectors.tips_of(request.user, "received"), request.user)})
