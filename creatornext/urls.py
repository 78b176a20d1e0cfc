"""The composition root: every app's URLs meet here."""

from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from creatornext.core.views import healthz
from creatornext.payments.webhooks import StripeWebhookView
from creatornext.site import views as site_views
from gifts import urls as gifts_urls
from marketplace import urls as marketplace_urls

# The apps' paths do not overlap, so their order only decides how many patterns a request is
# tried against before its own: the two hottest requests' exact paths first (resolving a search
# past the twelve gift patterns cost ~7% of its Python, measured in-process), then the busiest apps.
api_v1: list[URLPattern | URLResolver] = [
    *gifts_urls.hot,
    *marketplace_urls.hot,
    path("", include("gifts.urls")),
    path("", include("marketplace.urls")),
    path("", include("tips.urls")),
    path("", include("creatornext.accounts.urls")),
    path("", include("eligibility.urls")),
    path("", include("creatornext.ledger.urls")),
    path("", include("creatornext.payouts.urls")),
]

urlpatterns = [
    # The API first: Django tries patterns in order, and the API takes most requests (resolving
    # a search through every page pattern before it cost 14% of the search's Python). No page
    # pattern matches a path under api/v1/, so the order changes nothing else.
    path("api/v1/", include((api_v1, "api"), namespace="api")),
    path("", site_views.landing, name="landing"),
    path("healthz", healthz, name="healthz"),
    path("@<str:handle>", site_views.creator_page, name="creator-page"),
    path("dashboard/", site_views.dashboard, name="dashboard"),
    path("tips/", include("tips.page_urls")),
    path("payouts/", include("creatornext.payouts.page_urls")),
    path("marketplace/", include("marketplace.page_urls")),
    path("", include("gifts.page_urls")),
    path("webhooks/", include(([path("stripe/", StripeWebhookView.as_view(), name="stripe")], "webhooks"))),
    path("accounts/", include("creatornext.accounts.page_urls")),
    path("eligibility/", include("eligibility.page_urls")),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # Split: Swagger UI's start-up script is a file of ours, not inline (Content-Security-Policy).
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="api-docs"),
]

handler404 = "creatornext.core.api.api_not_found"
