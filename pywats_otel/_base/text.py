"""Counts in words: ``1 request``, ``3 requests``."""

from __future__ import annotations

__all__ = ["plural"]


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """``count`` with ``noun`` (``nouns``, by default ``noun + "s"``, unless it is 1)."""
    return f"{count} {noun if count == 1 else (nouns or noun + 's')}"
