from django.urls import path

from eligibility import views

urlpatterns = [
    path("", views.eligibility_page, name="eligibility"),
    path("<slug:program>/opt-in/", views.opt_in, name="eligibility-opt-in"),
    path("<slug:program>/opt-out/", views.opt_out, name="eligibility-opt-out"),
]
