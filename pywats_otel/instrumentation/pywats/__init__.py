"""The ``pywats`` instrumentation: pywats-api traced and measured with no code of the station's.

``init_telemetry()`` turns it on when pywats-api is installed (instrumentation name ``pywats``;
``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=pywats`` leaves it off); ``opentelemetry-instrument``
finds it under the ``opentelemetry_instrumentor`` entry point. It covers:

- every API call (``pyWATS`` and ``AsyncWATS``): a span ``WATS <method> <route>`` around its
  HTTP attempts, and ``pywats.api.request.duration``; the sync API runs its coroutine in the
  caller's trace and pyWATS's correlation ID is the trace ID;
- the queues (``MemoryQueue``, ``PersistentQueue``, ``AsyncQueueAdapter``): ``send`` and
  ``process`` spans, the context carried in the item's metadata, the queue depth;
- the converters (every ``FileConverter`` and ``ConverterBase``, ``ScheduledConverter``,
  ``ConverterSandbox``): ``convert`` spans and the converter metrics;
- the service (``AsyncConverterPool``, ``AsyncPendingQueue``, ``HealthServer``);
- pyWATS's logging set-up, which keeps pywats_otel's log handler.

``pywats_client`` (which imports PySide6, even headless) is patched when the program imports
it, never by pywats_otel itself. See docs/pywats.md.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Any

from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]

from pywats_otel.instrumentation.pywats._converters import instrument_converters
from pywats_otel.instrumentation.pywats._health import instrument_health
from pywats_otel.instrumentation.pywats._http import HttpTelemetry
from pywats_otel.instrumentation.pywats._logging import instrument_logging
from pywats_otel.instrumentation.pywats._patches import Patches
from pywats_otel.instrumentation.pywats._queues import (
    ProducedBy,
    instrument_client_queues,
    instrument_queues,
    new_depths,
)
from pywats_otel.instrumentation.pywats.package import _instruments

if TYPE_CHECKING:
    from pywats_otel._config.settings import TelemetrySettings

__all__ = ["PyWATSInstrumentor", "turn_on"]

_logger = logging.getLogger("pywats_otel")


def _client_importable() -> str | None:
    """None when pywats_client can be imported, else why not."""
    if importlib.util.find_spec("pywats_client") is None:
        return "pywats_client is not installed"
    if importlib.util.find_spec("PySide6") is None:
        return (
            "pywats_client imports PySide6, which is not installed (pip install PySide6-Essentials)"
        )
    return None


class PyWATSInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Instruments pywats-api; ``instrument(tracer_provider=, meter_provider=,
    legacy_metrics=False)``.

    The API call spans and metrics use the given providers (else the global ones); the queue
    and converter spans go through ``pywats_otel.queue`` and ``pywats_otel.converter``, which
    use the global providers.
    """

    _patches: Patches | None = None

    def instrumentation_dependencies(self) -> Collection[str]:
        return _instruments

    def _instrument(self, **kwargs: Any) -> None:
        patches = Patches()
        produced = ProducedBy()
        depths = new_depths()
        http = HttpTelemetry(
            kwargs.get("tracer_provider"),
            kwargs.get("meter_provider"),
            legacy_metrics=bool(kwargs.get("legacy_metrics", False)),
        )

        def async_client(module: Any) -> None:
            patches.wrap(module.AsyncHttpClient, "_make_request", http.make_request)

        def sync_api(module: Any) -> None:
            patches.wrap(module, "_run_sync", http.run_sync)

        def box_build(module: Any) -> None:
            # It imported _run_sync by name.
            if hasattr(module, "_run_sync"):
                patches.wrap(module, "_run_sync", http.run_sync)

        patches.when_imported("pywats.core.async_client", async_client)
        patches.when_imported("pywats.pywats", sync_api)
        patches.when_imported("pywats.domains.product.sync_box_build", box_build)
        instrument_queues(patches, produced, depths)

        unavailable = _client_importable()
        if unavailable is None:
            instrument_client_queues(patches, produced, depths)
            instrument_converters(patches, produced)
            instrument_health(patches)
        else:
            _logger.info(
                "pywats_otel: %s; the pywats instrumentation covers pywats only "
                "(not PersistentQueue, the converters or the client service)",
                unavailable,
            )
        instrument_logging(patches)
        self._patches = patches

    def _uninstrument(self, **kwargs: Any) -> None:
        patches, self._patches = self._patches, None
        if patches is not None:
            patches.undo_all()


def turn_on(settings: TelemetrySettings) -> Callable[[], None] | None:
    """The ``pywats`` instrumentation of init_telemetry()."""
    if importlib.util.find_spec("pywats") is None:
        _logger.info("pywats_otel: pywats-api is not installed; the pywats instrumentation is off")
        return None
    instrumentor = PyWATSInstrumentor()
    if instrumentor.is_instrumented_by_opentelemetry:
        return None  # opentelemetry-instrument did it; it undoes it too
    instrumentor.instrument(legacy_metrics=settings.pywats_legacy_metrics)
    if not instrumentor.is_instrumented_by_opentelemetry:
        return None  # BaseInstrumentor logged why (a pywats-api version it does not cover)

    def undo() -> None:
        instrumentor.uninstrument()

    return undo
