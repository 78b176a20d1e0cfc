from django.urls import path

from gifts import api

# The gift send is the platform's hottest request: the composition root (creatornext/urls.py) puts
# ``hot`` before every other API pattern, since Django tries patterns in order.
hot = [path("gift-sends/", api.GiftSendCreateApi.as_view(), name="gift-send-list")]

urlpatterns = [
    path("coin-packs/", api.CoinPackListApi.as_view(), name="coin-pack-list"),
    path("coin-purchases/", api.CoinPurchaseCreateApi.as_view(), name="coin-purchase-list"),
    path("coin-purchases/<int:purchase_id>/refresh/", api.CoinPurchaseRefreshApi.as_view(),
         name="coin-purchase-refresh"),
    path("gifts/", api.GiftListApi.as_view(), name="gift-list"),
    path("videos/", api.VideoCreateApi.as_view(), name="video-list"),
    path("creators/<str:handle>/videos/", api.CreatorVideoListApi.as_view(), name="creator-videos"),
    path("live-streams/", api.LiveStreamStartApi.as_view(), name="live-stream-list"),
    path("live-streams/<int:stream_id>/", api.LiveStreamSummaryApi.as_view(), name="live-stream-detail"),
    path("live-streams/<int:stream_id>/end/", api.LiveStreamEndApi.as_view(), name="live-stream-end"),
    path("live-streams/<int:stream_id>/feed/", api.LiveStreamFeedApi.as_view(), name="live-stream-feed"),
    path("redemptions/", api.RedemptionListCreateApi.as_view(), name="redemption-list"),
]
