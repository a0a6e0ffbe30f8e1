"""The ``logging`` instrumentation: every LogRecord, from any logger, carries the trace IDs.

A LogRecordFactory sets ``trace_id``, ``span_id``, ``correlation_id`` and ``trace_flags`` where
the record is made, so threads, asyncio tasks and third-party loggers get them too.
"""

# Why not the contrib LoggingInstrumentor, which also installs a record factory: its fields are
# otelTraceID/otelSpanID/otelTraceSampled, "0" outside a span (the contract here is ""); it keeps
# the replaced factory in a class attribute and puts it back blindly, dropping any factory
# installed after it; and by default it adds its own OTLP handler to the root logger, beside the
# one the bootstrap adds for logs_exporter. Its log_hook runs inside spans only, so it cannot
# set the empty fields outside them either.

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pywats_otel._base.ratelimit import warn_once
from pywats_otel.correlation import add_log_fields

if TYPE_CHECKING:
    from pywats_otel._config.settings import TelemetrySettings

__all__ = ["CorrelationRecordFactory", "turn_on"]


class CorrelationRecordFactory:
    """Wraps the LogRecordFactory it replaced and adds the correlation fields to its records.

    Once turned off it only passes through: when another library put its own factory on top
    of this one, taking this one out of the chain is not possible without losing theirs.
    """

    def __init__(self, previous: Callable[..., logging.LogRecord]) -> None:
        self.previous = previous
        self.active = True

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record = self.previous(*args, **kwargs)
        if self.active:
            try:
                add_log_fields(record)
            except Exception:  # noqa: BLE001 - a record without the fields beats no record
                warn_once(
                    "logging-record-factory",
                    "pywats_otel: adding correlation fields to a log record failed; "
                    "going on without it",
                    exc_info=True,
                )
        return record


def turn_on(settings: TelemetrySettings) -> Callable[[], None] | None:
    # Both switches must be on: the instrumentation by name (so that
    # OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=logging works as it does for the contrib
    # instrumentors) and log_correlation, the setting made for exactly this.
    if not settings.log_correlation:
        return None
    factory = CorrelationRecordFactory(logging.getLogRecordFactory())
    logging.setLogRecordFactory(factory)

    def undo() -> None:
        factory.active = False
        if logging.getLogRecordFactory() is factory:
            logging.setLogRecordFactory(factory.previous)

    return undo
