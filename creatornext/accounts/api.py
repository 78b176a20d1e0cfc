"""Accounts API: one view per endpoint, nested Input/Output serializers."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from creatornext.accounts.models import User
from creatornext.accounts.selectors import user_roles


class MeApi(APIView):
    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        username = serializers.CharField()
        email = serializers.EmailField()
        date_of_birth = serializers.DateField(allow_null=True)
        roles = serializers.ListField(child=serializers.CharField())

    @extend_schema(operation_id="me_retrieve", responses={200: OutputSerializer})
    def get(self, request: Request) -> Response:
        user = request.user
        assert isinstance(user, User)  # IsAuthenticated ran before this
        data = {"id": user.pk, "username": user.username, "email": user.email,
                "date_of_birth": user.date_of_birth, "roles": user_roles(user)}
        return Response(self.OutputSerializer(data).data)
