"""The one timestamp format of status(), /health and the exporter counters: ISO 8601, UTC."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Literal

__all__ = ["iso"]


def iso(timestamp: float, timespec: Literal["seconds", "milliseconds"] = "milliseconds") -> str:
    """Unix time ``timestamp`` as ``2026-01-02T03:04:05.678+00:00`` (or to the second)."""
    return datetime.fromtimestamp(timestamp, tz=timezone.utc).isoformat(timespec=timespec)
