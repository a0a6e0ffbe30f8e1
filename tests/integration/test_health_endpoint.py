"""The endpoint secured and observed on 127.0.0.1: basic auth, TLS, health JSON over HTTP, a
real Prometheus scraping with basic_auth over HTTPS, and export counters across a collector
restart."""

from __future__ import annotations

import base64
import json
import socket
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import trace
from prometheus_client.parser import text_string_to_metric_families

from pywats_otel import health, init_telemetry
from pywats_otel.instrumentation import system as system_metrics
from pywats_otel.testing.otlp import OTLPReceiver, free_port

USER, PASSWORD = "prometheus", "s3cret-scrape-password"


def fetch(
    url: str,
    *,
    auth: tuple[str, str] | None = None,
    context: ssl.SSLContext | None = None,
) -> tuple[int, Any, bytes]:
    headers = {}
    if auth is not None:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10, context=context) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of the sample ``name`` whose labels include ``labels`` in Prometheus text."""
    for family in text_string_to_metric_families(text):
        for found in family.samples:
            if found.name == name and all(found.labels.get(k) == v for k, v in labels.items()):
                return float(found.value)
    return None


def test_basic_auth_guards_metrics_and_every_health_path() -> None:
    """No or wrong credentials get 401 with a challenge; the right ones get the answers."""
    telemetry = init_telemetry(
        prometheus_host="127.0.0.1",
        prometheus_port=0,
        endpoint_username=USER,
        endpoint_password=PASSWORD,
    )
    base = telemetry.endpoint.url
    for path in ("/metrics", "/health", "/health/live", "/health/ready", "/nope"):
        for auth in (None, (USER, "wrong"), ("admin", PASSWORD)):
            status, headers, body = fetch(base + path, auth=auth)
            assert status == 401, (path, auth)
            assert headers["WWW-Authenticate"] == 'Basic realm="pywats-otel", charset="UTF-8"'
            assert json.loads(body) == {"error": "unauthorized"}
    status, _, body = fetch(base + "/metrics", auth=(USER, PASSWORD))
    assert status == 200
    assert b"# HELP pywats_otel_export_items_total" in body
    status, _, body = fetch(base + "/health/live", auth=(USER, PASSWORD))
    assert (status, json.loads(body)) == (200, {"status": "ok"})
    status, _, body = fetch(base + "/health", auth=(USER, PASSWORD))
    assert status == 200
    assert json.loads(body)["status"] in ("ok", "degraded")
    endpoint = telemetry.status()["endpoint"]
    assert (endpoint["basic_auth"], endpoint["tls"]) == (True, False)
    assert PASSWORD not in json.dumps(telemetry.status())


def test_tls_serves_https_verified_against_the_test_certificate(
    self_signed_cert: tuple[Path, Path],
) -> None:
    """With a certificate and key the endpoint speaks HTTPS that verifies against that
    certificate; a client that never handshakes does not stall the others."""
    cert, key = self_signed_cert
    telemetry = init_telemetry(
        prometheus_host="127.0.0.1",
        prometheus_port=0,
        endpoint_tls_cert=str(cert),
        endpoint_tls_key=str(key),
    )
    assert telemetry.metrics_url.startswith("https://127.0.0.1:")
    trusting = ssl.create_default_context(cafile=str(cert))
    with socket.create_connection(("127.0.0.1", telemetry.endpoint.port)):
        # This connection stays silent while the real request goes through.
        status, _, body = fetch(telemetry.endpoint.url + "/health/ready", context=trusting)
    assert (status, json.loads(body)["status"]) == (200, "ok")
    with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
        fetch(telemetry.metrics_url, context=ssl.create_default_context())
    plain = telemetry.metrics_url.replace("https://", "http://")
    with pytest.raises((urllib.error.URLError, ConnectionError, OSError)):
        fetch(plain)
    assert telemetry.status()["endpoint"]["tls"] is True


def test_prometheus_scrapes_with_basic_auth_over_https(
    prometheus_server: Any, self_signed_cert: tuple[Path, Path]
) -> None:
    """A real Prometheus with basic_auth and tls_config scrapes the endpoint; PromQL sees the
    pipeline's own counters and the system metrics."""
    cert, key = self_signed_cert
    telemetry = init_telemetry(
        service_name="station-7",
        prometheus_host="127.0.0.1",
        prometheus_port=0,
        endpoint_username=USER,
        endpoint_password=PASSWORD,
        endpoint_tls_cert=str(cert),
        endpoint_tls_key=str(key),
    )
    server = prometheus_server(
        [f"127.0.0.1:{telemetry.endpoint.port}"],
        scheme="https",
        basic_auth={"username": USER, "password": PASSWORD},
        tls_config={"ca_file": str(cert)},
    )
    [exported] = server.wait_for_query(
        'pywats_otel_export_items_total{pywats_otel_exporter="prometheus",'
        'pywats_otel_export_outcome="exported"} > 0'
    )
    assert exported["metric"]["pywats_otel_signal"] == "metrics"
    [threads] = server.wait_for_query("process_threads")
    assert float(threads["value"][1]) >= 1
    [up] = server.query('up{job="station"}')
    assert up["value"][1] == "1"
    assert telemetry.status()["endpoint"]["scrapes"] >= 1


