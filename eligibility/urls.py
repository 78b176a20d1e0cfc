from django.urls import path

from eligibility import api

urlpatterns = [
    path("eligibility/", api.EligibilityListApi.as_view(), name="eligibility-list"),
    path("programs/<slug:program>/opt-in/", api.ProgramOptInApi.as_view(), name="program-opt-in"),
    path("programs/<slug:program>/opt-out/", api.ProgramOptOutApi.as_view(), name="program-opt-out"),
    path("creators/<str:handle>/metrics/", api.CreatorMetricsApi.as_view(), name="creator-metrics"),
]
