from django.urls import path

from creatornext.payouts import views

urlpatterns = [
    path("", views.account, name="payouts-account"),
    path("withdraw/", views.withdraw, name="payouts-withdraw"),
    path("history/", views.history, name="payouts-history"),
    path("onboard/<str:token>/", views.onboard, name="payouts-onboard"),
    path("return/", views.onboarding_return, name="payouts-return"),
]
