"""One report from file to upload as one trace: a small station on 127.0.0.1.

A CSV test result dropped in an inbox folder is converted into a report, queued on disk with
its carrier in the item's JSON, picked up by a consumer thread and uploaded with httpx to a
local HTTP server. The failure paths: the converter raises, the upload gets 500 and is retried,
the carrier on disk is corrupt.
"""

from __future__ import annotations

import csv
import json
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.trace import SpanKind, StatusCode

from pywats_otel import converter, queue, semconv
from pywats_otel.testing import CapturedTelemetry, capture_telemetry

GOOD_CSV = (
    "serial,step,value,low,high\n"
    "SN-1001,voltage,3.31,3.2,3.4\n"
    "SN-1001,current,0.12,0.1,0.2\n"
    "SN-1001,resistance,47.5,45,50\n"
)
BROKEN_CSV = "serial,step,value,low,high\nSN-1002,voltage,not-a-number,3.2,3.4\n"


def parse_csv(path: Path) -> dict[str, Any]:
    """A real, small converter: a CSV test result to a WATS-like report dict."""
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        raise ValueError(f"{path.name}: no test steps")
    steps = []
    for row in rows:
        value, low, high = float(row["value"]), float(row["low"]), float(row["high"])
        steps.append(
            {
                "name": row["step"],
                "value": value,
                "limits": [low, high],
                "status": "P" if low <= value <= high else "F",
            }
        )
    return {
        "serial": rows[0]["serial"],
        "result": "P" if all(step["status"] == "P" for step in steps) else "F",
        "steps": steps,
    }


class Station:
    """Inbox -> converter -> queue on disk -> consumer thread -> upload."""

    def __init__(self, root: Path, server_url: str) -> None:
        self.inbox = root / "inbox"
        self.spool = root / "queue"
        self.rejected = root / "rejected"
        for folder in (self.inbox, self.spool, self.rejected):
            folder.mkdir()
        self.server_url = server_url
        self.uploaded: list[str] = []
        self._stop = threading.Event()
        self._consumer: threading.Thread | None = None

    def scan(self) -> None:
        for path in sorted(self.inbox.glob("*.csv")):
            try:
                with converter.conversion("csv", source=path) as run:
                    report = parse_csv(path)
                    run.records = len(report["steps"])
                    item_id = f"{report['serial']}-{path.stem}"
                    item = {"id": item_id, "attempt": 1, "metadata": {}, "report": report}
                    with queue.enqueue("reports", item["metadata"], item_id=item_id):
                        (self.spool / f"{item_id}.json").write_text(json.dumps(item))
            except ValueError:
                path.rename(self.rejected / path.name)
            else:
                path.unlink()

    def pending(self) -> dict[str, int]:
        return {"pending": len(list(self.spool.glob("*.json")))}

    def start_consumer(self) -> None:
        self._consumer = threading.Thread(target=self._consume, name="uploader")
        self._consumer.start()

    def _consume(self) -> None:
        with httpx.Client(base_url=self.server_url, timeout=5) as client:
            while not self._stop.is_set():
                files = sorted(self.spool.glob("*.json"))
                if not files:
                    self._stop.wait(0.02)
                    continue
                for file in files:
                    self._upload(client, file)

    def _upload(self, client: httpx.Client, file: Path) -> None:
        item = json.loads(file.read_text())
        with queue.process(
            "reports", item["metadata"], item_id=item["id"], attempt=item["attempt"]
        ) as work:
            response = client.post("/api/reports", json=item["report"])
            if response.status_code >= 500:
                work.outcome = "retry"
                item["attempt"] += 1
                file.write_text(json.dumps(item))
                return
            response.raise_for_status()
        file.unlink()
        self.uploaded.append(item["id"])

    def wait_uploaded(self, count: int, timeout_s: float = 15.0) -> None:
        deadline = time.monotonic() + timeout_s
        while len(self.uploaded) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(self.uploaded) >= count, f"uploaded {self.uploaded} within {timeout_s}s"

    def stop(self) -> None:
        self._stop.set()
        if self._consumer is not None:
            self._consumer.join(10)


