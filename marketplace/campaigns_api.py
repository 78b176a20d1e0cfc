"""Marketplace API, part 2 (API.md, Marketplace): campaigns, invitations, collaborations.

Visibility: a brand's campaigns, invitations and collaborations are its members' (and the invited
creator's) only; anyone else gets 404, never 403, so existence is not revealed. A party using the
other party's action (a creator approving, a brand accepting its own invitation) gets 403.
"""

from __future__ import annotations

from typing import Any

from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from creatornext.accounts import selectors as account_selectors
from creatornext.accounts.models import CreatorProfile, User
from creatornext.core.api import ApiError, MoneyField, Pagination, StrictInputSerializer, paginated
from creatornext.core.idempotency import idempotent
from creatornext.money import Money
from marketplace import campaigns, escrow, selectors, taxonomy
from marketplace.models import Campaign, Collaboration, CollaborationMessage, Invitation

IDEMPOTENCY = OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER, required=True)


def _user(request: Request) -> User:
    assert isinstance(request.user, User)
    return request.user


def _brand_member(request: Request) -> User:
    user = _user(request)
    if not account_selectors.is_brand_member(user):
        raise ApiError(403, "permission_denied", "Only members of a brand can use campaigns.")
    return user


def _creator_or_brand(request: Request) -> User:
    user = _user(request)
    if not (account_selectors.is_brand_member(user) or CreatorProfile.objects.filter(user=user).exists()):
        raise ApiError(403, "permission_denied", "Only creators and brand members have invitations.")
    return user


def _not_yours(what: str) -> ApiError:
    return ApiError(403, "permission_denied", f"Only the other party can {what}.")


# --- campaigns ---------------------------------------------------------------------------------
class CampaignOutput(serializers.Serializer):
    id = serializers.IntegerField()
    brand = serializers.IntegerField(source="brand_id")
    title = serializers.CharField()
    brief = serializers.CharField()
    deliverables = serializers.ListField(child=serializers.CharField())
    budget = MoneyField()
    deadline = serializers.DateTimeField()
    created_at = serializers.DateTimeField()


def campaign_data(c: Campaign) -> dict[str, Any]:
    return {"id": c.pk, "brand_id": c.brand_id, "title": c.title, "brief": c.brief,
            "deliverables": c.deliverables, "budget": Money(c.budget, c.currency), "deadline": c.deadline,
            "created_at": c.created_at}


class CampaignInput(StrictInputSerializer):
    brand = serializers.IntegerField(help_text="One of your brands' ids.")
    title = serializers.CharField(max_length=120)
    brief = serializers.CharField(max_length=5000, allow_blank=True, required=False, default="")
    deliverables = serializers.ListField(child=serializers.ChoiceField(choices=taxonomy.DELIVERABLES),
                                         min_length=1, max_length=3)
    budget = MoneyField()
    deadline = serializers.DateTimeField()


class CampaignUpdateInput(StrictInputSerializer):
    title = serializers.CharField(max_length=120, required=False)
    brief = serializers.CharField(max_length=5000, allow_blank=True, required=False)
    deliverables = serializers.ListField(child=serializers.ChoiceField(choices=taxonomy.DELIVERABLES),
                                         min_length=1, max_length=3, required=False)
    budget = MoneyField(required=False)
    deadline = serializers.DateTimeField(required=False)


class CampaignListCreateApi(APIView):
    @extend_schema(operation_id="campaigns_list", responses={200: paginated(CampaignOutput)})
    def get(self, request: Request) -> Response:
        """Campaigns of my brands, newest first."""
        user = _brand_member(request)
        paginator = Pagination()
        page = paginator.paginate_queryset(campaigns.campaigns_of(user), request, view=self) or []
        return paginator.get_paginated_response([CampaignOutput(campaign_data(c)).data for c in page])

    @extend_schema(operation_id="campaigns_create", request=CampaignInput, responses={201: CampaignOutput})
    def post(self, request: Request) -> Response:
        """Write a campaign for one of my brands (verification is needed to invite, not to draft)."""
        user = _brand_member(request)
        data = CampaignInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        brand = selectors.brand_of_member(user, values.pop("brand"))
        if brand is None:
            raise serializers.ValidationError({"brand": ["Choose one of your brands."]})
        campaign = campaigns.campaign_create(brand=brand, actor=user, **values)
        return Response(CampaignOutput(campaign_data(campaign)).data, status=status.HTTP_201_CREATED)


