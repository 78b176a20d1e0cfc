from django.urls import path

from marketplace import api

urlpatterns = [
    path("marketplace/creators/", api.CreatorSearchApi.as_view(), name="marketplace-creator-list"),
    path("marketplace/creators/<str:handle>/", api.CreatorCardApi.as_view(),
         name="marketplace-creator-detail"),
    path("marketplace/creators/<str:handle>/metrics/", api.MarketplaceMetricsApi.as_view(),
         name="marketplace-creator-metrics"),
    path("marketplace/profile/", api.MyProfileApi.as_view(), name="marketplace-profile"),
    path("shortlists/", api.ShortlistListCreateApi.as_view(), name="shortlist-list"),
    path("shortlists/<int:shortlist_id>/", api.ShortlistDetailApi.as_view(), name="shortlist-detail"),
    path("shortlists/<int:shortlist_id>/creators/", api.ShortlistCreatorAddApi.as_view(),
         name="shortlist-creators"),
    path("shortlists/<int:shortlist_id>/creators/<str:handle>/", api.ShortlistCreatorRemoveApi.as_view(),
         name="shortlist-creator-detail"),
]