@pytest.fixture
def station(tmp_path: Path, http_server: Any) -> Iterator[Station]:
    built = Station(tmp_path, http_server.url)
    yield built
    built.stop()


def _spans(captured: CapturedTelemetry) -> dict[str, list[Any]]:
    spans: dict[str, list[Any]] = {}
    for span in captured.spans():
        spans.setdefault(span.name, []).append(span)
    return spans


def _child_of(child: Any, parent: Any) -> bool:
    return child.parent is not None and child.parent.span_id == parent.context.span_id


def _run_one_report(station: Station, http_server: Any) -> dict[str, Any]:
    """Drop one good file, run the station until it is uploaded; what the telemetry holds."""
    (station.inbox / "ict-0001.csv").write_text(GOOD_CSV)
    with capture_telemetry(service_name="station-7") as captured:
        undo_depth = queue.observe_queue_depth("reports", station.pending)
        metric = captured.metric_value
        try:
            station.scan()
            stored = json.loads((station.spool / "SN-1001-ict-0001.json").read_text())
            depth_before = metric(semconv.QUEUE_DEPTH, {semconv.QUEUE_NAME: "reports"})
            station.start_consumer()
            station.wait_uploaded(1)
            station.stop()
            depth_after = metric(semconv.QUEUE_DEPTH, {semconv.QUEUE_NAME: "reports"})
        finally:
            undo_depth()
        return {
            "spans": _spans(captured),
            "stored": stored,
            "depth": (depth_before, depth_after),
            "converted": metric(
                semconv.CONVERTER_EXECUTIONS, {semconv.CONVERTER_STATUS: "success"}
            ),
            "converted_duration": metric(semconv.CONVERTER_DURATION),
            "enqueued": metric(semconv.QUEUE_ENQUEUED, {semconv.QUEUE_NAME: "reports"}),
            "processed": metric(semconv.QUEUE_PROCESSED, {semconv.QUEUE_OUTCOME: "success"}),
            "processing": metric(
                semconv.QUEUE_PROCESSING_DURATION, {semconv.QUEUE_OUTCOME: "success"}
            ),
            "waited": metric(semconv.QUEUE_WAIT_DURATION, {semconv.QUEUE_NAME: "reports"}),
            "uploads": metric(
                semconv.HTTP_CLIENT_REQUEST_DURATION,
                {
                    "http.request.method": "POST",
                    "http.response.status_code": 200,
                    "server.address": "127.0.0.1",
                    "server.port": http_server.port,
                },
            ),
        }


def test_a_report_is_one_trace_from_file_to_upload(station: Station, http_server: Any) -> None:
    """convert -> send -> process -> POST: one trace; the server sees the converter's trace ID."""
    seen = _run_one_report(station, http_server)
    spans = seen["spans"]
    [convert], [send], [process], [post] = (
        spans["convert csv"],
        spans["send reports"],
        spans["process reports"],
        spans["POST"],
    )
    trace_id = convert.context.trace_id
    assert convert.parent is None
    assert _child_of(send, convert)
    assert _child_of(process, send)
    assert _child_of(post, process)
    assert {span.context.trace_id for span in (convert, send, process, post)} == {trace_id}
    assert [send.kind, process.kind, post.kind] == [
        SpanKind.PRODUCER,
        SpanKind.CONSUMER,
        SpanKind.CLIENT,
    ]
    assert convert.attributes["pywats.converter.file.name"] == "ict-0001.csv"
    assert convert.attributes["pywats.converter.file.size"] == len(GOOD_CSV)
    assert convert.attributes["pywats.converter.records"] == 3
    assert process.attributes["messaging.message.id"] == "SN-1001-ict-0001"
    assert process.attributes["pywats.queue.attempt"] == 1

    # The carrier went to disk inside the item; the upload carried the converter's trace ID.
    assert seen["stored"]["metadata"]["traceparent"].split("-")[1] == f"{trace_id:032x}"
    [request] = http_server.requests
    assert json.loads(request["body"])["serial"] == "SN-1001"
    assert http_server.header(0, "X-Correlation-ID") == f"{trace_id:032x}"
    assert http_server.header(0, "traceparent") == (
        f"00-{trace_id:032x}-{post.context.span_id:016x}-{int(post.context.trace_flags):02x}"
    )
    assert station.uploaded == ["SN-1001-ict-0001"]
    assert list(station.inbox.iterdir()) == []


