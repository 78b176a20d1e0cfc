from django.urls import path

from marketplace import api
from marketplace import campaigns_api as c

# Search is the marketplace's hottest request: the composition root (creatornext/urls.py) puts
# ``hot`` before every other API pattern, since Django tries patterns in order.
hot = [path("marketplace/creators/", api.CreatorSearchApi.as_view(), name="marketplace-creator-list")]

urlpatterns = [
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
    # campaigns, invitations, collaborations (marketplace/campaigns_api.py)
    path("campaigns/", c.CampaignListCreateApi.as_view(), name="campaign-list"),
    path("campaigns/<int:campaign_id>/", c.CampaignDetailApi.as_view(), name="campaign-detail"),
    path("campaigns/<int:campaign_id>/invitations/", c.InvitationCreateApi.as_view(), name="campaign-invitations"),
    path("campaigns/<int:campaign_id>/report/", c.CampaignReportApi.as_view(), name="campaign-report"),
    path("invitations/", c.InvitationListApi.as_view(), name="invitation-list"),
    path("invitations/<int:invitation_id>/", c.InvitationDetailApi.as_view(), name="invitation-detail"),
    path("invitations/<int:invitation_id>/accept/", c.InvitationAcceptApi.as_view(), name="invitation-accept"),
    path("invitations/<int:invitation_id>/decline/", c.InvitationDeclineApi.as_view(), name="invitation-decline"),
    path("invitations/<int:invitation_id>/counter/", c.InvitationCounterApi.as_view(), name="invitation-counter"),
    path("invitations/<int:invitation_id>/accept-counter/", c.CounterAcceptApi.as_view(),
         name="invitation-accept-counter"),
    path("invitations/<int:invitation_id>/decline-counter/", c.CounterDeclineApi.as_view(),
         name="invitation-decline-counter"),
    path("collaborations/", c.CollaborationListApi.as_view(), name="collaboration-list"),
    path("collaborations/<int:collaboration_id>/", c.CollaborationDetailApi.as_view(), name="collaboration-detail"),
    path("collaborations/<int:collaboration_id>/fund/", c.CollaborationFundApi.as_view(), name="collaboration-fund"),
    path("collaborations/<int:collaboration_id>/refresh/", c.CollaborationRefreshApi.as_view(),
         name="collaboration-refresh"),
    path("collaborations/<int:collaboration_id>/submit/", c.CollaborationSubmitApi.as_view(),
         name="collaboration-submit"),
    path("collaborations/<int:collaboration_id>/approve/", c.CollaborationApproveApi.as_view(),
         name="collaboration-approve"),
    path("collaborations/<int:collaboration_id>/request-revision/", c.CollaborationRevisionApi.as_view(),
         name="collaboration-request-revision"),
    path("collaborations/<int:collaboration_id>/escalate/", c.CollaborationEscalateApi.as_view(),
         name="collaboration-escalate"),
    path("collaborations/<int:collaboration_id>/cancel/", c.CollaborationCancelApi.as_view(),
         name="collaboration-cancel"),
    path("collaborations/<int:collaboration_id>/messages/", c.CollaborationMessagesApi.as_view(),
         name="collaboration-messages"),
]
