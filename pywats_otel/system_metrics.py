"""Process and system metrics: moved to ``pywats_otel.instrumentation.system`` (the ``system``
instrumentation); this module keeps the old import path working."""

from __future__ import annotations

from pywats_otel.instrumentation.system import (
    MIN_CPU_WINDOW_S,
    DiskUsage,
    SystemMetrics,
    measure_disk,
    turn_on,
)

__all__ = ["MIN_CPU_WINDOW_S", "DiskUsage", "SystemMetrics", "measure_disk", "turn_on"]