def test_promtool_accepts_health_system_and_pipeline_metrics(
    promtool: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With every metric of this issue present, `promtool check metrics` finds no problem."""
    monkeypatch.setattr(system_metrics, "MIN_CPU_WINDOW_S", 0.05)
    health.register_check("wats-server", lambda: health.warn("slow"), critical=False)
    telemetry = init_telemetry(prometheus_host="127.0.0.1", prometheus_port=0)
    fetch(telemetry.endpoint.url + "/health")
    time.sleep(0.1)
    fetch(telemetry.metrics_url)
    _, _, body = fetch(telemetry.metrics_url)
    text = body.decode()
    for name in (
        "process_cpu_utilization",
        "process_memory_usage_bytes",
        "process_threads",
        "process_open_fds",
        "system_cpu_utilization",
        "system_memory_utilization",
        "system_filesystem_utilization",
        "pywats_otel_export_items_total",
        "pywats_otel_export_last_success_time_seconds",
        "pywats_health_check_status",
        "pywats_health_check_duration_seconds_count",
    ):
        assert sample(text, name) is not None, name
    assert (
        sample(
            text,
            "pywats_health_check_status",
            pywats_health_check_name="wats-server",
            pywats_health_status="warn",
        )
        == 1.0
    )
    result = subprocess.run(
        [promtool, "check", "metrics"], input=body, capture_output=True, timeout=30, check=False
    )
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()


class _Server(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        code = 503 if self.path.startswith("/down") else 200
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def wats_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Server)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(
    ("path", "status", "message"),
    [
        ("/api/ping", "ok", "answered HTTP 200 in "),
        ("/down", "fail", "answered HTTP 503 in "),
        (None, "fail", "is not reachable: "),
    ],
)
def test_url_check_reports_the_wats_server(
    wats_server: str, path: str | None, status: str, message: str
) -> None:
    """The health_check_url check is ok below HTTP 500 and fails on 5xx or no answer."""
    url = wats_server + path if path else f"http://127.0.0.1:{free_port()}/"
    telemetry = init_telemetry(prometheus_host="127.0.0.1", prometheus_port=0, health_check_url=url)
    code, _, body = fetch(telemetry.endpoint.url + "/health")
    check = json.loads(body)["checks"][f"url:{url}"]
    assert code == 200  # not critical: a station works offline, its queue keeps the reports
    assert check["status"] == status
    assert check["critical"] is False
    assert message in check["message"]
    assert json.loads(body)["status"] == ("ok" if status == "ok" else "degraded")


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_export_counters_move_when_the_collector_stops_and_comes_back(
    protocol: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stop the OTLP receiver: failures count up and the exporter check fails; start it again
    on the same port: exports count up and the check is ok again."""
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "50")
    receiver = OTLPReceiver(protocol).start()
    port = receiver.port
    try:
        telemetry = init_telemetry(
            otlp_endpoint=receiver.endpoint,
            otlp_protocol=protocol,
            otlp_timeout=1000,
            traces_exporter="otlp",
            metrics_exporter="prometheus",
            logs_exporter="none",
            prometheus_host="127.0.0.1",
            prometheus_port=0,
            health_cache_s=0,
        )
        tracer = trace.get_tracer("pywats_otel.test")
        labels = {"pywats_otel_signal": "traces", "pywats_otel_exporter": "otlp"}

        def export_one() -> tuple[str, dict[str, Any]]:
            with tracer.start_as_current_span("upload"):
                pass
            telemetry.force_flush(timeout_s=5)
            text = fetch(telemetry.metrics_url)[2].decode()
            check = json.loads(fetch(telemetry.endpoint.url + "/health")[2])["checks"]
            return text, check["export:traces:otlp"]

        text, check = export_one()
        assert (
            sample(
                text,
                "pywats_otel_export_items_total",
                **labels,
                pywats_otel_export_outcome="exported",
            )
            == 1
        )
        assert check["status"] == "ok"

        receiver.stop()
        text, check = export_one()
        assert (
            sample(
                text,
                "pywats_otel_export_items_total",
                **labels,
                pywats_otel_export_outcome="failed",
            )
            == 1
        )
        assert sample(text, "pywats_otel_export_failures_total", **labels) == 1
        assert check["status"] == "fail"
        assert check["message"].startswith("1 failed export since the last success")

        receiver = OTLPReceiver(protocol, port=port).start()
        deadline = time.monotonic() + 30
        while True:
            text, check = export_one()
            if check["status"] == "ok" or time.monotonic() > deadline:
                break
        exported = sample(
            text, "pywats_otel_export_items_total", **labels, pywats_otel_export_outcome="exported"
        )
        assert check["status"] == "ok"
        assert exported is not None
        assert exported >= 2
        assert receiver.wait_for(lambda r: len(r.spans) >= 1)
        last_success = sample(text, "pywats_otel_export_last_success_time_seconds", **labels)
        assert last_success is not None
        assert time.time() - 60 < last_success <= time.time()
    finally:
        receiver.stop()
