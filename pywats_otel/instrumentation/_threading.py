"""The ``threading`` instrumentation: threads and thread pools inherit the span context.

A thread or ThreadPoolExecutor task started inside a span then logs that span's trace ID.
This wraps the contrib ThreadingInstrumentor.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from opentelemetry.instrumentation.threading import ThreadingInstrumentor

if TYPE_CHECKING:
    from pywats_otel._config.settings import TelemetrySettings


def turn_on(settings: TelemetrySettings) -> Callable[[], None] | None:
    instrumentor = ThreadingInstrumentor()
    if instrumentor.is_instrumented_by_opentelemetry:
        return None  # somebody else did it; leave it to them to undo
    instrumentor.instrument()

    def undo() -> None:
        instrumentor.uninstrument()

    return undo
