"""Importing and starting pywats_otel loads the exporters its settings use and no other:
checked in a fresh interpreter, where sys.modules shows every module that was imported."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]

_PREFIXES = (
    "opentelemetry.exporter.otlp.proto.grpc",
    "opentelemetry.exporter.otlp.proto.http",
    "opentelemetry.exporter.prometheus",
    "grpc",
    "google.protobuf",
    "prometheus_client",
)


def _modules_after(statements: str) -> dict[str, Any]:
    """Run ``statements`` in a fresh interpreter; which modules of _PREFIXES it imported."""
    code = (
        "import json, sys\n"
        f"{statements}\n"
        f"prefixes = {_PREFIXES!r}\n"
        "loaded = {p: sorted(m for m in sys.modules if m == p or m.startswith(p + '.'))"
        " for p in prefixes}\n"
        "print(json.dumps(loaded), flush=True)\n"
        # Out without the exit-time shutdown: its final export would try the network.
        "import os; os._exit(0)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "PYWATS_OTEL_"))}
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )
    loaded: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return loaded


def test_import_alone_loads_no_exporter_and_no_prometheus_client() -> None:
    """`import pywats_otel` imports no exporter, no gRPC, no protobuf, no prometheus_client."""
    loaded = _modules_after("import pywats_otel")
    assert loaded == {prefix: [] for prefix in _PREFIXES}


def test_a_prometheus_only_start_loads_no_otlp_exporter_grpc_or_protobuf() -> None:
    """init_telemetry() with only the prometheus exporter loads it and none of the OTLP ones."""
    loaded = _modules_after(
        "import pywats_otel\n"
        "telemetry = pywats_otel.init_telemetry(metrics_exporter='prometheus',"
        " prometheus_host='127.0.0.1', prometheus_port=0)\n"
        "assert telemetry.metrics_url is not None"
    )
    assert loaded["opentelemetry.exporter.otlp.proto.grpc"] == []
    assert loaded["opentelemetry.exporter.otlp.proto.http"] == []
    assert loaded["grpc"] == []
    assert loaded["google.protobuf"] == []
    # The exporter the settings name is there: the check sees what init_telemetry() loads.
    assert "opentelemetry.exporter.prometheus" in loaded["opentelemetry.exporter.prometheus"]
    assert "prometheus_client" in loaded["prometheus_client"]


def test_otlp_over_http_loads_the_http_exporter_and_not_grpc() -> None:
    """otlp_protocol http/protobuf imports the HTTP exporters; gRPC stays unloaded."""
    loaded = _modules_after(
        "import pywats_otel\n"
        "telemetry = pywats_otel.init_telemetry(otlp_endpoint='http://127.0.0.1:9',"
        " otlp_protocol='http/protobuf', metrics_exporter='otlp', instrumentations='none')"
    )
    assert (
        "opentelemetry.exporter.otlp.proto.http.trace_exporter"
        in (loaded["opentelemetry.exporter.otlp.proto.http"])
    )
    assert loaded["opentelemetry.exporter.otlp.proto.grpc"] == []
    assert loaded["grpc"] == []
    assert loaded["opentelemetry.exporter.prometheus"] == []
