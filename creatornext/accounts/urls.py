from django.urls import path

from creatornext.accounts import api

urlpatterns = [
    path("auth/register/", api.RegisterApi.as_view(), name="auth-register"),
    path("auth/token/", api.TokenApi.as_view(), name="auth-token"),
    path("me/", api.MeApi.as_view(), name="me"),
    path("creators/", api.CreatorCreateApi.as_view(), name="creator-list"),
    path("creators/<str:handle>/", api.CreatorDetailApi.as_view(), name="creator-detail"),
    path("blocks/", api.BlockCreateApi.as_view(), name="block-list"),
    path("blocks/<str:username>/", api.BlockDeleteApi.as_view(), name="block-detail"),
    path("brands/", api.BrandListCreateApi.as_view(), name="brand-list"),
    path("brands/<int:brand_id>/", api.BrandDetailApi.as_view(), name="brand-detail"),
    path("brands/<int:brand_id>/members/", api.BrandMemberCreateApi.as_view(), name="brand-members"),
]
