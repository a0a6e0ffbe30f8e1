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
