"""API plumbing shared by every app: one error shape, pagination.

Errors always look like API.md says:
``{"error": {"code": "<snake_case>", "message": "<sentence>", "fields": {"<field>": ["..."]}}}``
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404
from rest_framework import exceptions
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


class ApiError(exceptions.APIException):
    """A domain refusal with an explicit code, e.g. ``ApiError(409, "insufficient_funds", "...")``."""

    def __init__(self, status_code: int, code: str, message: str,
                 fields: dict[str, list[str]] | None = None) -> None:
        super().__init__(detail=message, code=code)
        self.status_code = status_code
        self.code = code
        self.message = message
        self.fields = fields or {}


_DEFAULT_CODES = {
    400: "invalid",
    401: "not_authenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    415: "unsupported_media_type",
    429: "rate_limited",
}


def _flatten(detail: Any) -> dict[str, list[str]]:
    """DRF's nested ValidationError detail → {"field": ["msg", ...]} (nested keys dotted)."""
    out: dict[str, list[str]] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, sub in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), sub)
        elif isinstance(value, list):
            if all(not isinstance(v, dict | list) for v in value):
                out.setdefault(prefix or "non_field_errors", []).extend(str(v) for v in value)
            else:
                for i, sub in enumerate(value):
                    walk(f"{prefix}.{i}" if prefix else str(i), sub)
        else:
            out.setdefault(prefix or "non_field_errors", []).append(str(value))

    walk("", detail)
    return out


def error_body(code: str, message: str, fields: dict[str, list[str]] | None = None) -> dict:
    return {"error": {"code": code, "message": message, "fields": fields or {}}}


def exception_handler(exc: Exception, context: dict) -> Response | None:
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # a real server error: let Django log it and answer 500
    if isinstance(exc, ApiError):
        response.data = error_body(exc.code, exc.message, exc.fields)
        return response
    if isinstance(exc, exceptions.ValidationError):
        fields = _flatten(exc.detail)
        response.data = error_body("invalid", "The request has invalid fields.", fields)
        return response
    detail = getattr(exc, "detail", "")
    code = getattr(detail, "code", None) or _DEFAULT_CODES.get(response.status_code, "error")
    if isinstance(exc, exceptions.Throttled):
        code = "rate_limited"  # API.md's name; DRF already set Retry-After
    message = str(detail) or "The request failed."
    response.data = error_body(str(code), message)
    return response


class Pagination(CursorPagination):
    """Cursor pagination: stable under inserts, cost independent of how deep the page is."""

    ordering = "-pk"
    page_size_query_param = "page_size"
    max_page_size = 200
