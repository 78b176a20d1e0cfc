"""The API's JSON parser (``DEFAULT_PARSER_CLASSES``): a module of its own, because DRF reads that
setting while ``rest_framework.views`` is imported, which ``core.api`` imports."""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions, parsers


class JSONParser(parsers.JSONParser):
    """DRF's, but a body nested deeper than Python can decode (``RecursionError``, e.g. 100,000
    ``[``) is bad JSON like any other (400), not a server error."""

    def parse(self, stream: Any, media_type: Any = None, parser_context: Any = None) -> Any:
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError as exc:
            raise exceptions.ParseError("JSON parse error - nested too deeply.") from exc
