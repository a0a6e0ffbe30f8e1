"""pyWATS's service health in pywats_otel's ``/health``: while a ``HealthServer`` runs, its
health check (``HealthServer.health_check``) is the non-critical check ``pywats-service``.

pywats_otel never starts pyWATS's ``start_metrics_server()``: its ``/metrics`` is the one.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from types import ModuleType
from typing import Any

from pywats_otel import health
from pywats_otel.instrumentation.pywats._patches import Patches

__all__ = ["CHECK_NAME", "instrument_health"]

CHECK_NAME = "pywats-service"


def _check_of(server: object) -> Callable[[], health.CheckResult]:
    reference = weakref.ref(server)

    def check() -> health.CheckResult:
        current = reference()
        function = getattr(current, "health_check", None)
        if current is None or function is None:
            return health.ok("no pyWATS health check is set")
        status = function()
        text = str(getattr(status, "status", "") or "")
        details = getattr(status, "details", None)
        message = f"pyWATS: {text}" if text else "pyWATS"
        if isinstance(details, dict) and details:
            shown = ", ".join(f"{key}={value}" for key, value in list(details.items())[:8])
            message = f"{message} ({shown})"
        return health.ok(message) if getattr(status, "healthy", False) else health.fail(message)

    return check


def instrument_health(patches: Patches) -> None:
    registry = health.default_registry()

    def start(
        wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        started = wrapped(*args, **kwargs)
        if started:
            registry.register(CHECK_NAME, _check_of(instance), critical=False, timeout_s=2.0)
        return started

    def stop(
        wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        # Before pyWATS's own stop(), which may not return (0.6.0rc1).
        registry.unregister(CHECK_NAME)
        return wrapped(*args, **kwargs)

    def health_server(module: ModuleType) -> None:
        patches.wrap(module.HealthServer, "start", start)
        patches.wrap(module.HealthServer, "stop", stop)

    patches.when_imported("pywats_client.service.health_server", health_server)

    def unregister() -> None:
        registry.unregister(CHECK_NAME)

    patches.on_undo(unregister)
