"""The app's URLs unchanged, plus the two HTTP baselines under /bench/."""

from django.urls import include, path

from bench.views import InsertBaselineApi, JsonBaselineApi
from creatornext.urls import handler404  # noqa: F401  (Django reads it from the root URLconf)

urlpatterns = [
    path("bench/json/", JsonBaselineApi.as_view()),
    path("bench/insert/", InsertBaselineApi.as_view()),
    path("", include("creatornext.urls")),
]
