"""pyWATS's logging set-up: pywats_otel's log handler survives it, and pyWATS's own
``[correlation_id]`` is the trace ID whenever a span is active.

``configure_logging()`` (and ``setup_client_logging()``, which calls it, also at the import of
``pywats_client.cli``) runs ``root.handlers.clear()``. Rather than wrap those functions (a
station imports them by name, often before ``init_telemetry()``), the root logger's handler
list keeps, through ``clear()``, the handlers pywats_otel put there (flagged
``pywats_otel_keep``); adding, removing and replacing handlers work as before.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from types import ModuleType
from typing import Any

from opentelemetry import trace

from pywats_otel._base.ratelimit import warn_once
from pywats_otel._base.state import KEEP_HANDLER_FLAG
from pywats_otel.instrumentation.pywats._patches import Patches

__all__ = ["instrument_logging"]


class _KeepingHandlers(list[logging.Handler]):
    """The root logger's handler list, whose ``clear()`` keeps pywats_otel's handlers."""

    def clear(self) -> None:
        kept = [handler for handler in self if getattr(handler, KEEP_HANDLER_FLAG, False)]
        super().clear()
        self.extend(kept)


def _correlation_filter(
    wrapped: Callable[..., Any], instance: object, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    result = wrapped(*args, **kwargs)
    try:
        span_context = trace.get_current_span().get_span_context()
        if span_context.is_valid:
            record = args[0] if args else kwargs.get("record")
            record.correlation_id = format(span_context.trace_id, "032x")  # type: ignore[union-attr]
    except Exception:  # noqa: BLE001 - pyWATS's own ID stays
        warn_once("pywats-logging", "pywats_otel: setting the correlation ID failed")
    return result


def _keep_root_handlers(patches: Patches) -> None:
    root = logging.getLogger()
    if not isinstance(root.handlers, _KeepingHandlers):
        root.handlers = _KeepingHandlers(root.handlers)

    def undo() -> None:
        if isinstance(root.handlers, _KeepingHandlers):
            root.handlers = list(root.handlers)

    patches.on_undo(undo)


def instrument_logging(patches: Patches) -> None:
    def core_logging(module: ModuleType) -> None:
        patches.wrap(module.CorrelationFilter, "filter", _correlation_filter)

    _keep_root_handlers(patches)
    patches.when_imported("pywats.core.logging", core_logging)
