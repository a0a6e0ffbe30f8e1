"""Scale: what grows with the number of series and reports, and what start-up costs.

- ``/metrics`` scrape with about 100 and 5,000 series: pywats_otel's endpoint beside
  prometheus_client's own server holding the same series, over HTTP (gzip, as Prometheus asks)
  and the rendering alone;
- memory (RSS) after start-up and after 100,000 reports, each variant in a fresh process, on
  a lighter per-report path (converter run, enqueue, process: no disk, no upload) so that the
  run ends in reasonable time; spans, metrics and logs go over OTLP/gRPC to a sink process;
- import time of pywats_otel beside the bare OpenTelemetry SDK and prometheus_client, a fresh
  interpreter per sample, and which modules a Prometheus-only start-up imports;
- one collection of the process and system metrics, beside the contrib instrumentor.
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks import _setups, _sink
from benchmarks._harness import (
    CaseResult,
    Check,
    Comparison,
    clean_env,
    interleave,
    rotations,
    run_python,
)
from pywats_otel import semconv

SECTION = "scale"
ROOT = Path(__file__).resolve().parents[1]


# -- /metrics -------------------------------------------------------------------------------

OURS_GET = "pywats_otel GET /metrics"
PLAN_GET = "prometheus_client GET /metrics"
OURS_RENDER = "pywats_otel rendering only"
PLAN_RENDER = "prometheus_client rendering only"
ROUND_TRIP = "HTTP round trip (GET /health/live)"


def _sample_lines(body: bytes) -> int:
    return sum(1 for line in body.splitlines() if line and not line.startswith(b"#"))


class _Series:
    """Fills pywats_otel's converter and queue metrics and the same prometheus_client metrics
    with as many label sets as it takes to reach a number of series."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        from pywats_otel import converter, queue

        self.ours_converter = converter._instruments.get()
        self.ours_queue = queue._instruments.get()
        self.registry = CollectorRegistry()
        executions = semconv.metric_info(semconv.CONVERTER_EXECUTIONS)
        duration = semconv.metric_info(semconv.CONVERTER_DURATION)
        enqueued = semconv.metric_info(semconv.QUEUE_ENQUEUED)
        self.plan_executions = Counter(
            semconv.prometheus_name(executions).removesuffix("_total"),
            executions.description,
            ["pywats_converter_name", "pywats_converter_status"],
            registry=self.registry,
        )
        self.plan_duration = Histogram(
            semconv.prometheus_name(duration),
            duration.description,
            ["pywats_converter_name", "pywats_converter_status"],
            buckets=duration.buckets or (),
            registry=self.registry,
        )
        self.plan_enqueued = Counter(
            semconv.prometheus_name(enqueued).removesuffix("_total"),
            enqueued.description,
            ["pywats_queue_name"],
            registry=self.registry,
        )
        self.converters = 0
        self.queues = 0

    def add_converter(self) -> None:
        name = f"converter-{self.converters:05d}"
        self.converters += 1
        attributes = {semconv.CONVERTER_NAME: name, semconv.CONVERTER_STATUS: "success"}
        self.ours_converter.executions.add(1, attributes)
        self.ours_converter.duration.record(0.02, attributes)
        self.plan_executions.labels(name, "success").inc()
        self.plan_duration.labels(name, "success").observe(0.02)

    def add_queue(self) -> None:
        name = f"queue-{self.queues:05d}"
        self.queues += 1
        self.ours_queue.enqueued.add(1, {semconv.QUEUE_NAME: name})
        self.plan_enqueued.labels(name).inc()


#: Series of one converter name: the counter, 15 buckets (14 bounds and +Inf), sum and count.
PER_CONVERTER = 1 + len(semconv.CONVERTER_BUCKETS) + 1 + 2


def _fill(series: _Series, target: int) -> None:
    """Add label sets until both sides hold ``target`` series of the station's metrics."""
    while (series.converters + 1) * PER_CONVERTER + series.queues <= target:
        series.add_converter()
    while series.converters * PER_CONVERTER + series.queues < target:
        series.add_queue()


