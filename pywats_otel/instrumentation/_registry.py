"""The instrumentations init_telemetry() can turn on, by the names of the setting.

Every instrumentation has the same interface: ``turn_on(settings) -> undo | None``, where
``settings`` is the running TelemetrySettings (read once, at turn-on) and ``undo`` turns it off
again; None means there was nothing to do (already instrumented by someone else, or a switch
is off). Each module is imported only when its name is active, so an unused instrumentation
costs no import.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pywats_otel._config.settings import TelemetrySettings

__all__ = ["REGISTRY", "TurnOn", "Undo", "turn_on"]

_logger = logging.getLogger("pywats_otel")

Undo = Callable[[], None]
TurnOn = Callable[["TelemetrySettings"], "Undo | None"]


def _httpx() -> TurnOn:
    from pywats_otel.instrumentation.httpx import turn_on

    return turn_on


def _logging() -> TurnOn:
    from pywats_otel.instrumentation._logging import turn_on

    return turn_on


def _system() -> TurnOn:
    from pywats_otel.instrumentation.system import turn_on

    return turn_on


def _threading() -> TurnOn:
    from pywats_otel.instrumentation._threading import turn_on

    return turn_on


def _pywats() -> TurnOn:
    from pywats_otel.instrumentation.pywats import turn_on

    return turn_on


#: Name (as in the ``instrumentations`` setting) -> the loader of its ``turn_on``.
REGISTRY: dict[str, Callable[[], TurnOn]] = {
    "httpx": _httpx,
    "logging": _logging,
    "pywats": _pywats,
    "system": _system,
    "threading": _threading,
}


#: Name -> (module, class) of the BaseInstrumentor behind it, to tell whether another party
#: (opentelemetry-instrument) turned it on first.
_INSTRUMENTORS = {
    "httpx": ("opentelemetry.instrumentation.httpx", "HTTPXClientInstrumentor"),
    "threading": ("opentelemetry.instrumentation.threading", "ThreadingInstrumentor"),
    "pywats": ("pywats_otel.instrumentation.pywats", "PyWATSInstrumentor"),
}


def instrumented_elsewhere(name: str) -> bool:
    """Whether instrumentation ``name``'s instrumentor is on, though not by pywats_otel."""
    target = _INSTRUMENTORS.get(name)
    if target is None:
        return False
    import sys

    module = sys.modules.get(target[0])
    instrumentor = getattr(module, target[1], None) if module is not None else None
    try:
        return bool(instrumentor is not None and instrumentor().is_instrumented_by_opentelemetry)
    except Exception:  # noqa: BLE001 - a question about others, never a failure of ours
        return False


def turn_on(name: str, settings: TelemetrySettings) -> Undo | None:
    """Turn instrumentation ``name`` on; a failure is logged and leaves the program alone."""
    loader = REGISTRY.get(name)
    if loader is None:
        return None
    try:
        return loader()(settings)
    except Exception:
        _logger.warning(
            "pywats_otel: instrumentation %s could not be turned on", name, exc_info=True
        )
        return None
