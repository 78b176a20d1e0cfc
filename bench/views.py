"""The HTTP baselines (TARGETS.md): the least a DRF endpoint can do, served like the app.

No authentication: they measure the framework and the database round trip, and the workloads'
ratios against them include everything our endpoints add (authentication among it).
"""

from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from bench.models import BenchRow


class JsonBaselineApi(APIView):
    """B-json: a bare DRF endpoint returning {"ok": true}."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    def get(self, request: Request) -> Response:
        return Response({"ok": True})


class InsertBaselineApi(APIView):
    """B-insert: validate a JSON body, insert one row through the ORM (one commit)."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    class InputSerializer(serializers.Serializer):
        value = serializers.IntegerField()

    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        row = BenchRow.objects.create(value=data.validated_data["value"])
        return Response({"id": row.pk}, status=status.HTTP_201_CREATED)
