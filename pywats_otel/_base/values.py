"""Odd values made safe for span and metric attributes: text or a whole number, or None."""

from __future__ import annotations

__all__ = ["safe_int", "safe_str"]


def safe_str(value: object) -> str | None:
    """``value`` as text for an attribute; None when it has no usable text."""
    if isinstance(value, str):
        return value
    if value is None:
        return None
    try:
        return str(value)
    except Exception:  # noqa: BLE001 - a broken __str__ gives no attribute, not an error
        return None


def safe_int(value: object) -> int | None:
    """``value`` as an int for an attribute; None when it is not a whole number."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    try:
        number = float(value)  # type: ignore[arg-type]
    except Exception:  # noqa: BLE001 - anything float() refuses is no number
        return None
    return int(number) if number.is_integer() else None