def scrape(rounds: int, quick: bool) -> list[CaseResult]:
    import httpx
    from prometheus_client import disable_created_metrics, generate_latest, start_http_server

    # The OpenTelemetry exporter serves no _created series; without them on both sides the two
    # servers hold exactly the same series.
    disable_created_metrics()  # type: ignore[no-untyped-call]
    ours = _setups.PywatsOtel(traces_exporter="none")
    series = _Series()
    plan_server, plan_thread = start_http_server(0, addr="127.0.0.1", registry=series.registry)
    endpoint = ours.telemetry.endpoint
    assert endpoint is not None
    base = endpoint.url
    plan_url = f"http://127.0.0.1:{plan_server.server_port}/metrics"
    client = httpx.Client(headers={"Accept-Encoding": "gzip"})
    results = []
    try:

        def ours_get() -> bytes:
            return client.get(f"{base}/metrics").content

        def plan_get() -> bytes:
            return client.get(plan_url).content

        for target in (100, 5000):
            _fill(series, target)
            served, plan_served = _sample_lines(ours_get()), _sample_lines(plan_get())
            # Scrapes per round: a round of the large case takes as long as one of the small.
            ops = {(100, True): 5, (100, False): 50, (5000, True): 1, (5000, False): 5}[
                (target, quick)
            ]
            case = interleave(
                SECTION,
                f"/metrics scrape, {target:,} series",
                {
                    ROUND_TRIP: lambda: client.get(f"{base}/health/live"),
                    OURS_GET: ours_get,
                    PLAN_GET: plan_get,
                    OURS_RENDER: lambda: endpoint.render_metrics("text/plain", "gzip"),
                    PLAN_RENDER: lambda: gzip.compress(generate_latest(series.registry)),
                },
                baseline=ROUND_TRIP,
                ops=ops,
                rounds=rounds,
                warmup_ops=2,
            )
            case.no_ratio = frozenset({OURS_RENDER, PLAN_RENDER})
            case.comparisons += [
                Comparison(
                    f"scrape {target:,}: pywats_otel / prometheus_client", OURS_GET, PLAN_GET
                ),
                Comparison(
                    f"rendering {target:,}: pywats_otel / prometheus_client",
                    OURS_RENDER,
                    PLAN_RENDER,
                ),
            ]
            case.notes.append(
                f"{target} series of the station's metrics on both sides ({series.converters} "
                f"converter names x {PER_CONVERTER} series of a counter and a histogram, "
                f"{series.queues} queue names x 1); pywats_otel serves {served - plan_served} "
                f"more of its own (target_info, export and health metrics): {served} in all, "
                f"prometheus_client {plan_served}; wall time per scrape with the client in the "
                "same process; gzip on both, as Prometheus asks"
            )
            case.extra.update({"series_ours": served, "series_prometheus_client": plan_served})
            results.append(case)
    finally:
        client.close()
        plan_server.shutdown()
        plan_server.server_close()
        plan_thread.join(5)
        ours.shutdown()
    return results


