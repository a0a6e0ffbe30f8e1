"""pywats_otel: OpenTelemetry traces, metrics and logs for pyWATS, set up by one call.

from pywats_otel import init_telemetry
telemetry = init_telemetry(service_name="station-7")
"""

from __future__ import annotations

from pywats_otel._bootstrap import get_telemetry, init_telemetry, shutdown_telemetry
from pywats_otel._errors import TelemetryConfigError
from pywats_otel._settings import TelemetrySettings
from pywats_otel._telemetry import Telemetry
from pywats_otel._version import __version__

__all__ = [
    "Telemetry",
    "TelemetryConfigError",
    "TelemetrySettings",
    "__version__",
    "get_telemetry",
    "init_telemetry",
    "shutdown_telemetry",
]
