"""Scale: import time and start-up, a fresh interpreter per sample, and import hygiene."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks._harness import (
    ROOT,
    CaseResult,
    Check,
    Comparison,
    clean_env,
    rotations,
    run_python,
)
from benchmarks.scale import SECTION, Context

ORDER = 30


def run(context: Context) -> list[CaseResult]:
    return [import_time(min(context.rounds, 5) if context.quick else context.rounds)]


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
