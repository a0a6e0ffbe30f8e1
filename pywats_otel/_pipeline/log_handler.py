"""The root-logger handler that sends log records to the logs exporters, without feedback.

The SDK, the exporters and their HTTP/gRPC libraries log when an export fails. Were those
records exported too, a dead collector would make every failure produce a record that fails
again: a storm. The guard keeps them out by logger name, by export thread and by the SDK's
suppress-instrumentation flag, which the batch processors set around every export.

What it exports has its URLs redacted (``redact_text()``): httpx and httpcore log every request
line with the full URL, token and all. The record itself is left as it is, so the program's own
handlers print what they always printed.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import threading

from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY, get_value
from opentelemetry.instrumentation.logging.handler import LoggingHandler
from opentelemetry.util.types import AnyValue

from pywats_otel._base.redact import redact_text
from pywats_otel._base.state import KEEP_HANDLER_FLAG
from pywats_otel.semconv import LOG_FIELDS

__all__ = ["TelemetryLogHandler"]

_OWN_LOGGERS = ("opentelemetry", "grpc", "urllib3", "requests", "pywats_otel.export")
_EXPORT_THREADS = ("OtelBatch", "OtelPeriodicExportingMetricReader")


def _is_own(name: str) -> bool:
    return any(name == prefix or name.startswith(prefix + ".") for prefix in _OWN_LOGGERS)


class _FeedbackGuard(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if _is_own(record.name):
            return False
        if get_value(_SUPPRESS_INSTRUMENTATION_KEY):
            return False
        return not threading.current_thread().name.startswith(_EXPORT_THREADS)


class TelemetryLogHandler(LoggingHandler):
    """OpenTelemetry's logging handler, guarded against feedback and never raising."""

    def __init__(self, level: int = logging.NOTSET, **kwargs: object) -> None:
        super().__init__(level=level, **kwargs)  # type: ignore[arg-type]
        self.addFilter(_FeedbackGuard())
        # Put back by the pywats instrumentation after pyWATS clears the root's handlers.
        setattr(self, KEEP_HANDLER_FLAG, True)

    def _get_attributes(self, record: logging.LogRecord) -> tuple[dict[str, AnyValue], str | None]:
        # The correlation fields of the logging instrumentation are the OTLP record's own
        # trace_id, span_id and flags already; as attributes they would be sent twice.
        # (Overrides a private method of the contrib handler: should it be renamed, the
        # fields are merely sent twice.)
        attributes, event_name = super()._get_attributes(record)
        for name in LOG_FIELDS:
            attributes.pop(name, None)
        # The exception's message and stack trace, and extra= fields, may quote a URL too.
        for key, value in attributes.items():
            if isinstance(value, str) and "://" in value:
                attributes[key] = redact_text(value)
        return attributes, event_name

    def emit(self, record: logging.LogRecord) -> None:
        # A log record must never break the caller, whatever the exporter pipeline does.
        with contextlib.suppress(Exception):
            super().emit(_redacted(record))


def _redacted(record: logging.LogRecord) -> logging.LogRecord:
    """``record``, or a copy whose message has its URLs redacted; the original is untouched."""
    message = record.getMessage()
    if "://" not in message:
        return record
    redacted = redact_text(message)
    if redacted == message:
        return record
    shown = copy.copy(record)
    shown.msg, shown.args = redacted, None
    return shown
