"""A logger wrapper that says the same thing at most once per interval.

Callbacks that run at every metric collection or health check would otherwise repeat one
problem every few seconds.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Hashable

__all__ = ["LimitedLogger"]


class LimitedLogger:
    """Logs each ``key`` at most once per ``interval_s``; the first occurrence always."""

    def __init__(self, logger: logging.Logger, interval_s: float = 60.0) -> None:
        self._logger = logger
        self._interval_s = interval_s
        self._last: dict[Hashable, float] = {}
        self._lock = threading.Lock()

    def _due(self, key: Hashable) -> bool:
        now = time.monotonic()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < self._interval_s:
                return False
            self._last[key] = now
            return True

    def warning(self, key: Hashable, message: str, *args: object, exc_info: bool = False) -> None:
        if self._due(key):
            self._logger.warning(message, *args, exc_info=exc_info)

    def forget(self) -> None:
        """Start afresh (a new telemetry start-up)."""
        with self._lock:
            self._last.clear()