def test_a_report_s_steps_show_in_the_metrics(station: Station, http_server: Any) -> None:
    """One conversion, one enqueue, one processed item with its wait, one upload; depth 1 -> 0."""
    seen = _run_one_report(station, http_server)
    assert seen["converted"] == 1
    assert seen["converted_duration"][0] == 1
    assert seen["enqueued"] == 1
    assert seen["processed"] == 1
    assert seen["processing"][0] == 1
    assert seen["waited"][0] == 1
    assert seen["uploads"][0] == 1
    assert seen["depth"] == (1, 0)


def test_an_upload_answered_500_is_retried_in_the_same_trace(
    station: Station, http_server: Any
) -> None:
    """Attempt 1 gets 500 (retry), attempt 2 succeeds; both are children of the one send span."""
    http_server.plan["/api/reports"] = [500]
    (station.inbox / "ict-0002.csv").write_text(GOOD_CSV)
    with capture_telemetry() as captured:
        station.scan()
        station.start_consumer()
        station.wait_uploaded(1)
        station.stop()
        spans = _spans(captured)
        metric = captured.metric_value
        retried = metric(semconv.QUEUE_PROCESSED, {semconv.QUEUE_OUTCOME: "retry"})
        succeeded = metric(semconv.QUEUE_PROCESSED, {semconv.QUEUE_OUTCOME: "success"})
        server_errors = metric(
            semconv.HTTP_CLIENT_REQUEST_DURATION, {"http.response.status_code": 500}
        )
        server_ok = metric(semconv.HTTP_CLIENT_REQUEST_DURATION, {"http.response.status_code": 200})
        error_points = [
            attrs
            for attrs, _ in captured.metric_points(semconv.HTTP_CLIENT_REQUEST_DURATION)
            if attrs.get("error.type") == "500"
        ]

    [convert], [send] = spans["convert csv"], spans["send reports"]
    first, second = sorted(
        spans["process reports"],
        key=lambda span: span.attributes["pywats.queue.attempt"],
    )
    assert _child_of(first, send)
    assert _child_of(second, send)
    assert first.attributes["pywats.queue.outcome"] == "retry"
    assert second.attributes["pywats.queue.outcome"] == "success"
    assert second.attributes["pywats.queue.attempt"] == 2
    failed_post, ok_post = sorted(spans["POST"], key=lambda span: span.start_time)
    assert _child_of(failed_post, first)
    assert _child_of(ok_post, second)
    assert failed_post.status.status_code is StatusCode.ERROR
    assert failed_post.attributes["error.type"] == "500"
    trace_ids = {http_server.header(index, "X-Correlation-ID") for index in (0, 1)}
    assert trace_ids == {f"{convert.context.trace_id:032x}"}
    assert [request["status"] for request in http_server.requests] == [500, 200]
    assert retried == 1
    assert succeeded == 1
    assert server_errors[0] == 1
    assert server_ok[0] == 1
    assert len(error_points) == 1


