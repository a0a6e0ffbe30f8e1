"""The instrumentations init_telemetry() can turn on, by the names of the setting.

Each entry names a function ``turn_on(telemetry) -> undo | None``, imported only when its name
is active, so an unused instrumentation costs no import.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pywats_otel._telemetry import Telemetry

__all__ = ["REGISTRY", "turn_on"]

_logger = logging.getLogger("pywats_otel")

Undo = Callable[[], None]

REGISTRY: dict[str, str] = {
    "httpx": "pywats_otel.instrumentation.httpx:turn_on",
    "logging": "pywats_otel.instrumentation._logging:turn_on",
    "system": "pywats_otel.system_metrics:turn_on",
    "threading": "pywats_otel.instrumentation._threading:turn_on",
}


def turn_on(name: str, telemetry: Telemetry) -> Undo | None:
    """Turn instrumentation ``name`` on; a failure is logged and leaves the program alone."""
    target = REGISTRY.get(name)
    if target is None:
        return None
    module_name, _, function_name = target.partition(":")
    try:
        function: Callable[[Telemetry], Undo | None] = getattr(
            importlib.import_module(module_name), function_name
        )
        return function(telemetry)
    except Exception:
        _logger.warning(
            "pywats_otel: instrumentation %s could not be turned on", name, exc_info=True
        )
        return None
