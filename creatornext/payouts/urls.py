from django.urls import path

from creatornext.payouts import api

urlpatterns = [
    path("payout-account/", api.PayoutAccountApi.as_view(), name="payout-account"),
    path("withdrawals/", api.WithdrawalListCreateApi.as_view(), name="withdrawal-list"),
    path("payouts/", api.PayoutListApi.as_view(), name="payout-list"),
]
