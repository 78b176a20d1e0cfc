from django.urls import path

from gifts import views

urlpatterns = [
    path("coins/", views.buy_coins, name="buy-coins"),
    path("wallet/", views.wallet, name="wallet"),
]
