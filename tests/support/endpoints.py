"""Every API endpoint the URL configuration serves, found by walking the resolver.

The authorisation matrix and other harnesses start from this list, so a new endpoint that nobody
registered fails the suite instead of going untested.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.urls import URLPattern, URLResolver, get_resolver

# The public contract lives under these prefixes (API.md): the REST API and the provider webhooks.
PROTECTED_PREFIXES = ("api/v1/", "webhooks/")


@dataclass(frozen=True)
class Endpoint:
    name: str  # "namespace:url_name"
    route: str  # e.g. "api/v1/tips/<int:pk>/"
    methods: tuple[str, ...]


def _methods(callback) -> tuple[str, ...]:
    cls = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
    if cls is None:
        return ("GET",)
    actions = getattr(callback, "actions", None)  # DRF viewsets: {"get": "list", ...}
    names = actions.keys() if actions else [
        m for m in getattr(cls, "http_method_names", []) if hasattr(cls, m)
    ]
    return tuple(sorted(m.upper() for m in names if m not in ("options", "head")))


def _walk(patterns, prefix: str = "", namespace: str = ""):
    for p in patterns:
        route = prefix + str(p.pattern)
        if isinstance(p, URLResolver):
            ns = p.namespace or ""
            full = f"{namespace}:{ns}" if namespace and ns else (ns or namespace)
            yield from _walk(p.url_patterns, route, full)
        elif isinstance(p, URLPattern):
            name = f"{namespace}:{p.name}" if namespace else (p.name or "")
            yield Endpoint(name=name, route=route, methods=_methods(p.callback))


def protected_endpoints() -> list[Endpoint]:
    return [e for e in _walk(get_resolver().url_patterns) if e.route.startswith(PROTECTED_PREFIXES)]
