"""pywats_otel: OpenTelemetry traces, metrics and logs for pyWATS, set up by one call.

from pywats_otel import init_telemetry
telemetry = init_telemetry(service_name="station-7")
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from pywats_otel._base.errors import TelemetryConfigError
from pywats_otel._config.kwargs import SettingsKwargs
from pywats_otel._config.settings import TelemetrySettings
from pywats_otel._pipeline.bootstrap import get_telemetry, init_telemetry, shutdown_telemetry
from pywats_otel._pipeline.telemetry import Telemetry
from pywats_otel._version import __version__

if TYPE_CHECKING:
    from pywats_otel import (
        converter,
        correlation,
        health,
        instrumentation,
        queue,
        semconv,
        testing,
    )

__all__ = [
    "SettingsKwargs",
    "Telemetry",
    "TelemetryConfigError",
    "TelemetrySettings",
    "__version__",
    "converter",
    "correlation",
    "get_telemetry",
    "health",
    "init_telemetry",
    "instrumentation",
    "queue",
    "semconv",
    "shutdown_telemetry",
    "testing",
]

# Imported on first use, so that `import pywats_otel` stays light.
_SUBMODULES = frozenset(
    {"converter", "correlation", "health", "instrumentation", "queue", "semconv", "testing"}
)


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"pywats_otel.{name}")
    raise AttributeError(f"module 'pywats_otel' has no attribute {name!r}")