# -- memory -----------------------------------------------------------------------------------

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
            out = run_python(
                "import json; from benchmarks.scale import _rss_worker;"
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


# -- import time and import hygiene -------------------------------------------------------------

IMPORTS = {
    "opentelemetry-sdk (trace + metrics)": (
        "import opentelemetry.sdk.trace, opentelemetry.sdk.metrics"
    ),
    "prometheus_client": "import prometheus_client",
    "pywats_otel": "import pywats_otel",
    "bare SDK set up by hand (Prometheus only)": (
        "from opentelemetry import metrics, trace\n"
        "from opentelemetry.sdk.trace import TracerProvider\n"
        "from opentelemetry.sdk.metrics import MeterProvider\n"
        "from opentelemetry.exporter.prometheus import PrometheusMetricReader\n"
        "from prometheus_client import start_http_server\n"
        "trace.set_tracer_provider(TracerProvider())\n"
        "metrics.set_meter_provider(MeterProvider(metric_readers=[PrometheusMetricReader()]))\n"
        "start_http_server(0, addr='127.0.0.1')"
    ),
    "pywats_otel + init_telemetry() (Prometheus only)": (
        "import pywats_otel\n"
        "pywats_otel.init_telemetry(prometheus_host='127.0.0.1', prometheus_port=0)"
    ),
    "pywats_otel + init_telemetry(), no instrumentations": (
        "import pywats_otel\n"
        "pywats_otel.init_telemetry(prometheus_host='127.0.0.1', prometheus_port=0,"
        " instrumentations='none')"
    ),
}
_UNUSED_EXPORTERS = ("opentelemetry.exporter.otlp", "grpc", "google.protobuf")


def _timed(statement: str) -> str:
    return (
        "import time\n_t = time.perf_counter()\n"
        + statement
        + "\nprint((time.perf_counter() - _t) * 1000)\n"
    )


def import_time(rounds: int) -> CaseResult:
    with tempfile.TemporaryDirectory(prefix="pywats-otel-pycache-") as folder:
        return _import_time(rounds, Path(folder))


def _import_time(rounds: int, cache: Path) -> CaseResult:
    names = list(IMPORTS)
    result = CaseResult(
        SECTION, "import and start-up", "ms", names[0], {name: [] for name in names}
    )
    for name in names:
        run_python(_timed(IMPORTS[name]), bytecode_cache=cache)  # compiles, not counted
    for order in rotations(names, rounds):
        for name in order:
            out = run_python(_timed(IMPORTS[name]), bytecode_cache=cache)
            result.samples[name].append(float(out.strip().splitlines()[-1]))
    result.notes.append(
        "a fresh interpreter per sample (interpreter start-up not counted), modules compiled "
        "beforehand as an installed package has them; the start-up variants also build the "
        "providers and start the /metrics server; pywats_otel's start-up with its default "
        "instrumentations (httpx, logging, system, threading)"
    )
    loaded = json.loads(
        run_python(
            "import json, sys\n"
            "import pywats_otel\n"
            "pywats_otel.init_telemetry(metrics_exporter='prometheus', prometheus_host='127.0.0.1',"
            " prometheus_port=0)\n"
            f"prefixes = {_UNUSED_EXPORTERS!r}\n"
            "print(json.dumps(sorted(m for m in sys.modules if m.startswith(prefixes))))",
            bytecode_cache=cache,
        )
    )
    result.checks.append(
        Check(
            "import + init_telemetry(metrics_exporter='prometheus') loads no unused exporter",
            ", ".join(loaded) if loaded else "none of opentelemetry.exporter.otlp, grpc, protobuf",
            "no OTLP exporter, grpc or protobuf module",
            not loaded,
        )
    )
    result.comparisons += [
        Comparison("import: pywats_otel / opentelemetry-sdk", "pywats_otel", names[0]),
        Comparison(
            "start-up: pywats_otel / bare SDK by hand",
            "pywats_otel + init_telemetry() (Prometheus only)",
            "bare SDK set up by hand (Prometheus only)",
        ),
    ]
    result.extra["modules_of_unused_exporters"] = loaded
    breakdown = import_breakdown(IMPORTS["pywats_otel + init_telemetry() (Prometheus only)"], cache)
    total = sum(breakdown.values())
    result.notes.append(
        "where the import time of pywats_otel + init_telemetry() goes (-X importtime, own "
        "time of each module, by distribution): "
        + ", ".join(f"{name} {ms:.0f} ms" for name, ms in breakdown.items() if ms >= 1)
        + f" (of {total:.0f} ms; the rest of init_telemetry() is building the providers and "
        "starting the endpoint)"
    )
    result.extra["import_breakdown_ms"] = breakdown
    return result


_GROUPS = {
    "pydantic": ("pydantic", "pydantic_core", "annotated_types", "typing_inspection"),
    "opentelemetry": ("opentelemetry",),
    "pywats_otel": ("pywats_otel",),
    "httpx": ("httpx", "httpcore", "h11", "anyio", "idna", "certifi", "sniffio"),
    "prometheus_client": ("prometheus_client",),
    "psutil": ("psutil",),
    "wrapt": ("wrapt",),
}


def _importtime(statement: str, cache: Path) -> list[tuple[str, int]]:
    """(module, own µs) of each import ``statement`` makes, as -X importtime reports them."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", statement],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env=clean_env(cache),
    )
    found = []
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        own, _, name = (part.strip() for part in line.removeprefix("import time:").split("|"))
        if own.isdigit():  # not the header line
            found.append((name, int(own)))
    return found


def import_breakdown(statement: str, cache: Path) -> dict[str, float]:
    """Milliseconds of import time by distribution (each module's own time, -X importtime),
    without the modules the interpreter imports at start-up."""
    startup = {name for name, _ in _importtime("pass", cache)}
    _importtime(statement, cache)  # compiles what is not compiled yet
    totals: dict[str, float] = dict.fromkeys((*_GROUPS, "standard library and others"), 0.0)
    for name, own in _importtime(statement, cache):
        if name in startup:
            continue
        top = name.split(".")[0]
        group = next(
            (group for group, packages in _GROUPS.items() if top in packages),
            "standard library and others",
        )
        totals[group] += own / 1000
    return dict(sorted(totals.items(), key=lambda item: -item[1]))


# -- system metrics ---------------------------------------------------------------------------

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


def run(rounds: int, quick: bool, reports: int | None = None) -> list[CaseResult]:
    return [
        *scrape(rounds, quick),
        memory(quick, reports),
        import_time(min(rounds, 5) if quick else rounds),
        system_collection(rounds, ops=20 if quick else 200),
    ]
