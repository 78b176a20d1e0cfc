"""OpenAPI post-processing: every operation documents the error shape it can answer with.

API.md fixes one error body for all endpoints; rather than repeat it in every view, this hook adds
the ``Error`` component and the error statuses each operation can return.
"""

from __future__ import annotations

from drf_spectacular import openapi

ERROR_COMPONENT = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "fields"],
            "properties": {
                "code": {"type": "string", "example": "invalid"},
                "message": {"type": "string"},
                "fields": {
                    "type": "object",
                    "additionalProperties": {"type": "array", "items": {"type": "string"}},
                },
            },
        }
    },
}

_DESCRIPTIONS = {
    "400": "Invalid input (see `error.fields`).",
    "401": "No or invalid credentials.",
    "403": "Authenticated, but this role may not use the endpoint.",
    "404": "Not found (or another user's private object).",
    "409": "State conflict (e.g. `insufficient_funds`, `not_eligible`, `invalid_state`).",
    "429": "Rate limited; see `Retry-After`.",
}
_WRITES = {"post", "put", "patch", "delete"}


def add_error_responses(result, generator, request, public):
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_COMPONENT
    ref = {"$ref": "#/components/schemas/Error"}
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            codes = ["401", "403", "429"]
            if method in _WRITES or operation.get("parameters"):
                codes.append("400")
            if "{" in path or method in _WRITES:
                codes += ["404", "409"]
            responses = operation.setdefault("responses", {})
            for code in codes:
                responses.setdefault(code, {
                    "description": _DESCRIPTIONS[code],
                    "content": {"application/json": {"schema": ref}},
                })
    return result


class AutoSchema(openapi.AutoSchema):
    """Names nested serializers after their view (``TokenApi.InputSerializer`` → ``TokenApiInput``).

    Every API view declares its own ``InputSerializer``/``OutputSerializer`` (house style); without
    this, they would all collide as one "Input" component.
    """

    def get_serializer_name(self, serializer, direction):
        cls = serializer if isinstance(serializer, type) else serializer.__class__
        qualname = getattr(cls, "__qualname__", "")
        if "." in qualname:
            return qualname.replace(".", "").replace("Serializer", "")
        return super().get_serializer_name(serializer, direction)
