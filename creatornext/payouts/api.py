"""Payouts API (API.md, Wallet, withdrawals, payouts): creators only (403 for other roles)."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from creatornext.accounts.api import require_creator
from creatornext.accounts.models import User
from creatornext.core.api import DomainError, MoneyField, Pagination, StrictInputSerializer, paginated
from creatornext.core.idempotency import idempotent
from creatornext.core.throttling import limit
from creatornext.money import Money
from creatornext.payouts import selectors, services
from creatornext.payouts.models import PayoutAccount, PayoutItem, Withdrawal


def _creator(request: Request) -> User:
    return require_creator(request, "Only creators have payouts.").user


def account_data(account: PayoutAccount | None, site_url: str = "") -> dict:
    if account is None:
        return {"status": "not_connected", "payouts_enabled": False, "changed_at": None,
                "cooling_off_until": None, "auto_withdraw": False}
    return {"status": account.status, "payouts_enabled": account.payouts_enabled,
            "changed_at": account.changed_at, "cooling_off_until": services.cooling_off_until(account),
            "auto_withdraw": account.auto_withdraw}


class PayoutAccountOutput(serializers.Serializer):
    status = serializers.ChoiceField(choices=["not_connected", "onboarding", "restricted", "enabled"])
    payouts_enabled = serializers.BooleanField()
    changed_at = serializers.DateTimeField(allow_null=True, help_text="last change; starts the cooling-off")
    cooling_off_until = serializers.DateTimeField(allow_null=True,
                                                  help_text="no withdrawal before this time")
    auto_withdraw = serializers.BooleanField()


class PayoutAccountApi(APIView):
    class OnboardingOutput(serializers.Serializer):
        onboarding_url = serializers.URLField(help_text="open in a browser within an hour")

    class PatchInput(StrictInputSerializer):
        auto_withdraw = serializers.BooleanField()

    @extend_schema(operation_id="payout_account_retrieve", responses={200: PayoutAccountOutput})
    def get(self, request: Request) -> Response:
        """My payout account's status."""
        user = _creator(request)
        return Response(PayoutAccountOutput(account_data(selectors.payout_account_of(user))).data)

    @extend_schema(operation_id="payout_account_onboard", request=None,
                   responses={200: OnboardingOutput, 201: OnboardingOutput})
    def post(self, request: Request) -> Response:
        """Start (or continue) Stripe Connect Express onboarding: 201 the first time."""
        user = _creator(request)
        account, created = services.payout_account_start(user=user)
        site = settings.SITE_URL or request.build_absolute_uri("/")
        return Response(self.OnboardingOutput({"onboarding_url": services.onboarding_url(account, site)}).data,
                        status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)

    @extend_schema(operation_id="payout_account_update", request=PatchInput,
                   responses={200: PayoutAccountOutput})
    def patch(self, request: Request) -> Response:
        """Switch automatic weekly withdrawal on or off."""
        user = _creator(request)
        data = self.PatchInput(data=request.data)
        data.is_valid(raise_exception=True)
        account = selectors.payout_account_of(user)
        if account is None:
            raise DomainError("Connect a payout account first.")
        account = services.payout_account_set_auto(account=account, actor=user, **data.validated_data)
        return Response(PayoutAccountOutput(account_data(account)).data)


class WithdrawalOutput(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=Withdrawal.Status.choices)
    amount = MoneyField()
    netted_debt = MoneyField(help_text="debt repaid from available cash before this withdrawal")
    automatic = serializers.BooleanField()
    created_at = serializers.DateTimeField()


def withdrawal_data(w: Withdrawal) -> dict:
    return {"id": w.pk, "status": w.status, "amount": Money(w.amount, w.currency),
            "netted_debt": Money(w.netted_debt, w.currency), "automatic": bool(w.auto_week),
            "created_at": w.created_at}


class WithdrawalListCreateApi(APIView):
    throttle_classes = [limit("withdrawals")]  # POST only

    class InputSerializer(StrictInputSerializer):
        amount = MoneyField()

    @extend_schema(operation_id="withdrawals_create", request=InputSerializer, responses={201: WithdrawalOutput},
                   parameters=[OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER, required=True)])
    @idempotent
    def post(self, request: Request) -> Response:
        """Withdraw available cash to my payout account (paid by the next payout batch)."""
        user = _creator(request)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        withdrawal = services.withdrawal_create(user=user, amount=data.validated_data["amount"])
        return Response(WithdrawalOutput(withdrawal_data(withdrawal)).data, status=status.HTTP_201_CREATED)

    @extend_schema(operation_id="withdrawals_list", responses={200: paginated(WithdrawalOutput)})
    def get(self, request: Request) -> Response:
        """My withdrawals, newest first."""
        user = _creator(request)
        paginator = Pagination()
        page = paginator.paginate_queryset(selectors.withdrawals_of(user), request, view=self) or []
        return paginator.get_paginated_response([WithdrawalOutput(withdrawal_data(w)).data for w in page])


class PayoutItemOutput(serializers.Serializer):
    id = serializers.IntegerField()
    withdrawal = serializers.IntegerField()
    status = serializers.ChoiceField(choices=["pending", "paid", "failed"])
    amount = MoneyField()
    failure_code = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()
    paid_at = serializers.DateTimeField(allow_null=True)


def item_data(item: PayoutItem) -> dict:
    shown = {"paid": "paid", "failed": "failed"}.get(item.stage, "pending")
    return {"id": item.pk, "withdrawal": item.withdrawal_id, "status": shown,
            "amount": Money(item.amount, item.currency), "failure_code": item.failure_code or None,
            "created_at": item.created_at, "paid_at": item.paid_at}


class PayoutListApi(APIView):
    @extend_schema(operation_id="payouts_list", responses={200: paginated(PayoutItemOutput)})
    def get(self, request: Request) -> Response:
        """My payout items (one per withdrawal taken into a batch) with their status."""
        user = _creator(request)
        paginator = Pagination()
        page = paginator.paginate_queryset(selectors.payout_items_of(user), request, view=self) or []
        return paginator.get_paginated_response([PayoutItemOutput(item_data(i)).data for i in page])
