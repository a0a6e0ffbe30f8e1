"""Process-wide state, at the bottom of the package: the running telemetry and its settings.

The bootstrap sets it at start-up and clears it when tests forget the handle; instrumentation
and the domain APIs read it here instead of importing the bootstrap, so every import of the
package points down. Reads are plain attribute loads: cheap enough per request or record.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pywats_otel import semconv

if TYPE_CHECKING:
    from pywats_otel._config.settings import TelemetrySettings
    from pywats_otel._pipeline.telemetry import Telemetry

__all__ = ["KEEP_HANDLER_FLAG", "correlation_header", "running", "set_running", "settings"]

#: Set (true) on the root-logger handlers pywats_otel adds, so that code which clears the root
#: logger's handlers (pyWATS's logging set-up) can have them put back.
KEEP_HANDLER_FLAG = "pywats_otel_keep"

_running: Telemetry | None = None
_settings: TelemetrySettings | None = None


def set_running(telemetry: Telemetry | None) -> None:
    """Make ``telemetry`` the process's running handle (None: there is none)."""
    global _running, _settings  # noqa: PLW0603 - the one process-wide handle
    _running = telemetry
    _settings = telemetry.settings if telemetry is not None else None


def running() -> Telemetry | None:
    """The handle of ``init_telemetry()``, or None before it."""
    return _running


def settings() -> TelemetrySettings | None:
    """The settings of the running telemetry, or None before ``init_telemetry()``."""
    return _settings


def correlation_header() -> str:
    """The correlation header's name: the setting of the running telemetry, else the default."""
    current = _settings
    return current.correlation_header if current is not None else semconv.DEFAULT_CORRELATION_HEADER
