from django.urls import path

from tips import api

urlpatterns = [
    path("tips/", api.TipListCreateApi.as_view(), name="tip-list"),
    path("tips/<int:tip_id>/", api.TipDetailApi.as_view(), name="tip-detail"),
    path("tips/<int:tip_id>/refresh/", api.TipRefreshApi.as_view(), name="tip-refresh"),
    path("tips/<int:tip_id>/refund/", api.TipRefundApi.as_view(), name="tip-refund"),
    path("creators/<str:handle>/supporters/", api.SupportersApi.as_view(), name="creator-supporters"),
]
