"""Scale: one collection of the process and system metrics, beside the contrib instrumentor."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from benchmarks._harness import CaseResult, interleave
from benchmarks.scale import SECTION, Context
from pywats_otel import semconv

ORDER = 40


def run(context: Context) -> list[CaseResult]:
    return [system_collection(context.rounds, ops=20 if context.quick else 200)]


CONTRIB_CONFIG: dict[str, list[str] | None] = {
    semconv.PROCESS_CPU_UTILIZATION: None,
    semconv.PROCESS_MEMORY_USAGE: None,
    semconv.PROCESS_THREAD_COUNT: None,
    semconv.PROCESS_OPEN_FILE_DESCRIPTOR_COUNT: None,
    semconv.SYSTEM_CPU_UTILIZATION: ["user", "system", "idle", "iowait"],
    semconv.SYSTEM_MEMORY_UTILIZATION: ["used"],
}


def system_collection(rounds: int, ops: int) -> CaseResult:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    from pywats_otel.instrumentation import system as system_metrics

    def provider() -> tuple[MeterProvider, InMemoryMetricReader]:
        reader = InMemoryMetricReader()
        return MeterProvider(metric_readers=[reader], shutdown_on_exit=False), reader

    empty_provider, empty_reader = provider()
    ours_provider, ours_reader = provider()
    providers = [empty_provider, ours_provider]
    previous_window = system_metrics.MIN_CPU_WINDOW_S
    previous_current = system_metrics._current
    system_metrics.MIN_CPU_WINDOW_S = 0.0
    system_metrics._current = system_metrics.SystemMetrics([Path.cwd()])
    system_metrics._build(ours_provider.get_meter("bench"))

    variants: dict[str, Callable[[], object]] = {
        "no instruments": empty_reader.get_metrics_data,
        "pywats_otel system": ours_reader.get_metrics_data,
    }
    undo: Callable[[], None] | None = None
    notes = "7 metrics, one filesystem; CPU times read at every collection"
    try:
        from opentelemetry.instrumentation.system_metrics import SystemMetricsInstrumentor
    except ImportError:
        notes += "; contrib instrumentor not installed (pip install -e .[bench])"
    else:
        contrib_provider, contrib_reader = provider()
        providers.append(contrib_provider)
        instrumentor = SystemMetricsInstrumentor(config=CONTRIB_CONFIG)
        instrumentor.instrument(meter_provider=contrib_provider)
        undo = instrumentor.uninstrument
        variants["contrib SystemMetricsInstrumentor"] = contrib_reader.get_metrics_data
        notes += "; contrib: 6 of the 7 names (no filesystem), per-CPU series"
    try:
        case = interleave(
            SECTION,
            "system metrics: one collection",
            variants,
            baseline="no instruments",
            ops=ops,
            rounds=rounds,
            warmup_ops=20,
        )
    finally:
        if undo is not None:
            undo()
        system_metrics.MIN_CPU_WINDOW_S = previous_window
        system_metrics._current = previous_current
        for each in providers:
            each.shutdown()
    case.notes.append(notes)
    return case
