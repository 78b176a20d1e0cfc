"""API plumbing shared by every app: one error shape, pagination.

Errors always look like API.md says:
``{"error": {"code": "<snake_case>", "message": "<sentence>", "fields": {"<field>": ["..."]}}}``
"""

from __future__ import annotations

from typing import Any, NamedTuple

from django.core import validators
from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from drf_spectacular.utils import extend_schema_field
from rest_framework import exceptions, serializers
from rest_framework.fields import empty
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response
from rest_framework.validators import ProhibitSurrogateCharactersValidator
from rest_framework.views import exception_handler as drf_exception_handler

from creatornext.money import CURRENCIES, Money, MoneyError


class ApiError(exceptions.APIException):
    """A domain refusal with an explicit code, e.g. ``ApiError(409, "insufficient_funds", "...")``."""

    def __init__(self, status_code: int, code: str, message: str,
                 fields: dict[str, list[str]] | None = None) -> None:
        super().__init__(detail=message, code=code)
        self.status_code = status_code
        self.code = code
        self.message = message
        self.fields = fields or {}


class DomainError(Exception):
    """A refusal raised by a service, carrying its API answer (status, code, sentence, fields).

    Services raise these without knowing about HTTP details beyond the code; the exception
    handler turns any exception with ``api_error()`` into the error shape.
    """

    status_code = 409
    code = "invalid_state"

    def __init__(self, message: str, fields: dict[str, list[str]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields or {}

    def api_error(self) -> ApiError:
        return ApiError(self.status_code, self.code, self.message, self.fields)


class LimitExceeded(DomainError):
    code = "limit_exceeded"


class AgeRestricted(DomainError):
    status_code = 403
    code = "age_restricted"


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
    api_error = getattr(exc, "api_error", None)
    if callable(api_error):
        exc = api_error()  # a service's refusal (DomainError and friends)
    if isinstance(exc, DjangoValidationError):
        # Services raise Django's ValidationError; the API shows it as field errors (400).
        exc = exceptions.ValidationError(
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages})
    elif isinstance(exc, Http404):
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


class JsonOnlyNegotiation(BaseContentNegotiation):
    """For a hot endpoint that only ever answers JSON: skip parsing the client's Accept header
    (DRF's negotiation cost ~5% of a marketplace search's Python). The API renders JSON only
    (DEFAULT_RENDERER_CLASSES), so the answer is the same JSON whatever the client accepts."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class Pagination(CursorPagination):
    """Cursor pagination: stable under inserts, cost independent of how deep the page is."""

    ordering = "-pk"
    page_size_query_param = "page_size"
    max_page_size = 200

    def decode_cursor(self, request):
        # A malformed cursor is bad input (400), not a missing resource (DRF says 404).
        if request.query_params.get(self.cursor_query_param) == "":
            raise exceptions.ValidationError({"cursor": ["Invalid cursor."]})
        try:
            cursor = super().decode_cursor(request)
        except exceptions.NotFound as exc:
            raise exceptions.ValidationError({"cursor": ["Invalid cursor."]}) from exc
        # The position is compared with the ordering's id column: a cursor we did not make may
        # hold anything there (a 500 in the query otherwise).
        position = None if cursor is None or cursor.position is None else str(cursor.position)
        ordering = self.ordering if isinstance(self.ordering, str) else self.ordering[0]
        if position is not None and ordering.lstrip("-") in ("pk", "id") and not (
                position.isascii() and position.isdigit() and len(position) <= 18):
            raise exceptions.ValidationError({"cursor": ["Invalid cursor."]})
        return cursor


MONEY_SCHEMA = {
    "type": "object",
    "description": "Integer minor units (cents; yen for JPY) and an ISO 4217 currency.",
    "properties": {
        "amount": {"type": "integer", "format": "int64",
                   "minimum": -(2**63 - 1), "maximum": 2**63 - 1},
        "currency": {"type": "string", "enum": sorted(CURRENCIES)},
    },
    "required": ["amount", "currency"],
    "additionalProperties": False,
}


@extend_schema_field(MONEY_SCHEMA)
class MoneyField(serializers.Field):
    """``{"amount": int, "currency": "USD"}`` ↔ Money. Floats, strings and unknown keys are refused."""

    default_error_messages = {"invalid": "{message}"}

    def to_internal_value(self, data: Any) -> Money:
        try:
            return Money.from_api(data)
        except MoneyError as exc:
            self.fail("invalid", message=str(exc))
            raise  # unreachable: fail() raises

    def to_representation(self, value: Money) -> dict[str, Any]:
        return value.to_api()


class StrictInputSerializer(serializers.Serializer):
    """Base for every API input: JSON types are taken as declared, never coerced.

    DRF would turn ``{"name": 0}`` into ``"0"`` and ``{"quantity": "5"}`` into ``5``; for an API that
    moves money, a wrong type is a client bug to report (400), not to guess around.
    """

    _TEXT = (serializers.CharField, serializers.ChoiceField, serializers.DateField,
             serializers.DateTimeField)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Lengths are checked on what was sent: DRF would first strip whitespace (control
        # characters included) and accept a 121-character name as 119. Services trim what they store.
        for field in self.fields.values():
            if isinstance(field, serializers.CharField):
                field.trim_whitespace = False
    _WHOLE = (serializers.IntegerField,)

    def to_internal_value(self, data):
        errors: dict[str, list[str]] = {}
        if isinstance(data, dict):
            for name, field in self.fields.items():
                value = data.get(name)
                if field.read_only or value is None:
                    continue
                if isinstance(field, self._TEXT) and not isinstance(value, str):
                    errors[name] = ["Must be a string."]
                elif isinstance(field, self._WHOLE) and type(value) is not int:  # bool is no int here
                    errors[name] = ["Must be a whole number."]
                elif isinstance(field, serializers.BooleanField) and not isinstance(value, bool):
                    errors[name] = ["Must be true or false."]
        if errors:
            raise exceptions.ValidationError(errors)
        return super().to_internal_value(data)

    def run_validation(self, data: Any = empty) -> Any:
        # The common case — a JSON object whose values are exactly what plain fields declare —
        # answered without DRF's field-by-field machinery (~4 % of a gift send's CPU). Anything
        # else, every error among it, takes DRF's way, which gives the same value when both do.
        if type(data) is dict:
            plan = self._plain_plan()
            if plan is not None:
                value = _plain_values(plan, data)
                if value is not None:
                    return value
        return super().run_validation(data)

    def _plain_plan(self) -> list[_Plain] | None:
        """What each field accepts, if every field is a plain ``CharField`` or ``IntegerField``
        with only the validators its own arguments make, and the serializer validates nothing
        more itself; else None (always DRF's way). Worked out once per instance."""
        try:
            return self.__dict__["_plain"]  # type: ignore[no-any-return]
        except KeyError:
            pass
        plan: list[_Plain] | None = []
        own = type(self)
        if (own.validate is not serializers.Serializer.validate or self.validators
                or any(hasattr(own, f"validate_{name}") for name in self.fields)):
            plan = None
        for name, field in self.fields.items():
            if plan is None:
                break
            if not (not field.read_only and field.source == name and field.default is empty
                    and _own_validators_only(field)):
                plan = None
            elif isinstance(field, serializers.IntegerField):
                plan.append(_Plain(name, True, field.required, field.allow_null, field.min_value,
                                   field.max_value, False))
            elif isinstance(field, serializers.CharField) and not field.trim_whitespace:
                plan.append(_Plain(name, False, field.required, field.allow_null, field.min_length,
                                   field.max_length, field.allow_blank))
            else:
                plan = None
        self.__dict__["_plain"] = plan
        return plan


class _Plain(NamedTuple):
    name: str
    whole: bool  # IntegerField (else CharField)
    required: bool
    allow_null: bool
    low: int | None  # min_value, or min_length
    high: int | None  # max_value, or max_length
    allow_blank: bool


def _own_validators_only(field: serializers.Field) -> bool:
    """A plain IntegerField or CharField (not a subclass) whose validators are exactly those its
    own arguments make (DRF adds them in ``__init__``): no others the plain check would miss."""
    made: list[tuple[type, Any]]
    if type(field) is serializers.IntegerField:
        made = [(validators.MaxValueValidator, field.max_value), (validators.MinValueValidator, field.min_value)]
    elif type(field) is serializers.CharField:
        made = [(validators.MaxLengthValidator, field.max_length), (validators.MinLengthValidator, field.min_length),
                (validators.ProhibitNullCharactersValidator, True), (ProhibitSurrogateCharactersValidator, True)]
    else:
        return False
    expected = sorted((kind.__name__, repr(limit)) for kind, limit in made if limit is not None)
    found = sorted((type(v).__name__, repr(getattr(v, "limit_value", True))) for v in field.validators)
    return found == expected and all(type(v) in {kind for kind, _ in made} for v in field.validators)
_MISSING = object()


def _plain_values(plan: list[_Plain], data: dict[str, Any]) -> dict[str, Any] | None:
    """``data``'s values for ``plan`` when each is plainly valid: a whole number (not a bool) in
    range, or ASCII text without NUL of an allowed length; None for anything else."""
    values: dict[str, Any] = {}
    for field in plan:
        value = data.get(field.name, _MISSING)
        if value is _MISSING:
            if field.required:
                return None
            continue
        if value is None:
            if not field.allow_null:
                return None
        elif field.whole:
            if (type(value) is not int or (field.low is not None and value < field.low)
                    or (field.high is not None and value > field.high)):
                return None
        elif (type(value) is not str or not value.isascii() or "\x00" in value
              or (not value and not field.allow_blank) or len(value) < (field.low or 0)
              or (field.high is not None and len(value) > field.high)):
            return None
        values[field.name] = value
    return values


def api_not_found(request, exception=None):
    """JSON 404 for unknown URLs under /api/ (the pages keep Django's HTML 404)."""
    from django.http import JsonResponse
    from django.views.defaults import page_not_found

    if request.path.startswith("/api/"):
        return JsonResponse(error_body("not_found", "Not found."), status=404)
    return page_not_found(request, exception)


def paginated(child: type[serializers.Serializer]) -> serializers.Serializer:
    """The OpenAPI shape of a cursor page of ``child``: {"results": [...], "next", "previous"}."""
    from drf_spectacular.utils import inline_serializer

    name = "Paginated" + child.__qualname__.replace(".", "").replace("Serializer", "")
    return inline_serializer(name=name, fields={
        "next": serializers.URLField(allow_null=True),
        "previous": serializers.URLField(allow_null=True),
        "results": child(many=True),
    })