def _campaign(request: Request, campaign_id: int) -> tuple[User, Campaign]:
    user = _user(request)
    campaign = campaigns.campaign_for(user, campaign_id)
    if campaign is None:
        raise Http404
    return user, campaign


class CampaignDetailApi(APIView):
    @extend_schema(operation_id="campaigns_retrieve", responses={200: CampaignOutput})
    def get(self, request: Request, campaign_id: int) -> Response:
        _, campaign = _campaign(request, campaign_id)
        return Response(CampaignOutput(campaign_data(campaign)).data)

    @extend_schema(operation_id="campaigns_update", request=CampaignUpdateInput, responses={200: CampaignOutput})
    def patch(self, request: Request, campaign_id: int) -> Response:
        user, campaign = _campaign(request, campaign_id)
        data = CampaignUpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        campaign = campaigns.campaign_update(campaign=campaign, actor=user, **data.validated_data)
        return Response(CampaignOutput(campaign_data(campaign)).data)

    @extend_schema(operation_id="campaigns_destroy", responses={204: None})
    def delete(self, request: Request, campaign_id: int) -> Response:
        """Delete a campaign that invited nobody (else 409: it keeps its history)."""
        user, campaign = _campaign(request, campaign_id)
        campaigns.campaign_delete(campaign=campaign, actor=user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class CampaignReportOutput(serializers.Serializer):
    campaign = serializers.IntegerField()
    invitations_sent = serializers.IntegerField()
    invitations_accepted = serializers.IntegerField()
    deliverables_submitted = serializers.IntegerField()
    deliverables_approved = serializers.IntegerField()
    released = MoneyField(help_text="Fees released from escrow to creators.")
    in_escrow = MoneyField(help_text="Fees held in escrow now.")
    spend = MoneyField(help_text="What the brand's cards were charged (fees + processor fees), less refunds.")
    budget = MoneyField()


class CampaignReportApi(APIView):
    @extend_schema(operation_id="campaigns_report", responses={200: CampaignReportOutput})
    def get(self, request: Request, campaign_id: int) -> Response:
        """The campaign's report: invitations sent / accepted, deliverables, spend."""
        _, campaign = _campaign(request, campaign_id)
        return Response(CampaignReportOutput(campaigns.campaign_report(campaign)).data)


# --- invitations -------------------------------------------------------------------------------
class InvitationOutput(serializers.Serializer):
    id = serializers.IntegerField()
    campaign = serializers.IntegerField()
    campaign_title = serializers.CharField()
    brand = serializers.CharField(help_text="The brand's name.")
    creator = serializers.CharField(help_text="The creator's handle.")
    fee = MoneyField(help_text="The brand's offer.")
    counter_fee = MoneyField(allow_null=True, help_text="The creator's one counter-offer.")
    message = serializers.CharField()
    state = serializers.ChoiceField(choices=Invitation.State.choices)
    expires_at = serializers.DateTimeField()
    collaboration = serializers.IntegerField(allow_null=True)
    created_at = serializers.DateTimeField()


def invitation_data(i: Invitation) -> dict[str, Any]:
    collab = Collaboration.objects.filter(invitation=i).values_list("pk", flat=True).first()
    return {"id": i.pk, "campaign": i.campaign_id, "campaign_title": i.campaign.title,
            "brand": i.campaign.brand.name, "creator": i.creator.handle, "fee": Money(i.fee, i.currency),
            "counter_fee": None if i.counter_fee is None else Money(i.counter_fee, i.currency),
            "message": i.message, "state": i.state, "expires_at": i.expires_at, "collaboration": collab,
            "created_at": i.created_at}


class InvitationCreateApi(APIView):
    class InputSerializer(StrictInputSerializer):
        creator = serializers.CharField(max_length=24, help_text="The creator's handle.")
        fee = MoneyField()
        message = serializers.CharField(max_length=2000, allow_blank=True, required=False, default="")

    @extend_schema(operation_id="campaigns_invitations_create", request=InputSerializer,
                   responses={201: InvitationOutput})
    def post(self, request: Request, campaign_id: int) -> Response:
        """Invite a creator with a fee offer (verified brands; 403 ``brand_unverified`` otherwise)."""
        user, campaign = _campaign(request, campaign_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        invitation = campaigns.invitation_create(campaign=campaign, actor=user, handle=data.validated_data["creator"],
                                                 fee=data.validated_data["fee"],
                                                 message=data.validated_data["message"])
        return Response(InvitationOutput(invitation_data(invitation)).data, status=status.HTTP_201_CREATED)


class InvitationListApi(APIView):
    @extend_schema(operation_id="invitations_list", responses={200: paginated(InvitationOutput)},
                   parameters=[OpenApiParameter("state", str, enum=list(Invitation.State.values))])
    def get(self, request: Request) -> Response:
        """Invitations to me (as a creator) and from my brands, newest first."""
        user = _creator_or_brand(request)
        qs = campaigns.invitations_of(user)
        wanted = request.query_params.get("state")
        if wanted is not None:
            if wanted not in Invitation.State.values:
                raise serializers.ValidationError({"state": [f"One of {', '.join(Invitation.State.values)}."]})
            qs = qs.filter(state=wanted)
        paginator = Pagination()
        page = paginator.paginate_queryset(qs, request, view=self) or []
        return paginator.get_paginated_response([InvitationOutput(invitation_data(i)).data for i in page])


def _invitation(request: Request, invitation_id: int, side: str, what: str) -> tuple[User, Invitation]:
    user = _user(request)
    invitation = campaigns.invitation_for(user, invitation_id)
    if invitation is None:
        raise Http404
    is_creator = invitation.creator.user_id == user.pk
    if side == "creator" and not is_creator:
        raise _not_yours(what)
    if side == "brand" and is_creator:
        raise _not_yours(what)
    return user, invitation


class InvitationDetailApi(APIView):
    @extend_schema(operation_id="invitations_retrieve", responses={200: InvitationOutput})
    def get(self, request: Request, invitation_id: int) -> Response:
        _, invitation = _invitation(request, invitation_id, "any", "")
        return Response(InvitationOutput(invitation_data(invitation)).data)


def _reload(invitation: Invitation) -> Response:
    invitation = Invitation.objects.select_related("campaign__brand", "creator").get(pk=invitation.pk)
    return Response(InvitationOutput(invitation_data(invitation)).data)


class InvitationAcceptApi(APIView):
    @extend_schema(operation_id="invitations_accept", request=None, responses={200: InvitationOutput})
    def post(self, request: Request, invitation_id: int) -> Response:
        """The creator accepts: a collaboration waits for the brand's funding (409 if not open)."""
        user, invitation = _invitation(request, invitation_id, "creator", "accept this invitation")
        campaigns.invitation_accept(invitation=invitation, actor=user)
        return _reload(invitation)


class InvitationDeclineApi(APIView):
    @extend_schema(operation_id="invitations_decline", request=None, responses={200: InvitationOutput})
    def post(self, request: Request, invitation_id: int) -> Response:
        user, invitation = _invitation(request, invitation_id, "creator", "decline this invitation")
        campaigns.invitation_decline(invitation=invitation, actor=user)
        return _reload(invitation)


class InvitationCounterApi(APIView):
    class InputSerializer(StrictInputSerializer):
        fee = MoneyField()

    @extend_schema(operation_id="invitations_counter", request=InputSerializer, responses={200: InvitationOutput})
    def post(self, request: Request, invitation_id: int) -> Response:
        """One counter-offer (restarts the 7 days); a second is 409 ``invalid_state``."""
        user, invitation = _invitation(request, invitation_id, "creator", "counter this invitation")
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        campaigns.invitation_counter(invitation=invitation, actor=user, fee=data.validated_data["fee"])
        return _reload(invitation)


class CounterAcceptApi(APIView):
    @extend_schema(operation_id="invitations_accept_counter", request=None, responses={200: InvitationOutput})
    def post(self, request: Request, invitation_id: int) -> Response:
        """The brand accepts the counter-offer: a collaboration at the countered fee."""
        user, invitation = _invitation(request, invitation_id, "brand", "answer a counter-offer")
        campaigns.counter_accept(invitation=invitation, actor=user)
        return _reload(invitation)


class CounterDeclineApi(APIView):
    @extend_schema(operation_id="invitations_decline_counter", request=None, responses={200: InvitationOutput})
    def post(self, request: Request, invitation_id: int) -> Response:
        user, invitation = _invitation(request, invitation_id, "brand", "answer a counter-offer")
        campaigns.counter_decline(invitation=invitation, actor=user)
        return _reload(invitation)


# --- collaborations ----------------------------------------------------------------------------
class MessageOutput(serializers.Serializer):
    id = serializers.IntegerField()
    author = serializers.CharField(source="author.username")
    body = serializers.CharField()
    created_at = serializers.DateTimeField()


class EscrowOutput(serializers.Serializer):
    fee = MoneyField(help_text="The collaboration fee escrow holds while funded.")
    processor_fee = MoneyField(allow_null=True, help_text="Paid by the brand on top of the fee.")
    charge = MoneyField(help_text="What funding charges the brand: fee + processor fee.")
    platform_fee = MoneyField(help_text="The platform's cut on release.")
    creator_receives = MoneyField()
    held = MoneyField(help_text="What escrow holds for this collaboration now.")
    payment_status = serializers.CharField(allow_null=True)
    client_secret = serializers.CharField(allow_null=True, help_text="For 3-D Secure in the brand's browser.")
    failure_code = serializers.CharField(allow_null=True)


class CollaborationOutput(serializers.Serializer):
    id = serializers.IntegerField()
    campaign = serializers.IntegerField()
    campaign_title = serializers.CharField()
    brand = serializers.CharField()
    creator = serializers.CharField()
    state = serializers.ChoiceField(choices=Collaboration.State.choices)
    escrow = EscrowOutput()
    fund_by = serializers.DateTimeField()
    deadline = serializers.DateTimeField()
    deliverable_url = serializers.CharField(allow_null=True)
    submitted_at = serializers.DateTimeField(allow_null=True)
    auto_approve_at = serializers.DateTimeField(allow_null=True)
    revisions = serializers.IntegerField()
    max_revisions = serializers.IntegerField()
    revision_note = serializers.CharField()
    messages = MessageOutput(many=True, help_text="The latest 50, oldest first.")


def collaboration_data(c: Collaboration, viewer: User) -> dict[str, Any]:
    cur = c.currency
    gross = c.fee + (c.processor_fee if c.processor_fee is not None else escrow.gross_for(c.fee) - c.fee)
    cut = escrow.platform_fee_of(c)
    payment = c.payment
    brand_side = escrow.side_of(viewer, c) == "brand"
    messages = list(reversed(CollaborationMessage.objects.filter(collaboration=c).select_related("author")
                             .order_by("-id")[:50]))
    return {"id": c.pk, "campaign": c.campaign_id, "campaign_title": c.campaign.title, "brand": c.brand.name,
            "creator": c.creator.handle, "state": c.state,
            "escrow": {"fee": Money(c.fee, cur), "processor_fee": Money(gross - c.fee, cur),
                       "charge": Money(gross, cur), "platform_fee": Money(cut, cur),
                       "creator_receives": Money(c.fee - cut, cur), "held": Money(escrow.escrow_held(c), cur),
                       "payment_status": payment.status if payment else None,
                       "client_secret": payment.client_secret if (brand_side and payment and payment.status
                                                                  == "requires_action") else None,
                       "failure_code": (payment.failure_code or None) if payment else None},
            "fund_by": c.fund_by, "deadline": c.deadline, "deliverable_url": c.deliverable_url or None,
            "submitted_at": c.submitted_at, "auto_approve_at": c.auto_approve_at, "revisions": c.revisions,
            "max_revisions": c.max_revisions, "revision_note": c.revision_note, "messages": messages}


class CollaborationListApi(APIView):
    @extend_schema(operation_id="collaborations_list", responses={200: paginated(CollaborationOutput)})
    def get(self, request: Request) -> Response:
        """My collaborations, as the creator or as a member of the brand."""
        user = _creator_or_brand(request)
        paginator = Pagination()
        page = paginator.paginate_queryset(escrow.collaborations_of(user), request, view=self) or []
        return paginator.get_paginated_response([CollaborationOutput(collaboration_data(c, user)).data
                                                 for c in page])


def _collaboration(request: Request, collaboration_id: int, side: str = "any",
                   what: str = "") -> tuple[User, Collaboration]:
    user = _user(request)
    collaboration = escrow.collaboration_for(user, collaboration_id)
    if collaboration is None:
        raise Http404
    if side != "any" and escrow.side_of(user, collaboration) != side:
        raise _not_yours(what)
    return user, collaboration


def _answer(collaboration: Collaboration, user: User, code: int = 200) -> Response:
    fresh = Collaboration.objects.select_related("brand", "creator__user", "campaign", "payment").get(
        pk=collaboration.pk)
    return Response(CollaborationOutput(collaboration_data(fresh, user)).data, status=code)


class CollaborationDetailApi(APIView):
    @extend_schema(operation_id="collaborations_retrieve", responses={200: CollaborationOutput})
    def get(self, request: Request, collaboration_id: int) -> Response:
        """State, escrow, deliverable and messages (the parties only)."""
        user, collaboration = _collaboration(request, collaboration_id)
        return _answer(collaboration, user)


class CollaborationFundApi(APIView):
    class InputSerializer(StrictInputSerializer):
        payment_method = serializers.CharField(max_length=255, help_text="A Stripe PaymentMethod id.")

    @extend_schema(operation_id="collaborations_fund", request=InputSerializer,
                   responses={200: CollaborationOutput}, parameters=[IDEMPOTENCY])
    @idempotent
    def post(self, request: Request, collaboration_id: int) -> Response:
        """The brand pays the fee plus the processor fee into escrow. A declined card is 200 with
        ``escrow.payment_status: failed`` (the collaboration still waits for funding)."""
        user, collaboration = _collaboration(request, collaboration_id, "brand", "fund escrow")
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        collaboration = escrow.collaboration_fund(collaboration=collaboration, actor=user,
                                                  payment_method=data.validated_data["payment_method"])
        return _answer(collaboration, user)


class CollaborationRefreshApi(APIView):
    @extend_schema(operation_id="collaborations_refresh", request=None, responses={200: CollaborationOutput})
    def post(self, request: Request, collaboration_id: int) -> Response:
        """The brand asks for the funding payment's state again (after 3-D Secure)."""
        user, collaboration = _collaboration(request, collaboration_id, "brand", "refresh the funding")
        return _answer(escrow.collaboration_refresh(collaboration=collaboration), user)


class CollaborationSubmitApi(APIView):
    class InputSerializer(StrictInputSerializer):
        url = serializers.CharField(max_length=500, help_text="The deliverable video's link.")

    @extend_schema(operation_id="collaborations_submit", request=InputSerializer, responses={200: CollaborationOutput})
    def post(self, request: Request, collaboration_id: int) -> Response:
        """The creator submits the deliverable (after funding, or after a revision request)."""
        user, collaboration = _collaboration(request, collaboration_id, "creator", "submit the deliverable")
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        escrow.collaboration_submit(collaboration=collaboration, actor=user, url=data.validated_data["url"])
        return _answer(collaboration, user)


class CollaborationApproveApi(APIView):
    @extend_schema(operation_id="collaborations_approve", request=None, responses={200: CollaborationOutput},
                   parameters=[IDEMPOTENCY])
    @idempotent
    def post(self, request: Request, collaboration_id: int) -> Response:
        """The brand approves the submission: escrow goes to the creator, less the platform fee."""
        user, collaboration = _collaboration(request, collaboration_id, "brand", "approve the deliverable")
        escrow.collaboration_approve(collaboration=collaboration, actor=user)
        return _answer(collaboration, user)


class NoteInput(StrictInputSerializer):
    note = serializers.CharField(max_length=2000, allow_blank=True, required=False, default="")


class CollaborationRevisionApi(APIView):
    @extend_schema(operation_id="collaborations_request_revision", request=NoteInput,
                   responses={200: CollaborationOutput})
    def post(self, request: Request, collaboration_id: int) -> Response:
        """The brand sends the submission back (at most ``max_revisions`` times; then 409)."""
        user, collaboration = _collaboration(request, collaboration_id, "brand", "ask for a revision")
        data = NoteInput(data=request.data)
        data.is_valid(raise_exception=True)
        escrow.collaboration_request_revision(collaboration=collaboration, actor=user, note=data.validated_data["note"])
        return _answer(collaboration, user)


class CollaborationEscalateApi(APIView):
    @extend_schema(operation_id="collaborations_escalate", request=NoteInput, responses={200: CollaborationOutput})
    def post(self, request: Request, collaboration_id: int) -> Response:
        """After the last revision, the brand asks staff to decide (release or refund)."""
        user, collaboration = _collaboration(request, collaboration_id, "brand", "escalate")
        data = NoteInput(data=request.data)
        data.is_valid(raise_exception=True)
        escrow.collaboration_escalate(collaboration=collaboration, actor=user, note=data.validated_data["note"])
        return _answer(collaboration, user)


class CollaborationCancelApi(APIView):
    class InputSerializer(StrictInputSerializer):
        reason = serializers.CharField(max_length=500, allow_blank=True, required=False, default="")

    @extend_schema(operation_id="collaborations_cancel", request=InputSerializer,
                   responses={200: CollaborationOutput}, parameters=[IDEMPOTENCY])
    @idempotent
    def post(self, request: Request, collaboration_id: int) -> Response:
        """Either party before the first submission; the brand also after a missed deadline. Funded
        escrow is refunded to the brand."""
        user, collaboration = _collaboration(request, collaboration_id)
        data = self.InputSerializer(data=request.data or {})
        data.is_valid(raise_exception=True)
        escrow.collaboration_cancel(collaboration=collaboration, actor=user, reason=data.validated_data["reason"])
        return _answer(collaboration, user)


class CollaborationMessagesApi(APIView):
    class InputSerializer(StrictInputSerializer):
        body = serializers.CharField(max_length=2000)

    @extend_schema(operation_id="collaborations_messages_list", responses={200: paginated(MessageOutput)})
    def get(self, request: Request, collaboration_id: int) -> Response:
        """The collaboration's message thread, newest first."""
        _, collaboration = _collaboration(request, collaboration_id)
        paginator = Pagination()
        qs = CollaborationMessage.objects.filter(collaboration=collaboration).select_related("author")
        page = paginator.paginate_queryset(qs, request, view=self) or []
        return paginator.get_paginated_response(MessageOutput(page, many=True).data)

    @extend_schema(operation_id="collaborations_messages_create", request=InputSerializer,
                   responses={201: MessageOutput})
    def post(self, request: Request, collaboration_id: int) -> Response:
        user, collaboration = _collaboration(request, collaboration_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        message = escrow.message_post(collaboration=collaboration, actor=user, body=data.validated_data["body"])
        return Response(MessageOutput(message).data, status=status.HTTP_201_CREATED)
