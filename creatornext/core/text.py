"""Text a person gave, checked where every way in passes (the services).

PostgreSQL refuses NUL in text and a ``varchar`` longer than its column: both are bad input (400,
a message next to the field), never a database error.
"""

from __future__ import annotations

NUL_MESSAGE = "Null characters are not allowed."  # the words of DRF and Django forms


def text_problem(value: str, max_length: int | None = None) -> str | None:
    """What is wrong with ``value`` (a NUL; more than ``max_length`` characters), or None."""
    if "\x00" in value:
        return NUL_MESSAGE
    if max_length is not None and len(value) > max_length:
        return f"At most {max_length:,} characters."
    return None
