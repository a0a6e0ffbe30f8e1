"""Scale: memory (RSS) after start-up and after many reports, each variant in a fresh process."""

from __future__ import annotations

import json
from typing import Any

from benchmarks import _sink
from benchmarks._harness import CaseResult, run_python
from benchmarks.scale import SECTION, Context

ORDER = 20


def run(context: Context) -> list[CaseResult]:
    return [memory(context.quick, context.reports)]


RSS_NONE = "no telemetry (not initialised)"
RSS_OURS = "pywats_otel (Prometheus + OTLP)"


def _rss_worker(variant: str, reports: int, otlp: str) -> dict[str, Any]:
    """In a fresh process: RSS after start-up and after ``reports`` reports, in MB."""
    import gc
    import os
    import tempfile
    import time

    import psutil

    from pywats_otel import converter, init_telemetry, queue

    process = psutil.Process()
    telemetry = None
    folder = tempfile.mkdtemp(prefix="pywats-otel-rss-")
    source = os.path.join(folder, "000001-SN0000001.xml")
    with open(source, "w", encoding="utf-8") as handle:
        handle.write("<TestRun/>\n")
    if variant == RSS_OURS:
        telemetry = init_telemetry(
            service_name="bench-station",
            otlp_endpoint=otlp,
            prometheus_host="127.0.0.1",
            prometheus_port=0,
            disk_paths=folder,
        )
    gc.collect()
    start = process.memory_info().rss
    started = time.perf_counter()
    for index in range(reports):
        carrier: dict[str, str] = {}
        report_id = f"r-{index}"
        with converter.conversion("functional-xml", source=source) as run:
            with queue.enqueue("reports", carrier, item_id=report_id):
                pass
            run.records = 1000
        with queue.process("reports", carrier, item_id=report_id, attempt=1):
            pass
    elapsed = time.perf_counter() - started
    dropped = 0
    if telemetry is not None:
        telemetry.force_flush(timeout_s=30)
        dropped = sum(entry["dropped"] for entry in telemetry.status()["traces"])
    gc.collect()
    end = process.memory_info().rss
    if telemetry is not None:
        telemetry.shutdown(timeout_s=10)
    import resource

    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "start_mb": start / 2**20,
        "end_mb": end / 2**20,
        "peak_mb": peak_kb / 1024,
        "per_report_us": 1e6 * elapsed / reports,
        "dropped_spans": dropped,
    }


def memory(quick: bool, reports: int | None) -> CaseResult:
    count = reports or (2_000 if quick else 100_000)
    sink, otlp = _sink.start()
    try:
        assert sink.stdout is not None
        assert sink.stdin is not None
        figures = {}
        for variant in (RSS_NONE, RSS_OURS):
            # The worker's process first imports benchmarks._setups (the SDK, the Prometheus
            # reader, prometheus_client), as it did when the scale section was one module that
            # imported it: the RSS after start-up stays comparable with earlier runs.
            out = run_python(
                "import json; import benchmarks._setups;"
                " from benchmarks.scale.memory import _rss_worker;"
                f" print(json.dumps(_rss_worker({variant!r}, {count}, {otlp!r})))",
                timeout=3600,
            )
            figures[variant] = json.loads(out.strip().splitlines()[-1])
        sink.stdin.close()
        counts = json.loads(sink.stdout.read().strip().splitlines()[-1])
    finally:
        if sink.poll() is None:
            sink.kill()
        sink.wait(10)
    after = f"after {count:,} reports"
    samples = {}
    for variant, figure in figures.items():
        samples[f"{variant}: after start-up"] = [figure["start_mb"]]
        samples[f"{variant}: {after}"] = [figure["end_mb"]]
    case = CaseResult(SECTION, "memory (RSS)", "MB", f"{RSS_NONE}: after start-up", samples)
    case.no_ratio = frozenset(samples) - {f"{RSS_OURS}: after start-up"}
    none, ours = figures[RSS_NONE], figures[RSS_OURS]
    case.notes += [
        f"one fresh process per variant; per report a converter run, an enqueue and a process "
        f"(3 spans, 6 metric records), no disk or network; {after}: gc.collect() after a flush",
        f"growth over {count:,} reports: pywats_otel {ours['end_mb'] - ours['start_mb']:+.1f} MB, "
        f"no telemetry {none['end_mb'] - none['start_mb']:+.1f} MB; peak RSS pywats_otel "
        f"{ours['peak_mb']:.0f} MB; {ours['per_report_us']:.0f} µs per report with pywats_otel, "
        f"{none['per_report_us']:.1f} µs without; spans dropped: {ours['dropped_spans']}; the "
        f"OTLP sink got {counts['requests']} requests ({counts['bytes'] / 2**20:.1f} MB)",
    ]
    case.extra.update({"reports": count, "figures": figures, "sink": counts})
    return case
