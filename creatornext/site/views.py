"""Pages composed from several apps (the composition root may read any app's selectors)."""

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.templatetags.static import static
from django.views.decorators.csrf import ensure_csrf_cookie

from creatornext.accounts.selectors import creator_by_handle
from creatornext.money import Money
from creatornext.payments.provider import stripe_js_url
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
