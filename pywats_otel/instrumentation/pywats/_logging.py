"""pyWATS's logging set-up: pywats_otel's log handler survives it, and pyWATS's own
``[correlation_id]`` is the trace ID whenever a span is active.

``configure_logging()`` (and ``setup_client_logging()``, which calls it, also at the import of
``pywats_client.cli``) clears the root logger's handlers; the handlers pywats_otel put there
(flagged ``pywats_otel_keep``) are put back right after it.
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


def _keeping_handlers(
    wrapped: Callable[..., Any], instance: object, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    root = logging.getLogger()
    kept = [handler for handler in root.handlers if getattr(handler, KEEP_HANDLER_FLAG, False)]
    try:
        return wrapped(*args, **kwargs)
    finally:
        try:
            for handler in kept:
                if handler not in root.handlers:
                    root.addHandler(handler)
        except Exception:  # noqa: BLE001 - pyWATS's own set-up stands
            warn_once("pywats-logging", "pywats_otel: keeping the log handler failed")


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


def instrument_logging(patches: Patches, *, client: bool) -> None:
    def core_logging(module: ModuleType) -> None:
        patches.wrap(module, "configure_logging", _keeping_handlers)
        patches.wrap(module.CorrelationFilter, "filter", _correlation_filter)

    def client_logging(module: ModuleType) -> None:
        patches.wrap(module, "setup_client_logging", _keeping_handlers)

    patches.when_imported("pywats.core.logging", core_logging)
    if client:
        patches.when_imported("pywats_client.core.logging", client_logging)
