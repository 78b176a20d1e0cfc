"""Wallet API (API.md, Wallet): balances and the statement."""

from __future__ import annotations

import csv
import io

from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, renderers, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from creatornext.core.api import Pagination, paginated
from creatornext.ledger import selectors


class WalletApi(APIView):
    class OutputSerializer(serializers.Serializer):
        class CashSerializer(serializers.Serializer):
            currency = serializers.CharField()
            pending = serializers.IntegerField(help_text="minor units")
            available = serializers.IntegerField(help_text="minor units")
            in_payout = serializers.IntegerField(help_text="minor units")
            debt = serializers.IntegerField(help_text="minor units owed to the platform")

        coins = serializers.IntegerField()
        diamonds = serializers.IntegerField()
        cash = CashSerializer(many=True)

    @extend_schema(operation_id="wallet_retrieve", responses={200: OutputSerializer})
    def get(self, request: Request) -> Response:
        return Response(self.OutputSerializer(selectors.wallet(request.user)).data)


STATEMENT_COLUMNS = ("id", "created_at", "kind", "ref", "memo", "account", "asset", "amount",
                     "balance_after")


# A spreadsheet runs a cell that starts with one of these as a formula; a memo can carry text that
# another user chose (a brand's campaign title becomes the creator's escrow memo).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(value):
    """Text that a spreadsheet would run, shown as text instead (a leading apostrophe)."""
    return f"'{value}" if isinstance(value, str) and value.startswith(_FORMULA_STARTS) else value


class StatementCSVRenderer(renderers.BaseRenderer):
    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=STATEMENT_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for row in data.get("results", []):
            writer.writerow({key: _cell(value) for key, value in row.items()})
        return out.getvalue().encode()


class StatementPagination(Pagination):
    ordering = "-id"


_created_at = serializers.DateTimeField()


def statement_lines(rows: list[dict]) -> list[dict]:
    """``StatementApi.OutputSerializer``'s output, built directly from the selector's rows: a page
    of 200 lines through the serializer cost more than the rest of the request (P5)."""
    return [{"id": r["id"], "created_at": _created_at.to_representation(r["created_at"]), "kind": r["kind"],
             "ref": r["ref"], "memo": r["memo"], "account": r["account_kind"], "asset": r["asset"],
             "amount": r["amount"], "balance_after": r["balance_after"]} for r in rows]


class StatementApi(APIView):
    renderer_classes = [renderers.JSONRenderer, StatementCSVRenderer]

    def perform_content_negotiation(self, request, force=False):
        if request.query_params.get("format", "json") not in ("json", "csv"):
            raise exceptions.ValidationError({"format": ["Choose json or csv."]})
        try:
            return super().perform_content_negotiation(request, force)
        except Http404 as exc:  # DRF's answer to an unknown ?format=
            raise exceptions.ValidationError({"format": ["Choose json or csv."]}) from exc

    def handle_exception(self, exc):
        # Errors are JSON in the API's error shape, even when CSV was asked for.
        response = super().handle_exception(exc)
        self.request.accepted_renderer = renderers.JSONRenderer()
        self.request.accepted_media_type = "application/json"
        return response

    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        created_at = serializers.DateTimeField()
        kind = serializers.CharField(source="transaction.kind")
        ref = serializers.CharField(source="transaction.ref")
        memo = serializers.CharField(source="transaction.memo")
        account = serializers.CharField(source="account.kind")
        asset = serializers.CharField()
        amount = serializers.IntegerField(help_text="signed; minor units, coins or diamonds")
        balance_after = serializers.IntegerField(allow_null=True)

    @extend_schema(
        operation_id="wallet_statement",
        parameters=[OpenApiParameter("format", str, enum=["json", "csv"],
                                     description="json (default) or csv"),
                    OpenApiParameter("cursor", str, description="from `next` / `previous`")],
        responses={200: OpenApiResponse(paginated(OutputSerializer)),
                   (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR)},
    )
    def get(self, request: Request) -> Response:
        """My ledger lines, newest first, cursor-paginated (CSV: the same page; next page in `Link`)."""
        paginator = StatementPagination()
        page = paginator.paginate_queryset(selectors.statement(request.user), request, view=self)
        response = paginator.get_paginated_response(statement_lines(page or []))
        next_link = paginator.get_next_link()
        if next_link:
            response["Link"] = f'<{next_link}>; rel="next"'
        return response
