"""Accounts API (API.md, Accounts): one view per endpoint, nested Input/Output serializers."""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from creatornext.accounts import selectors, services
from creatornext.accounts.models import BrandMembership, CreatorProfile, User
from creatornext.core import throttling
from creatornext.core.api import ApiError, StrictInputSerializer


def _me(user: User) -> dict:
    return {"id": user.pk, "username": user.username, "email": user.email,
            "date_of_birth": user.date_of_birth, "email_verified": user.email_verified,
            "roles": selectors.user_roles(user)}


class UserOutput(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    email = serializers.EmailField()
    date_of_birth = serializers.DateField(allow_null=True)
    email_verified = serializers.BooleanField()
    roles = serializers.ListField(child=serializers.CharField(),
                                  help_text="fan, creator, brand:<slug>, staff")


class RegisterApi(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [throttling.limit("register")]

    class InputSerializer(StrictInputSerializer):
        username = serializers.RegexField(r"^[\w.@+-]+\Z", max_length=150)
        email = serializers.EmailField(max_length=254)
        password = serializers.CharField(max_length=128, write_only=True)
        date_of_birth = serializers.DateField()

    @extend_schema(operation_id="auth_register", request=InputSerializer,
                   responses={201: UserOutput})
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = services.user_register(**data.validated_data)
        return Response(UserOutput(_me(user)).data, status=status.HTTP_201_CREATED)


class TokenApi(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [throttling.limit("login")]

    class InputSerializer(StrictInputSerializer):
        username = serializers.CharField(max_length=150)
        password = serializers.CharField(max_length=128)
        otp = serializers.CharField(max_length=16, required=False, allow_blank=True,
                                    help_text="Staff only (and required for them): the current code "
                                              "from their authenticator app.")

    class OutputSerializer(serializers.Serializer):
        token = serializers.CharField()

    @extend_schema(operation_id="auth_token", request=InputSerializer,
                   responses={200: OutputSerializer})
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            key = services.token_obtain(**data.validated_data)
        except services.AuthError as exc:
            if exc.code == "locked":
                raise throttling.RateLimited(exc.wait, exc.message) from exc
            status_code = 403 if exc.code == "email_not_verified" else 400
            fields = {"otp": [exc.message]} if exc.code in ("otp_required", "invalid_otp") else None
            raise ApiError(status_code, exc.code, exc.message, fields) from exc
        return Response({"token": key})


class MeApi(APIView):
    class DeleteInputSerializer(StrictInputSerializer):
        password = serializers.CharField(max_length=128,
                                         help_text="Your current password, to confirm.")

    @extend_schema(operation_id="me_retrieve", responses={200: UserOutput})
    def get(self, request: Request) -> Response:
        assert isinstance(request.user, User)  # IsAuthenticated ran before this
        return Response(UserOutput(_me(request.user)).data)

    @extend_schema(operation_id="me_delete", request=DeleteInputSerializer,
                   responses={204: None})
    def delete(self, request: Request) -> Response:
        """Delete my account: personal data is removed; money records stay, pseudonymised."""
        user = request.user
        assert isinstance(user, User)
        data = self.DeleteInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        if not user.check_password(data.validated_data["password"]):
            raise ApiError(400, "invalid", "The password is wrong.",
                           {"password": ["The password is wrong."]})
        services.account_delete(user=user, actor=user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class CreatorOutput(serializers.Serializer):
    handle = serializers.CharField()
    country = serializers.CharField()
    display_name = serializers.CharField()
    bio = serializers.CharField()
    created_at = serializers.DateTimeField()


_created_at = serializers.DateTimeField()


class CreatorCreateApi(APIView):
    class InputSerializer(StrictInputSerializer):
        handle = serializers.CharField(max_length=24)
        country = serializers.CharField(max_length=2, min_length=2)

    @extend_schema(operation_id="creators_create", request=InputSerializer,
                   responses={201: CreatorOutput})
    def post(self, request: Request) -> Response:
        """Become a creator."""
        user = request.user
        assert isinstance(user, User)
        if CreatorProfile.objects.filter(user=user).exists():
            raise ApiError(409, "invalid_state", "You already have a creator profile.")
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        profile = services.creator_create(user=user, **data.validated_data)
        return Response(CreatorOutput(profile).data, status=status.HTTP_201_CREATED)


class CreatorDetailApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(operation_id="creators_retrieve", responses={200: CreatorOutput})
    def get(self, request: Request, handle: str) -> Response:
        """A creator's public profile (no private metrics)."""
        row = selectors.public_creator(handle)
        if row is None:
            raise Http404
        # CreatorOutput's output, built directly: the hottest public read (bench creator-profile).
        row["created_at"] = _created_at.to_representation(row["created_at"])
        return Response(row)


class BrandOutput(serializers.Serializer):
    id = serializers.IntegerField()
    slug = serializers.CharField()
    name = serializers.CharField()
    verified = serializers.BooleanField()


class BrandDetailOutput(BrandOutput):
    class MemberOutput(serializers.Serializer):
        username = serializers.CharField(source="user.username")
        role = serializers.CharField()

    members = MemberOutput(many=True, source="memberships.all")


class BrandListCreateApi(APIView):
    class InputSerializer(StrictInputSerializer):
        name = serializers.CharField(max_length=120)

    @extend_schema(operation_id="brands_list", responses={200: BrandOutput(many=True)})
    def get(self, request: Request) -> Response:
        """The brands I am a member of."""
        assert isinstance(request.user, User)
        return Response(BrandOutput(selectors.brands_of(request.user), many=True).data)

    @extend_schema(operation_id="brands_create", request=InputSerializer,
                   responses={201: BrandOutput})
    def post(self, request: Request) -> Response:
        """Create a brand; I become its owner. Staff verify it before it can contact creators."""
        assert isinstance(request.user, User)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        brand = services.brand_create(user=request.user, **data.validated_data)
        return Response(BrandOutput(brand).data, status=status.HTTP_201_CREATED)


class BrandDetailApi(APIView):
    @extend_schema(operation_id="brands_retrieve", responses={200: BrandDetailOutput})
    def get(self, request: Request, brand_id: int) -> Response:
        assert isinstance(request.user, User)
        membership = selectors.brand_membership(request.user, brand_id)
        if membership is None:
            raise Http404
        return Response(BrandDetailOutput(membership.brand).data)


class BrandMemberCreateApi(APIView):
    class InputSerializer(StrictInputSerializer):
        username = serializers.CharField(max_length=150)
        role = serializers.ChoiceField(choices=["owner", "manager"])

    class OutputSerializer(serializers.Serializer):
        username = serializers.CharField(source="user.username")
        role = serializers.CharField()

    @extend_schema(operation_id="brands_members_create", request=InputSerializer,
                   responses={201: OutputSerializer})
    def post(self, request: Request, brand_id: int) -> Response:
        """Add a team member (owners only)."""
        assert isinstance(request.user, User)
        membership = selectors.brand_membership(request.user, brand_id)
        if membership is None:
            raise Http404
        if membership.role != BrandMembership.Role.OWNER:
            raise ApiError(403, "permission_denied", "Only the brand's owners can change its team.")
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        added = services.brand_member_add(brand=membership.brand, actor=request.user,
                                          **data.validated_data)
        return Response(self.OutputSerializer(added).data, status=status.HTTP_201_CREATED)


def require_creator(request: Request, refusal: str) -> CreatorProfile:
    """The signed-in caller's creator profile, or 403 ``permission_denied`` saying ``refusal``.

    Every creator-only endpoint calls this (after IsAuthenticated), so the rule and the answer
    live in one place."""
    user = request.user
    assert isinstance(user, User)  # IsAuthenticated ran before this
    profile = CreatorProfile.objects.select_related("user").filter(user=user).first()
    if profile is None:
        raise ApiError(403, "permission_denied", refusal)
    return profile


class BlockCreateApi(APIView):
    class InputSerializer(StrictInputSerializer):
        username = serializers.CharField(max_length=150)

    class OutputSerializer(serializers.Serializer):
        username = serializers.CharField(source="fan.username")
        created_at = serializers.DateTimeField()

    @extend_schema(operation_id="blocks_create", request=InputSerializer, responses={201: OutputSerializer})
    def post(self, request: Request) -> Response:
        """Block a fan from tipping me or sending me gifts."""
        profile = require_creator(request, "Only creators can block fans.")
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        block = services.block_add(creator=profile, **data.validated_data)
        return Response(self.OutputSerializer(block).data, status=status.HTTP_201_CREATED)


class BlockDeleteApi(APIView):
    @extend_schema(operation_id="blocks_delete", responses={204: None})
    def delete(self, request: Request, username: str) -> Response:
        """Unblock a fan."""
        profile = require_creator(request, "Only creators can block fans.")
        if not services.block_remove(creator=profile, username=username):
            raise Http404
        return Response(status=status.HTTP_204_NO_CONTENT)
