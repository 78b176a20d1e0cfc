"""Pages composed from several apps (the composition root may read any app's selectors)."""

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.templatetags.static import static
from django.views.decorators.csrf import ensure_csrf_cookie

from creatornext.accounts.models import User
from creatornext.accounts.selectors import creator_by_handle
from creatornext.ledger.models import COIN, DIAMOND, MICRO_DIAMOND, AccountKind
from creatornext.money import Money
from creatornext.payments.provider import stripe_js_url
from creatornext.site import charts, selectors
from creatornext.site.selectors import INCOME_SERIES, PERIODS, SERIES_LABELS
from eligibility import selectors as eligibility
from eligibility.views import STATUS_LABELS
from gifts.models import Gift, Video
from tips import selectors as tips
from tips.config import MESSAGE_MAX, PRESETS


def landing(request: HttpRequest) -> HttpResponse:
    return render(request, "site/landing.html")


@ensure_csrf_cookie  # the tip form posts to the API with the session and this CSRF cookie
def creator_page(request: HttpRequest, handle: str) -> HttpResponse:
    creator = creator_by_handle(handle)
    if creator is None:
        raise Http404("No such creator.")
    supporters = [{"fan": t.fan.username, "amount": Money(t.amount, t.currency), "at": t.created_at}
                  for t in tips.supporters(creator)[:10]]
    videos = Video.objects.filter(creator=creator, public=True).order_by("-pk")[:20]
    catalog = [{"gift": g, "icon": static(g.icon)} for g in Gift.objects.filter(active=True)]
    return render(request, "site/creator.html", {
        "videos": videos,
        "catalog": catalog,
        "creator": creator,
        "supporters": supporters,
        "presets": [Money(p, "USD") for p in PRESETS],
        "message_max": MESSAGE_MAX,
        "is_self": request.user.is_authenticated and request.user.pk == creator.user_id,
        "stripe_js_url": stripe_js_url(),
        "stripe_publishable_key": settings.STRIPE_PUBLISHABLE_KEY,
    })


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    """The creator's overview: balances, diamonds, earnings chart, programs, recent activity."""
    user = request.user
    assert isinstance(user, User)  # login_required
    creator = eligibility.creator_of(user)
    if creator is None:
        return render(request, "eligibility/not_a_creator.html", status=403)
    try:
        days = int(request.GET.get("days", PERIODS[0]))
    except ValueError:
        days = PERIODS[0]
    if days not in PERIODS:
        days = PERIODS[0]
    wallet = selectors.balances(user)
    cash = [{k: (Money(v, row["currency"]) if k != "currency" else v) for k, v in row.items()}
            for row in wallet["cash"]]
    series = selectors.earnings_by_day(user, days=days)
    totals = {name: Money(sum(d.amounts[name] for d in series), "USD") for name in INCOME_SERIES}
    programs = [{"name": ps.program.name, "slug": ps.program.slug, "status": ps.status,
                 "status_label": STATUS_LABELS[ps.status],
                 "met": sum(1 for c in ps.outcome.checks if c.met), "total": len(ps.outcome.checks)}
                for ps in eligibility.creator_eligibility(creator)]
    return render(request, "site/dashboard.html", {
        "creator": creator, "cash": cash, "diamonds": wallet["diamonds"],
        "days": days, "periods": PERIODS, "chart": charts.stacked_bars(series),
        "series": [{"key": k, "label": SERIES_LABELS[k], "total": totals[k]} for k in INCOME_SERIES],
        "table": [{"day": d.day, "amounts": [Money(d.amounts[k], "USD") for k in INCOME_SERIES]}
                  for d in series if d.total],
        "programs": programs, "activity": [_activity_line(e) for e in selectors.recent_activity(user)],
    })


def _activity_line(row: dict) -> dict:
    """A statement row for people: cash as money, coins and diamonds as counts."""
    amount: object = row["amount"]
    if row["asset"] not in (COIN, DIAMOND, MICRO_DIAMOND):
        amount = Money(row["amount"], row["asset"])
    return {"at": row["created_at"], "what": row["memo"] or row["kind"].replace("_", " "),
            "account": AccountKind(row["account_kind"]).label, "amount": amount,
            "unit": {COIN: "coins", DIAMOND: "diamonds", MICRO_DIAMOND: "µ-diamonds"}.get(row["asset"], "")}
