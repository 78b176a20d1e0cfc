"""Content Security Policy on every response (TARGETS.md R13, docs/decisions/0015).

Scripts and styles come only from our own origin (and Stripe.js, for the payment forms): no inline
``<script>``, no ``on…=`` attributes, no ``eval`` — an injected fragment that slipped past escaping
cannot run. The templates keep their JavaScript in ``static/js``. The API documentation page
(drf-spectacular's Swagger UI, served as split files so its script is ``'self'`` too) keeps one
inline ``<style>`` block, so only there are inline styles allowed.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from urllib.parse import urlsplit

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

DOCS_PATH = "/api/docs/"


@functools.lru_cache(maxsize=8)
def policy(stripe_fake: bool, stripe_api_base: str, docs: bool) -> str:
    """The header for these settings. Stripe.js (the payment forms) is the one outside script:
    js.stripe.com, its frames and its API in production; the local stand-in's origin in test mode."""
    # ``onboarding``: the payout-account form redirects to Stripe Connect's hosted onboarding, and
    # browsers apply form-action to a form's redirects too.
    if stripe_fake:
        parts = urlsplit(stripe_api_base)
        js = frames = api = onboarding = f"{parts.scheme}://{parts.netloc}"
    else:
        js, frames, api = ("https://js.stripe.com", "https://js.stripe.com https://hooks.stripe.com",
                           "https://api.stripe.com")
        onboarding = "https://connect.stripe.com"
    return "; ".join([
        "default-src 'self'",
        f"script-src 'self' {js}",
        "style-src 'self' 'unsafe-inline'" if docs else "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        f"connect-src 'self' {api}",
        f"frame-src {frames}",
        "object-src 'none'",
        "base-uri 'self'",
        f"form-action 'self' {onboarding}",
        "frame-ancestors 'none'",
    ])


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = policy(
                settings.STRIPE_FAKE, settings.STRIPE_API_BASE, request.path.startswith(DOCS_PATH))
        return response


class RejectNulCharactersMiddleware:
    """400 for a path or query string with a NUL character (``%00``), before any view runs.

    PostgreSQL text never holds NUL, so such a value can match nothing; passed on as a lookup
    value it made psycopg2 raise (a 500) instead. API paths answer with the API's error shape.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        query = request.META.get("QUERY_STRING", "")
        if "\x00" in request.path or "%00" in query or "\x00" in query:
            message = "The address contains a NUL character (%00)."
            if request.path.startswith("/api/"):
                from creatornext.core.api import error_body

                return JsonResponse(error_body("invalid", message), status=400)
            return HttpResponse(message, status=400, content_type="text/plain; charset=utf-8")
        return self.get_response(request)
