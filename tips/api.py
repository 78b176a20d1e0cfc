"""Tips API (API.md, Tips)."""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from creatornext.accounts.models import User
from creatornext.accounts.permissions import IsStaffWithTwoFactor
from creatornext.accounts.selectors import creator_by_handle
from creatornext.core.api import MoneyField, Pagination, StrictInputSerializer, paginated
from creatornext.core.idempotency import idempotent
from creatornext.core.throttling import limit
from creatornext.money import Money
from tips import selectors, services
from tips.config import MESSAGE_MAX
from tips.models import Tip


def _money(amount: int | None, currency: str) -> Money | None:
    return None if amount is None else Money(amount, currency)


def tip_data(tip: Tip, viewer: User) -> dict:
    """The tip as ``viewer`` may see it: the creator sees "Anonymous" for anonymous tips."""
    payment = tip.payment
    is_sender = tip.fan_id == viewer.pk
    fee = payment.fee if payment else None
    return {
        "id": tip.pk, "status": tip.status, "creator": tip.creator.handle,
        "fan": tip.fan.username if (is_sender or not tip.anonymous) else "Anonymous",
        "amount": _money(tip.amount, tip.currency), "fee": _money(fee, tip.currency),
        "net": _money(None if fee is None else tip.amount - fee, tip.currency),
        "message": tip.message, "anonymous": tip.anonymous, "created_at": tip.created_at,
        "client_secret": payment.client_secret if (is_sender and payment and
                                                   payment.status == "requires_action") else None,
        "failure_code": (payment.failure_code or None) if payment else None,
    }


class TipOutput(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField(help_text="pending, requires_action, succeeded, failed, canceled, "
                                             "refunded, disputed")
    creator = serializers.CharField()
    fan = serializers.CharField(help_text='"Anonymous" to the creator when the fan chose so')
    amount = MoneyField()
    fee = MoneyField(allow_null=True, help_text="processor fee, once the payment succeeded")
    net = MoneyField(allow_null=True, help_text="what the creator receives")
    message = serializers.CharField()
    anonymous = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    client_secret = serializers.CharField(allow_null=True, help_text="for 3-D Secure in the browser")
    failure_code = serializers.CharField(allow_null=True)


class TipListCreateApi(APIView):
    throttle_classes = [limit("tips")]  # POST only

    class InputSerializer(StrictInputSerializer):
        creator = serializers.CharField(max_length=24, help_text="the creator's handle")
        amount = MoneyField()
        message = serializers.CharField(max_length=MESSAGE_MAX, required=False, allow_blank=True,
                                        default="")
        anonymous = serializers.BooleanField(required=False, default=False)
        payment_method = serializers.CharField(max_length=255, help_text="a Stripe PaymentMethod id")

    @extend_schema(operation_id="tips_create", request=InputSerializer, responses={201: TipOutput},
                   parameters=[OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER,
                                                required=True)])
    @idempotent
    def post(self, request: Request) -> Response:
        """Send a tip. A declined card is still a created tip, with ``status: failed``."""
        assert isinstance(request.user, User)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        tip = services.tip_create(fan=request.user, **data.validated_data)
        return Response(TipOutput(tip_data(tip, request.user)).data, status=status.HTTP_201_CREATED)

    @extend_schema(operation_id="tips_list", responses={200: paginated(TipOutput)},
                   parameters=[OpenApiParameter("direction", str, enum=["sent", "received"])])
    def get(self, request: Request) -> Response:
        """My tips, sent (default) or received."""
        assert isinstance(request.user, User)
        direction = request.query_params.get("direction", "sent")
        if direction not in ("sent", "received"):
            raise serializers.ValidationError({"direction": ["Choose sent or received."]})
        paginator = Pagination()
        page = paginator.paginate_queryset(selectors.tips_of(request.user, direction), request,
                                           view=self) or []
        return paginator.get_paginated_response([TipOutput(tip_data(t, request.user)).data for t in page])


class TipDetailApi(APIView):
    @extend_schema(operation_id="tips_retrieve", responses={200: TipOutput})
    def get(self, request: Request, tip_id: int) -> Response:
        assert isinstance(request.user, User)
        tip = selectors.tip_visible_to(request.user, tip_id)
        if tip is None:
            raise Http404
        return Response(TipOutput(tip_data(tip, request.user)).data)


class TipRefreshApi(APIView):
    @extend_schema(operation_id="tips_refresh", request=None, responses={200: TipOutput})
    def post(self, request: Request, tip_id: int) -> Response:
        """The sender asks for the payment's state again (after 3-D Secure in the browser)."""
        assert isinstance(request.user, User)
        tip = selectors.tip_visible_to(request.user, tip_id)
        if tip is None or tip.fan_id != request.user.pk:
            raise Http404
        tip = services.tip_refresh(tip=tip)
        return Response(TipOutput(tip_data(tip, request.user)).data)


class TipRefundApi(APIView):
    permission_classes = [IsStaffWithTwoFactor]

    class InputSerializer(StrictInputSerializer):
        reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")

    @extend_schema(operation_id="tips_refund", request=InputSerializer, responses={200: TipOutput, 202: TipOutput},
                   parameters=[OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER,
                                                required=True)])
    @idempotent
    def post(self, request: Request, tip_id: int) -> Response:
        """Staff: refund a tip in full. The creator's net is taken back (a debt if withdrawn).
        Above `staff.second_approval_above` the first call answers 202 and nothing moves until a
        second, different staff member makes the same call (200)."""
        assert isinstance(request.user, User)
        tip = Tip.objects.select_related("payment", "creator", "fan").filter(pk=tip_id).first()
        if tip is None:
            raise Http404
        data = self.InputSerializer(data=request.data or {})
        data.is_valid(raise_exception=True)
        done = services.tip_refund(tip=tip, actor=request.user, reason=data.validated_data["reason"])
        # 202: a large refund waits for a second, different staff member (PRODUCT §7).
        return Response(TipOutput(tip_data(tip, request.user)).data, status=200 if done else 202)


class SupportersApi(APIView):
    permission_classes = [AllowAny]

    class OutputSerializer(serializers.Serializer):
        fan = serializers.CharField(source="fan.username")
        amount = MoneyField()
        created_at = serializers.DateTimeField()

    @extend_schema(operation_id="creators_supporters", responses={200: paginated(OutputSerializer)})
    def get(self, request: Request, handle: str) -> Response:
        """A creator's recent public supporters (anonymous tips are never listed)."""
        creator = creator_by_handle(handle)
        if creator is None:
            raise Http404
        paginator = Pagination()
        page = paginator.paginate_queryset(selectors.supporters(creator), request, view=self) or []
        rows = [{"fan": t.fan, "amount": Money(t.amount, t.currency), "created_at": t.created_at}
                for t in page]
        return paginator.get_paginated_response(self.OutputSerializer(rows, many=True).data)
