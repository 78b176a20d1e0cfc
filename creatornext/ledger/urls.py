from django.urls import path

from creatornext.ledger import api

urlpatterns = [
    path("wallet/", api.WalletApi.as_view(), name="wallet"),
    path("wallet/statement/", api.StatementApi.as_view(), name="wallet-statement"),
]
