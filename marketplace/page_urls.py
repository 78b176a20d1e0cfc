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

from marketplace import campaign_views  # noqa: E402

urlpatterns += [
    path("campaigns/", campaign_views.campaigns_page, name="marketplace-campaigns"),
    path("campaigns/<int:campaign_id>/", campaign_views.campaign_page, name="marketplace-campaign"),
    path("invitations/", campaign_views.invitations_page, name="marketplace-invitations"),
    path("invitations/<int:invitation_id>/", campaign_views.invitation_page, name="marketplace-invitation"),
    path("collaborations/", campaign_views.collaborations_page, name="marketplace-collaborations"),
    path("collaborations/<int:collaboration_id>/", campaign_views.collaboration_page,
         name="marketplace-collaboration"),
]
