"""Text: counts in words (``1 request``, ``3 requests``); whether a text can be written as
UTF-8."""

from __future__ import annotations

__all__ = ["is_utf8", "plural"]


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """``count`` with ``noun`` (``nouns``, by default ``noun + "s"``, unless it is 1)."""
    return f"{count} {noun if count == 1 else (nouns or noun + 's')}"


def is_utf8(text: str) -> bool:
    """True when ``text`` can be written as UTF-8 (no lone surrogates); cheap for ASCII."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
