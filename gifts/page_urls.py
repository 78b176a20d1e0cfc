from django.urls import path

from gifts import views

urlpatterns = [
    path("coins/", views.buy_coins, name="buy-coins"),
    path("wallet/", views.wallet, name="wallet"),
    path("diamonds/", views.diamonds, name="diamonds"),
    path("live/<int:stream_id>/", views.live_stream, name="live-stream"),
]
