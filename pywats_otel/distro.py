"""pywats_otel beside ``opentelemetry-instrument``: a configurator and a distro.

``opentelemetry-instrument python station.py`` (from opentelemetry-instrumentation, which
pywats_otel depends on) loads one *distro* and one *configurator* by entry point before the
program runs, then every installed instrumentor. pywats_otel registers both, named ``pywats``:

- :class:`PywatsConfigurator` (group ``opentelemetry_configurator``) configures the SDK
  through ``init_telemetry()``, from the environment, before the program's own code: its
  exporters, ``/metrics``, ``/traces`` and ``/health``, its instrumentations. The program's own
  ``init_telemetry()`` then returns that handle.
- :class:`PywatsDistro` (group ``opentelemetry_distro``) selects that configurator
  (``OTEL_PYTHON_CONFIGURATOR=pywats`` unless set) and skips the contrib instrumentors of what
  ``init_telemetry()`` already turned on its own way (httpx, threading, logging, system
  metrics, pyWATS), so nothing is instrumented twice.

With opentelemetry-distro installed as well, ``opentelemetry-instrument`` takes whichever distro
and configurator it finds first; ``OTEL_PYTHON_DISTRO=pywats`` (or
``OTEL_PYTHON_CONFIGURATOR=pywats``) chooses pywats_otel's. When another configurator set the
providers first, ``init_telemetry()`` adds its parts to them instead (see docs/instrumentation.md,
"Beside opentelemetry-instrument").
"""

from __future__ import annotations

import logging
import os
from typing import Any

from opentelemetry.instrumentation.distro import BaseDistro  # type: ignore[attr-defined]
from opentelemetry.sdk._configuration import _BaseConfigurator

__all__ = ["NAME", "PywatsConfigurator", "PywatsDistro"]

_logger = logging.getLogger("pywats_otel")

#: The entry point name of the configurator and of the distro.
NAME = "pywats"
#: Instrumentor entry point name -> pywats_otel's instrumentation that covers it.
_OWN = {
    "httpx": "httpx",
    "threading": "threading",
    "logging": "logging",
    "system_metrics": "system",
    "pywats": "pywats",
}


class PywatsConfigurator(_BaseConfigurator):
    """Configures OpenTelemetry through ``init_telemetry()`` (settings from the environment)."""

    def _configure(self, **kwargs: Any) -> None:
        from pywats_otel._base.errors import TelemetryConfigError
        from pywats_otel._pipeline.bootstrap import init_telemetry

        try:
            telemetry = init_telemetry()
        except TelemetryConfigError as exc:
            # The program's own init_telemetry() raises it again, where the program sees it.
            _logger.error(  # noqa: TRY400 - the message says it all, no traceback
                "pywats_otel: opentelemetry-instrument could not configure: %s", exc
            )
            return
        except Exception:
            _logger.exception("pywats_otel: opentelemetry-instrument could not configure")
            return
        telemetry.started_by = "opentelemetry-instrument"


class PywatsDistro(BaseDistro):  # type: ignore[misc]
    """Chooses the pywats configurator and leaves out instrumentors pywats_otel replaces."""

    def _configure(self, **kwargs: Any) -> None:
        os.environ.setdefault("OTEL_PYTHON_CONFIGURATOR", NAME)

    def load_instrumentor(self, entry_point: Any, **kwargs: Any) -> None:
        from pywats_otel._base import state

        telemetry = state.running()
        own = _OWN.get(entry_point.name)
        if telemetry is not None and own is not None and own in telemetry.instrumentations:
            _logger.debug(
                "pywats_otel: %s is instrumented by pywats_otel's %s instrumentation; the "
                "instrumentor of entry point %s is left out",
                entry_point.name,
                own,
                entry_point.value,
            )
            return
        super().load_instrumentor(entry_point, **kwargs)