def test_a_converter_that_raises_queues_nothing(station: Station, http_server: Any) -> None:
    """A file the converter cannot read: a failed convert span and count, nothing queued."""
    (station.inbox / "ict-0003.csv").write_text(BROKEN_CSV)
    with capture_telemetry() as captured:
        station.scan()
        spans = _spans(captured)
        failed = captured.metric_value(
            semconv.CONVERTER_EXECUTIONS,
            {semconv.CONVERTER_NAME: "csv", semconv.CONVERTER_STATUS: "failed"},
        )
        succeeded = captured.metric_value(
            semconv.CONVERTER_EXECUTIONS, {semconv.CONVERTER_STATUS: "success"}
        )
        enqueued = captured.metric_value(semconv.QUEUE_ENQUEUED)
    [convert] = spans["convert csv"]
    assert set(spans) == {"convert csv"}
    assert convert.status.status_code is StatusCode.ERROR
    assert convert.attributes is not None
    assert convert.attributes["error.type"] == "ValueError"
    assert convert.attributes["pywats.converter.status"] == "failed"
    [event] = convert.events
    assert "not-a-number" in str(event.attributes["exception.message"])  # type: ignore[index]
    assert failed == 1
    assert succeeded is None
    assert enqueued is None
    assert [path.name for path in station.rejected.iterdir()] == ["ict-0003.csv"]
    assert list(station.spool.iterdir()) == []
    assert http_server.requests == []


def test_a_corrupt_carrier_on_disk_starts_a_new_trace_and_still_uploads(
    station: Station, http_server: Any
) -> None:
    """An item whose carrier was damaged on disk is uploaded in a new trace, without a wait."""
    item = {
        "id": "SN-1004",
        "attempt": 1,
        "metadata": {"traceparent": "00-garbage", semconv.CARRIER_ENQUEUED_AT: "not a time"},
        "report": {"serial": "SN-1004", "result": "P", "steps": []},
    }
    (station.spool / "SN-1004.json").write_text(json.dumps(item))
    with capture_telemetry() as captured:
        station.start_consumer()
        station.wait_uploaded(1)
        station.stop()
        spans = _spans(captured)
        processed = captured.metric_value(
            semconv.QUEUE_PROCESSED, {semconv.QUEUE_OUTCOME: "success"}
        )
        waits = captured.metric_points(semconv.QUEUE_WAIT_DURATION)
    [process], [post] = spans["process reports"], spans["POST"]
    assert process.parent is None
    assert _child_of(post, process)
    assert http_server.header(0, "X-Correlation-ID") == f"{process.context.trace_id:032x}"
    assert processed == 1
    assert waits == []
    assert station.uploaded == ["SN-1004"]


def test_promtool_accepts_the_station_s_metrics(
    station: Station, http_server: Any, promtool: str
) -> None:
    """/metrics after a retried upload passes `promtool check metrics`, with every family."""
    http_server.plan["/api/reports"] = [500]
    (station.inbox / "ict-0005.csv").write_text(GOOD_CSV)
    (station.inbox / "ict-0006.csv").write_text(BROKEN_CSV)
    with capture_telemetry(
        metrics_exporter="prometheus", prometheus_host="127.0.0.1", prometheus_port=0
    ) as captured:
        undo_depth = queue.observe_queue_depth("reports", station.pending)
        try:
            station.scan()
            station.start_consumer()
            station.wait_uploaded(1)
            station.stop()
            assert captured.telemetry.metrics_url is not None
            with urllib.request.urlopen(captured.telemetry.metrics_url, timeout=5) as response:
                text = response.read()
        finally:
            undo_depth()
    result = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, timeout=30, check=False
    )
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()
    lines = text.decode().splitlines()
    for family in (
        "http_client_request_duration_seconds",
        "pywats_queue_enqueued_total",
        "pywats_queue_processed_total",
        "pywats_queue_processing_duration_seconds",
        "pywats_queue_wait_duration_seconds",
        "pywats_queue_depth",
        "pywats_converter_executions_total",
        "pywats_converter_duration_seconds",
    ):
        assert any(line.startswith(f"# HELP {family} ") for line in lines), family
    assert any(
        line.startswith("pywats_queue_processed_total{") and 'pywats_queue_outcome="retry"' in line
        for line in lines
    )
    assert any(
        line.startswith("pywats_converter_executions_total{")
        and 'pywats_converter_status="failed"' in line
        for line in lines
    )
