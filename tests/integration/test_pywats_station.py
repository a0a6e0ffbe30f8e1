"""The zero-code pyWATS station (examples/pywats_station.py, whose only telemetry line is
init_telemetry()) against the real pywats-api, a fake WATS server and a real OTLP receiver:
one trace per report file, from its conversion to its upload, across a restart too."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pywats_otel.testing.otlp import OTLPReceiver, ReceivedSpan

pytestmark = pytest.mark.usefixtures("pywats_api")

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "pywats_station.py"
CONVERT = "convert WATS Standard JSON Format Converter"
UPLOAD = "WATS POST /api/Report/WSJF"
REPORTS = 2


def _run(receiver: OTLPReceiver, server: Any, folder: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "PYWATS_OTEL_"))}
    env.update(
        OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
        PYWATS_OTEL_PROMETHEUS_PORT="0",
        PYWATS_OTEL_PROMETHEUS_HOST="127.0.0.1",
        OTEL_BSP_SCHEDULE_DELAY="100",
        WATS_URL=server.url,
        WATS_TOKEN=server.token,
    )
    done = subprocess.run(
        [sys.executable, str(EXAMPLE), "--reports", str(REPORTS), "--folder", str(folder), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _traces(spans: list[ReceivedSpan]) -> dict[str, dict[str, ReceivedSpan]]:
    traces: dict[str, dict[str, ReceivedSpan]] = {}
    for span in spans:
        traces.setdefault(span.trace_id, {})[span.name] = span
    return traces


def _check_report_traces(receiver: OTLPReceiver, server: Any, stdout: str) -> None:
    assert receiver.wait_for(lambda r: len(r.spans) >= REPORTS * 5, timeout_s=20)
    traces = _traces(receiver.spans)
    assert len(traces) == REPORTS, sorted(traces)
    for trace_id, spans in traces.items():
        assert set(spans) == {CONVERT, "send queue", "process queue", UPLOAD, "POST"}
        # The parent order of one report: conversion -> queued -> processed -> uploaded.
        assert spans[CONVERT].parent_span_id == ""
        assert spans["send queue"].parent_span_id == spans[CONVERT].span_id
        assert spans["process queue"].parent_span_id == spans["send queue"].span_id
        assert spans[UPLOAD].parent_span_id == spans["process queue"].span_id
        assert spans["POST"].parent_span_id == spans[UPLOAD].span_id
        assert spans["process queue"].attributes["pywats.queue.outcome"] == "success"
        assert spans[UPLOAD].attributes["http.response.status_code"] == 200
        # pyWATS's own text log line of the upload carries the trace ID.
        assert f"[{trace_id}] pywats.domains.report.async_service: REPORT_SUBMITTED" in stdout
    posts = [r for r in server.requests if r.method == "POST"]
    assert len(posts) == REPORTS
    for request in posts:
        traceparent = request.header("traceparent")
        assert traceparent is not None
        trace_id = traceparent.split("-")[1]
        assert trace_id in traces
        assert request.header("X-Correlation-ID") == trace_id
    # The OTLP log records arrive although configure_logging() cleared the root's handlers.
    assert receiver.wait_for(
        lambda r: sum(str(log.body).startswith("REPORT_SUBMITTED") for log in r.logs) == REPORTS,
        timeout_s=20,
    )
    submitted = [log for log in receiver.logs if str(log.body).startswith("REPORT_SUBMITTED")]
    assert {log.trace_id for log in submitted} == set(traces)
    # Five spans a report, no more: convert, send, process, the API call, its HTTP attempt.
    assert len(receiver.spans) == REPORTS * 5


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_each_report_file_is_one_trace_from_conversion_to_upload(
    tmp_path: Path, fake_wats: Any, mode: str
) -> None:
    """Converted, queued, processed and uploaded (pyWATS or AsyncWATS): one trace per file."""
    with OTLPReceiver("grpc") as receiver:
        stdout = _run(receiver, fake_wats, tmp_path, *(["--async"] if mode == "async" else []))
        _check_report_traces(receiver, fake_wats, stdout)


def test_the_trace_goes_on_after_a_restart_between_queueing_and_upload(
    tmp_path: Path, fake_wats: Any
) -> None:
    """One process converts and queues, a second one uploads: still one trace per report."""
    with OTLPReceiver("grpc") as receiver:
        first = _run(receiver, fake_wats, tmp_path, "--phase", "enqueue")
        assert fake_wats.requests == []
        second = _run(receiver, fake_wats, tmp_path, "--phase", "upload")
        _check_report_traces(receiver, fake_wats, first + second)
        # The two halves of each trace came from two processes.
        pids = {
            span.name: span.resource["process.pid"]
            for span in receiver.spans
            if span.name in ("send queue", "process queue")
        }
        assert pids["send queue"] != pids["process queue"]
