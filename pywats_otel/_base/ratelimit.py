"""Warnings that say the same thing at most once a minute: the one rate limit of pywats_otel.

Callbacks that run at every metric collection, health check or request would otherwise repeat
one problem every few seconds; a warning about telemetry must never raise into the caller.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Hashable

__all__ = ["WARNING_INTERVAL_S", "due", "reset_warnings", "warn_once"]

_logger = logging.getLogger("pywats_otel")

WARNING_INTERVAL_S = 60.0
# Keys are few (one per cause and queue or converter name), but a caller passing unbounded
# names must not grow this without end.
_MAX_KEYS = 1000
_lock = threading.Lock()
_last: dict[Hashable, float] = {}


def due(key: Hashable) -> bool:
    """True the first time for ``key``, then again once WARNING_INTERVAL_S have passed."""
    now = time.monotonic()
    with _lock:
        last = _last.get(key)
        if last is not None and now - last < WARNING_INTERVAL_S:
            return False
        if len(_last) >= _MAX_KEYS:
            _last.clear()
        _last[key] = now
        return True


def warn_once(
    key: Hashable,
    message: str,
    *args: object,
    exc_info: bool = False,
    logger: logging.Logger | None = None,
) -> None:
    """Log a warning for ``key`` at most once per WARNING_INTERVAL_S; never raises."""
    try:
        if due(key):
            (logger or _logger).warning(message, *args, exc_info=exc_info)
    except Exception:  # noqa: BLE001, S110 - a warning about telemetry must not break the caller
        pass


def reset_warnings() -> None:
    """Forget which warnings were logged (a new start-up, or a test)."""
    with _lock:
        _last.clear()
