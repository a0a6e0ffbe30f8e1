"""A real Prometheus server scrapes the endpoint; PromQL returns what the test recorded."""

from __future__ import annotations

import subprocess
import urllib.request
from typing import Any

from opentelemetry import metrics

from pywats_otel import init_telemetry, semconv


def test_prometheus_scrapes_recorded_counter_and_histogram(prometheus_server: Any) -> None:
    """PromQL over the server's HTTP API returns the counter value and histogram count recorded."""
    telemetry = init_telemetry(
        service_name="station-7", prometheus_host="127.0.0.1", prometheus_port=0
    )
    meter = metrics.get_meter("pywats_otel.test")
    meter.create_counter(
        semconv.QUEUE_ENQUEUED, unit="{item}", description="Items put into a queue."
    ).add(7, {semconv.QUEUE_NAME: "reports"})
    histogram = meter.create_histogram(
        semconv.CONVERTER_DURATION, unit="s", description="Duration of one converter run."
    )
    for seconds in (0.02, 0.2, 2.0):
        histogram.record(
            seconds, {semconv.CONVERTER_NAME: "csv", semconv.CONVERTER_STATUS: "success"}
        )

    server = prometheus_server([f"127.0.0.1:{telemetry.endpoint.port}"])
    [counter] = server.wait_for_query('pywats_queue_enqueued_total{pywats_queue_name="reports"}')
    assert float(counter["value"][1]) == 7.0
    assert counter["metric"]["job"] == "station"
    [count] = server.wait_for_query(
        'pywats_converter_duration_seconds_count{pywats_converter_name="csv"}'
    )
    assert float(count["value"][1]) == 3.0
    [under_quarter] = server.wait_for_query(
        'pywats_converter_duration_seconds_bucket{pywats_converter_name="csv",le="0.25"}'
    )
    assert float(under_quarter["value"][1]) == 2.0
    [info] = server.wait_for_query("target_info")
    assert info["metric"]["service_name"] == "station-7"
    [up] = server.query('up{job="station"}')
    assert up["value"][1] == "1"


def test_promtool_accepts_the_scraped_text(promtool: str) -> None:
    """`promtool check metrics` finds no problem in what /metrics serves."""
    telemetry = init_telemetry(prometheus_host="127.0.0.1", prometheus_port=0)
    meter = metrics.get_meter("pywats_otel.test")
    meter.create_counter(
        semconv.CONVERTER_EXECUTIONS, unit="{execution}", description="Converter runs."
    ).add(2, {semconv.CONVERTER_NAME: "csv", semconv.CONVERTER_STATUS: "failed"})
    meter.create_histogram(
        semconv.QUEUE_PROCESSING_DURATION, unit="s", description="Time spent processing one item."
    ).record(0.4, {semconv.QUEUE_NAME: "reports", semconv.QUEUE_OUTCOME: "success"})
    meter.create_up_down_counter(
        semconv.QUEUE_DEPTH, unit="{item}", description="Items in a queue per state."
    ).add(3, {semconv.QUEUE_NAME: "reports", semconv.QUEUE_STATE: "pending"})
    with urllib.request.urlopen(telemetry.metrics_url, timeout=5) as response:
        text = response.read()
    assert b"pywats_converter_executions_total" in text
    result = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, timeout=30, check=False
    )
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()


def test_ten_thousand_serials_give_a_bounded_scrape_that_promtool_accepts(promtool: str) -> None:
    """A scrape with the limit reached: 2,000 series of the metric, the overflow series labelled
    otel_metric_overflow="true" with the rest of the count, and valid exposition text."""
    telemetry = init_telemetry(prometheus_host="127.0.0.1", prometheus_port=0)
    counter = metrics.get_meter("station").create_counter(
        semconv.CONVERTER_EXECUTIONS, unit="{execution}", description="Converter runs."
    )
    for index in range(10_000):
        counter.add(1, {semconv.CONVERTER_NAME: "csv", "serial": f"SN{index:06d}"})
    with urllib.request.urlopen(telemetry.metrics_url, timeout=30) as response:
        text = response.read()
    lines = [
        line
        for line in text.decode().splitlines()
        if line.startswith("pywats_converter_executions_total{")
    ]
    assert len(lines) == 2000
    [overflow] = [line for line in lines if 'otel_metric_overflow="true"' in line]
    assert overflow.endswith(" 8001.0")
    assert 'pywats_otel_metric_overflow_total{otel_scope_name="pywats_otel"' in text.decode()
    result = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()


def test_prometheus_stores_the_trace_id_of_a_slow_request_as_an_exemplar(
    prometheus_server: Any, http_server: Any
) -> None:
    """A slow upload's http.client.request.duration observation reaches Prometheus's exemplar
    storage with the trace and span ID of its CLIENT span, on the bucket it fell in."""
    import time

    import httpx
    from opentelemetry import trace

    from pywats_otel.testing import capture_telemetry

    http_server.delay["/api/reports"] = 0.3
    with capture_telemetry(
        service_name="station-7",
        metrics_exporter="prometheus",
        prometheus_host="127.0.0.1",
        prometheus_port=0,
    ) as captured:
        with trace.get_tracer("station").start_as_current_span("upload report"):
            httpx.post(f"{http_server.url}/api/reports", json={"id": 1}, timeout=5)
        [client] = captured.spans("POST")
        started = time.time()
        server = prometheus_server(
            [f"127.0.0.1:{captured.telemetry.endpoint.port}"], exemplars=True
        )
        query = "http_client_request_duration_seconds_bucket"
        deadline = time.monotonic() + 30
        found: list[Any] = []
        while time.monotonic() < deadline and not found:
            found = server.api(
                "query_exemplars",
                query=query,
                start=str(started - 60),
                end=str(time.time() + 60),
            )
            time.sleep(0.5)
    assert found, f"no exemplar of {query}; targets: {server.api('targets')}"
    [series] = found
    assert series["seriesLabels"]["le"] == "0.5"  # 0.3 s falls in (0.25, 0.5]
    assert series["seriesLabels"]["http_request_method"] == "POST"
    [exemplar] = series["exemplars"]
    context = client.get_span_context()
    assert exemplar["labels"] == {
        "trace_id": f"{context.trace_id:032x}",
        "span_id": f"{context.span_id:016x}",
    }
    assert 0.3 <= float(exemplar["value"]) < 0.5
