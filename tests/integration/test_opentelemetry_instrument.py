"""`opentelemetry-instrument python station.py` with the real opentelemetry-distro installed
beside pywats_otel: whichever distro and configurator run, /metrics and /traces are served,
each span is exported exactly once, the pyWATS instrumentation is active, and status() says
who set up what.

The station is a pyWATS station (the example's conversion, PersistentQueue and upload against
a fake WATS server) whose own code calls init_telemetry(service_name=...).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from pywats_otel.testing.otlp import OTLPReceiver

pytestmark = pytest.mark.usefixtures("pywats_api")

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "pywats_station.py"
REPORTS = 2
#: One report's spans: converted, queued, processed, the API call, its HTTP attempt.
REPORT_SPANS = {
    "convert WATS Standard JSON Format Converter",
    "send queue",
    "process queue",
    "WATS POST /api/Report/WSJF",
    "POST",
}

STATION = f"""
import importlib.util, json, sys, urllib.request
from pathlib import Path
from pywats_otel import init_telemetry

telemetry = init_telemetry(service_name="station-7")
spec = importlib.util.spec_from_file_location("example", {str(EXAMPLE)!r})
example = importlib.util.module_from_spec(spec)
spec.loader.exec_module(example)
from pywats_otel.testing.wats import FakeWATS

server = FakeWATS()
folder = Path(sys.argv[1])
example.enqueue(folder, {REPORTS})
example.upload(folder, server.url, server.token)
server.stop()
telemetry.force_flush(timeout_s=10)
metrics = urllib.request.urlopen(telemetry.metrics_url, timeout=10).read().decode()
request = urllib.request.Request(telemetry.traces_url, headers={{"Accept": "application/json"}})
traces = json.load(urllib.request.urlopen(request, timeout=10))
status = telemetry.status()
print(json.dumps({{
    "metric_names": sorted({{line.split("{{")[0].split(" ")[0] for line in metrics.splitlines()
                            if line and not line.startswith("#")}}),
    "traces": [(t["root"], len(t["spans"])) for t in traces["traces"]],
    "status": {{key: status[key] for key in ("traces", "metrics", "logs", "instrumentations",
                                            "instrumented_before", "started_by")}},
}}))
"""


def _run(tmp_path: Path, receiver: OTLPReceiver, **selection: str) -> dict[str, Any]:
    station = tmp_path / "station.py"
    station.write_text(STATION)
    instrument = Path(sys.executable).parent / "opentelemetry-instrument"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "PYWATS_OTEL_"))}
    env.update(
        selection,
        OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
        OTEL_SERVICE_NAME="station-7",
        OTEL_BSP_SCHEDULE_DELAY="100",
        PYWATS_OTEL_PROMETHEUS_HOST="127.0.0.1",
        PYWATS_OTEL_PROMETHEUS_PORT="0",
    )
    done = subprocess.run(
        [str(instrument), sys.executable, str(station), str(tmp_path / "station")],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    assert lines, done.stdout + done.stderr[-3000:]
    result: dict[str, Any] = json.loads(lines[-1])
    result["stderr"] = done.stderr
    return result


def _check_spans_once(receiver: OTLPReceiver) -> None:
    assert receiver.wait_for(lambda r: len(r.spans) >= REPORTS * len(REPORT_SPANS), 20)
    spans = receiver.spans
    # Each span once: no span ID twice, five spans a report and no more.
    assert len({span.span_id for span in spans}) == len(spans)
    assert Counter(span.name for span in spans) == dict.fromkeys(REPORT_SPANS, REPORTS)
    assert {span.resource["service.name"] for span in spans} == {"station-7"}
    by_trace: dict[str, set[str]] = {}
    for span in spans:
        by_trace.setdefault(span.trace_id, set()).add(span.name)
    assert list(by_trace.values()) == [REPORT_SPANS] * REPORTS


def _check_served(result: dict[str, Any]) -> None:
    names = set(result["metric_names"])
    assert "pywats_api_request_duration_seconds_count" in names
    assert "http_client_request_duration_seconds_count" in names
    assert "pywats_queue_processed_total" in names
    # /traces: each report's trace, from its conversion to its upload (5 spans).
    assert result["traces"] == [["convert WATS Standard JSON Format Converter", 5]] * REPORTS


def test_with_the_pywats_distro_pywats_otel_configures(tmp_path: Path) -> None:
    """OTEL_PYTHON_DISTRO=pywats: its distro picks the pywats configurator, which runs
    init_telemetry() before the program; the program's own call returns that handle."""
    warning = "the arguments of this init_telemetry() call (service_name) are not applied"
    with OTLPReceiver("grpc") as receiver:
        result = _run(tmp_path, receiver, OTEL_PYTHON_DISTRO="pywats")
        _check_spans_once(receiver)
        # The program's own call is told so (the log records go over OTLP here).
        assert receiver.wait_for(lambda r: any(warning in str(log.body) for log in r.logs), 10)
    _check_served(result)
    status = result["status"]
    assert status["started_by"] == "opentelemetry-instrument"
    assert {"httpx", "logging", "pywats", "threading"} <= set(status["instrumentations"])
    assert status["instrumented_before"] == []
    assert [entry["destination"] for entry in status["traces"]] == [
        f"otlp grpc {receiver.endpoint}"
    ]


def test_with_opentelemetry_distro_pywats_otel_adds_to_its_providers(tmp_path: Path) -> None:
    """opentelemetry-distro's distro and configurator: they set the providers; the program's
    init_telemetry() adds /metrics, /traces and its instrumentations to them, and exports
    nothing a second time."""
    with OTLPReceiver("grpc") as receiver:
        result = _run(
            tmp_path,
            receiver,
            OTEL_PYTHON_DISTRO="distro",
            OTEL_PYTHON_CONFIGURATOR="configurator",
        )
        _check_spans_once(receiver)
    _check_served(result)
    status = result["status"]
    assert status["started_by"] == "the program"
    port = receiver.endpoint.rsplit(":", 1)[1]
    [traces] = status["traces"]
    assert traces == {
        "name": "set before pywats_otel",
        "destination": f"BatchSpanProcessor(OTLPSpanExporter to 127.0.0.1:{port})",
        "counted": False,
        "exported": None,
        "failed": None,
        "dropped": None,
        "failed_exports": None,
        "last_success": None,
    }
    # opentelemetry-distro's default OTEL_METRICS_EXPORTER=otlp: /metrics is kept beside it.
    assert [entry["name"] for entry in status["metrics"]] == [
        "prometheus",
        "set before pywats_otel",
    ]
    # opentelemetry-instrument turned the pyWATS instrumentation on; httpx is pywats_otel's.
    assert "pywats" in status["instrumented_before"]
    assert "httpx" in status["instrumentations"]


def test_whichever_distro_comes_first(tmp_path: Path) -> None:
    """No selection: the first distro and configurator found win, whichever they are; the
    station is traced, each span once, and serves /metrics and /traces either way."""
    with OTLPReceiver("grpc") as receiver:
        result = _run(tmp_path, receiver)
        _check_spans_once(receiver)
    _check_served(result)
    assert (
        "pywats" in result["status"]["instrumentations"] + result["status"]["instrumented_before"]
    )
