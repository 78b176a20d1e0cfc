from django.urls import path

from marketplace import views

urlpatterns = [
    path("", views.marketplace_home, name="marketplace"),
    path("profile/", views.profile_editor, name="marketplace-profile"),
    path("brands/", views.brands_page, name="marketplace-brands"),
    path("brands/<int:brand_id>/", views.brand_page, name="marketplace-brand"),
    path("shortlists/", views.shortlists_page, name="marketplace-shortlists"),
    path("shortlists/add/", views.shortlist_add, name="marketplace-shortlist-add"),
    path("shortlists/<int:shortlist_id>/", views.shortlist_page, name="marketplace-shortlist"),
]
