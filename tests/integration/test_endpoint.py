"""The HTTP endpoint on 127.0.0.1: /metrics, /health*, and a port that is already taken."""

from __future__ import annotations

import gzip
import json
import logging
import socket
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import metrics, trace

from pywats_otel import init_telemetry
from pywats_otel.testing import capture_telemetry


def get(
    url: str, headers: dict[str, str] | None = None, method: str = "GET"
) -> tuple[int, Any, bytes]:
    request = urllib.request.Request(url, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


@pytest.fixture
def telemetry() -> Any:
    return init_telemetry(
        service_name="station-7",
        service_version="3.1.4",
        prometheus_host="127.0.0.1",
        prometheus_port=0,
    )


def test_metrics_serves_recorded_values_in_prometheus_text(telemetry: Any) -> None:
    """A counter recorded through the API appears at /metrics with its labels and value."""
    counter = metrics.get_meter("test").create_counter(
        "pywats.queue.enqueued", unit="{item}", description="Items put into a queue."
    )
    counter.add(3, {"pywats.queue.name": "reports"})
    status, headers, body = get(telemetry.metrics_url)
    text = body.decode()
    assert status == 200
    assert headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert "# TYPE pywats_queue_enqueued_total counter" in text
    [line] = [row for row in text.splitlines() if row.startswith("pywats_queue_enqueued_total{")]
    assert 'pywats_queue_name="reports"' in line
    assert line.endswith(" 3.0")
    assert 'service_name="station-7"' in text  # target_info carries the resource


def test_metrics_negotiates_openmetrics_and_gzip(telemetry: Any) -> None:
    """Prometheus asks for OpenMetrics and gzip; the endpoint answers in kind."""
    metrics.get_meter("test").create_counter("demo.count", description="d").add(1)
    status, headers, body = get(
        telemetry.metrics_url,
        {"Accept": "application/openmetrics-text; version=1.0.0", "Accept-Encoding": "gzip"},
    )
    assert status == 200
    assert headers["Content-Type"].startswith("application/openmetrics-text")
    assert headers["Content-Encoding"] == "gzip"
    text = gzip.decompress(body).decode()
    assert text.rstrip().endswith("# EOF")
    [line] = [row for row in text.splitlines() if row.startswith("demo_count_total{")]
    assert 'otel_scope_name="test"' in line
    assert line.endswith(" 1.0")


def test_health_paths_answer_json(telemetry: Any) -> None:
    """/health names the service and version; /health/live and /health/ready say ok."""
    base = telemetry.endpoint.url
    status, headers, body = get(f"{base}/health")
    payload = json.loads(body)
    assert status == 200
    assert headers["Content-Type"] == "application/json"
    assert payload["status"] == "ok"
    assert payload["service"] == {"name": "station-7", "version": "3.1.4"}
    assert payload["uptime_s"] >= 0
    assert payload["start_time"].endswith("+00:00")
    for path in ("/health/live", "/health/ready", "/health/ready/"):
        status, _, body = get(f"{base}{path}")
        assert (status, json.loads(body)["status"]) == (200, "ok")


def test_unknown_path_is_404_and_head_has_no_body(telemetry: Any) -> None:
    """Other paths get a JSON 404 listing the real ones; HEAD answers headers only."""
    metrics.get_meter("test").create_counter("demo.count", description="d").add(1)
    status, _, body = get(f"{telemetry.endpoint.url}/nope")
    assert status == 404
    assert "/metrics" in json.loads(body)["paths"]
    status, headers, body = get(telemetry.metrics_url, method="HEAD")
    assert status == 200
    assert body == b""
    assert int(headers["Content-Length"]) > 0


def test_status_reports_the_endpoint_and_scrapes(telemetry: Any) -> None:
    """status() says where the endpoint serves and counts scrapes."""
    get(telemetry.metrics_url)
    endpoint = telemetry.status()["endpoint"]
    assert endpoint["serving"] is True
    assert endpoint["url"] == f"http://127.0.0.1:{telemetry.endpoint.port}"
    assert endpoint["scrapes"] == 1
    assert endpoint["last_scrape"] is not None


def test_openmetrics_carries_exemplars_on_buckets_and_counters(telemetry: Any) -> None:
    """Observations made inside a span carry its trace and span ID as exemplars in the
    OpenMetrics answer, on the bucket they fell in and on the counter; they stay for the next
    scrape; the text format and observations outside a span carry none."""
    meter = metrics.get_meter("test")
    histogram = meter.create_histogram(
        "station.step.duration", unit="s", explicit_bucket_boundaries_advisory=[0.1, 1.0]
    )
    counter = meter.create_counter("pywats.queue.enqueued", unit="{item}")
    with trace.get_tracer("test").start_as_current_span("convert") as span:
        histogram.record(0.5, {"pywats.converter.name": "csv"})
        counter.add(1, {"pywats.queue.name": "reports"})
    histogram.record(0.05, {"pywats.converter.name": "csv"})
    context = span.get_span_context()
    expected = f'# {{span_id="{context.span_id:016x}",trace_id="{context.trace_id:032x}"}}'
    openmetrics = {"Accept": "application/openmetrics-text; version=1.0.0"}

    def lines() -> dict[str, str]:
        _, _, body = get(telemetry.metrics_url, openmetrics)
        rows = body.decode().splitlines()
        return {
            "0.1": next(
                r for r in rows if r.startswith('station_step_duration_seconds_bucket{le="0.1"')
            ),
            "1.0": next(
                r for r in rows if r.startswith('station_step_duration_seconds_bucket{le="1.0"')
            ),
            "count": next(r for r in rows if r.startswith("station_step_duration_seconds_count")),
            "total": next(r for r in rows if r.startswith("pywats_queue_enqueued_total")),
        }

    for scrape in (lines(), lines()):
        assert f" 2.0 {expected} 0.5 " in scrape["1.0"]
        assert f" 1.0 {expected} 1.0 " in scrape["total"]
        assert "#" not in scrape["0.1"]
        assert "#" not in scrape["count"]
    _, _, text = get(telemetry.metrics_url)
    assert b"trace_id" not in text


def test_busy_port_is_a_warning_and_traces_still_flow(caplog: pytest.LogCaptureFixture) -> None:
    """With the port taken, start-up succeeds, one warning names the port and the keyword
    argument that chose it, spans flow."""
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen(1)
        port = squatter.getsockname()[1]
        with (
            caplog.at_level(logging.WARNING, logger="pywats_otel"),
            capture_telemetry(
                prometheus_host="127.0.0.1",
                prometheus_port=port,
                metrics_exporter="prometheus",
            ) as captured,
        ):
            with trace.get_tracer("test").start_as_current_span("still-traced"):
                pass
            spans = captured.spans("still-traced")
            status = captured.telemetry.status()
            url = captured.telemetry.metrics_url
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert f"port {port}" in warnings[0]
    # The keyword argument overrides PYWATS_OTEL_PROMETHEUS_PORT: the advice names the keyword.
    advice = "set the keyword argument prometheus_port of init_telemetry() to a free port"
    assert advice in warnings[0]
    assert "PYWATS_OTEL_PROMETHEUS_PORT" not in warnings[0]
    assert len(spans) == 1
    assert url is None
    assert status["endpoint"]["serving"] is False
    assert status["endpoint"]["error"] == f"port {port} is already in use"
    [prometheus] = status["metrics"]
    assert prometheus["serving"] is False
    assert "not serving" in prometheus["destination"]


def test_busy_port_warning_names_the_variable_that_set_it(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """When OTEL_EXPORTER_PROMETHEUS_PORT chose the port, the warning names that variable."""
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen(1)
        monkeypatch.setenv("OTEL_EXPORTER_PROMETHEUS_PORT", str(squatter.getsockname()[1]))
        with caplog.at_level(logging.WARNING, logger="pywats_otel"):
            init_telemetry(prometheus_host="127.0.0.1")
    assert "set OTEL_EXPORTER_PROMETHEUS_PORT to a free port" in caplog.text


def test_busy_port_warning_names_the_config_file_that_set_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A port from the TOML file: the warning says to change it there."""
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen(1)
        config = tmp_path / "station.toml"
        config.write_text(f"prometheus_port = {squatter.getsockname()[1]}\n")
        monkeypatch.setenv("PYWATS_OTEL_CONFIG_FILE", str(config))
        with caplog.at_level(logging.WARNING, logger="pywats_otel"):
            init_telemetry(prometheus_host="127.0.0.1")
    assert f"set prometheus_port in the config file {config} to a free port" in caplog.text
    assert "PYWATS_OTEL_PROMETHEUS_PORT" not in caplog.text


def test_shutdown_closes_the_port(telemetry: Any) -> None:
    """After shutdown nothing listens on the endpoint's port any more."""
    port = telemetry.endpoint.port
    assert telemetry.shutdown(timeout_s=2) is True
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0


def test_answers_go_out_without_waiting_for_the_scrapers_ack(
    telemetry: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The connection that serves a request has Nagle's algorithm off (TCP_NODELAY).

    Headers and body leave in two writes: with Nagle's algorithm the body would wait for the
    scraper's delayed ACK, 40 ms per request on a kept-alive connection.
    """
    from pywats_otel._pipeline import http_server

    seen: list[int] = []
    tune = http_server.tune

    def recording_tune(sock: socket.socket | None) -> None:
        tune(sock)
        assert sock is not None
        seen.append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))

    monkeypatch.setattr(http_server, "tune", recording_tune)
    status, _, body = get(telemetry.metrics_url)
    assert status == 200
    assert b"target_info" in body
    assert len(seen) == 1
    assert seen[0] != 0
