"""Each example in examples/ runs as a user would run it and prints what it promises."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pywats_otel.testing.otlp import OTLPReceiver

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def run_example(name: str, **env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "PYWATS_OTEL_"))}
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / name)],
        env={**clean, "PYWATS_OTEL_PROMETHEUS_HOST": "127.0.0.1", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_minimal_init_prints_destinations_and_a_trace_id() -> None:
    """minimal_init.py reports a 32-hex trace ID and the Prometheus endpoint it served."""
    out = run_example("minimal_init.py")
    assert re.search(r"^trace id: [0-9a-f]{32}$", out, re.MULTILINE)
    assert "traces -> none" in out
    assert re.search(r"^metrics -> prometheus http://127\.0\.0\.1:\d+/metrics$", out, re.MULTILINE)
    assert re.search(r"^metrics url: http://127\.0\.0\.1:\d+/metrics$", out, re.MULTILINE)


def test_prometheus_scrape_prints_the_scraped_counter_lines() -> None:
    """prometheus_scrape.py reads its own counters back from /metrics with their values."""
    out = run_example("prometheus_scrape.py")
    lines = [line for line in out.splitlines() if line.startswith("pywats_converter")]
    assert len(lines) == 2
    success = next(line for line in lines if 'pywats_converter_status="success"' in line)
    failed = next(line for line in lines if 'pywats_converter_status="failed"' in line)
    assert success.endswith(" 3.0")
    assert failed.endswith(" 1.0")


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_otlp_collector_example_delivers_to_a_real_receiver(protocol: str) -> None:
    """otlp_collector.py sends its span, counter and log record to the OTLP endpoint it is given."""
    with OTLPReceiver(protocol) as receiver:
        out = run_example(
            "otlp_collector.py",
            OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
            OTEL_EXPORTER_OTLP_PROTOCOL=protocol,
        )
        assert receiver.wait_for(lambda r: bool(r.spans and r.metrics and r.logs))
    [trace_id] = re.findall(r"^trace id: ([0-9a-f]{32})$", out, re.MULTILINE)
    [span] = [s for s in receiver.spans if s.name == "upload report-42"]
    assert span.trace_id == trace_id
    assert span.resource["service.name"] == "example-station"
    [record] = [log for log in receiver.logs if log.body == "report-42 uploaded"]
    assert record.trace_id == trace_id
    assert "flushed: True" in out
    assert re.search(r"^traces: otlp .* exported=1 failed=0$", out, re.MULTILINE)


def test_queue_worker_keeps_one_trace_per_report_across_retries() -> None:
    """queue_worker.py: the send and every process attempt of a report share its trace ID; the
    counters it prints from /metrics match what it did."""
    out = run_example("queue_worker.py")
    enqueued = dict(re.findall(r"^enqueued (report-\d) in trace ([0-9a-f]{32})$", out, re.M))
    processed = re.findall(
        r"^processed (report-\d) attempt (\d): (\w+) in trace ([0-9a-f]{32})$", out, re.M
    )
    assert set(enqueued) == {"report-1", "report-2"}
    assert enqueued["report-1"] != enqueued["report-2"]
    assert [(r, a, o) for r, a, o, _ in processed] == [
        ("report-1", "1", "retry"),
        ("report-1", "2", "success"),
        ("report-2", "1", "success"),
    ]
    assert all(trace_id == enqueued[report] for report, _, _, trace_id in processed)
    assert re.search(
        r'^pywats_queue_enqueued_total\{.*pywats_queue_name="reports"\} 2\.0$', out, re.M
    )
    assert re.search(
        r'^pywats_queue_processed_total\{.*pywats_queue_outcome="retry"\} 1\.0$', out, re.M
    )
    assert re.search(
        r'^pywats_queue_processed_total\{.*pywats_queue_outcome="success"\} 2\.0$', out, re.M
    )


def test_converter_example_counts_each_status() -> None:
    """converter.py: one success, one rejected, one failed file, and one counter each."""
    out = run_example("converter.py")
    assert "good.csv: success (2 records)" in out
    assert "empty.csv: rejected (0 records)" in out
    assert "broken.csv: failed (could not convert string to float: 'n/a')" in out
    for status in ("success", "rejected", "failed"):
        assert re.search(
            rf'^pywats_converter_executions_total\{{.*pywats_converter_name="ict-csv",'
            rf'pywats_converter_status="{status}"\}} 1\.0$',
            out,
            re.M,
        ), status


def test_health_checks_example_turns_ready_to_503() -> None:
    """health_checks.py: custom sync and async checks are ok, then a failing critical check
    makes /health/ready answer 503 with the reason."""
    out = run_example("health_checks.py")
    assert "/health: 200 ok" in out
    assert "  wats-server: ok (WATS server answers)" in out
    assert "  converters: ok (3 converters loaded)" in out
    assert "/health/ready: 200" in out
    assert (
        "WATS server down -> /health/ready: 503 (wats-server: ConnectionError: WATS server does "
        "not answer)" in out
    )


def test_recent_traces_example_lists_the_failed_trace_first() -> None:
    """recent_traces.py reads its own /traces: the failed conversion first, with its error."""
    out = run_example("recent_traces.py")
    lines = out.splitlines()
    assert re.fullmatch(r"trace [0-9a-f]{32} failed: convert ict-csv", lines[0])
    assert lines[1] == (
        "  convert ict-csv  ERROR  ValueError: could not convert string to float: 'n/a'"
    )
    assert re.fullmatch(r"trace [0-9a-f]{32} ok: convert ict-csv", lines[2])
    assert lines[3] == "  convert ict-csv  UNSET"
    assert re.fullmatch(r"in a browser: http://127\.0\.0\.1:\d+/traces", lines[4])
