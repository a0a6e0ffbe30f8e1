"""pywats_otel.queue: send/process spans linked through the carrier, outcomes, metrics, queues."""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode

from pywats_otel import queue, semconv
from pywats_otel._base.ratelimit import reset_warnings
from pywats_otel.testing import CapturedTelemetry, capture_telemetry

ROOT = Path(__file__).resolve().parents[2]


class UploadError(Exception):
    pass


def _hex(number: int, digits: int) -> str:
    return format(number, f"0{digits}x")


def _by_name(captured: CapturedTelemetry) -> dict[str, Any]:
    return {span.name: span for span in captured.spans()}


@pytest.fixture(autouse=True)
def fresh_state() -> None:
    """No warning logged yet and no depth callback left by another test."""
    reset_warnings()
    with queue._depth_lock:
        queue._depth_callbacks.clear()


def test_enqueue_writes_the_producer_context_and_time_into_the_carrier() -> None:
    """The carrier gets the send span's traceparent and the enqueue time; the item is counted."""
    carrier: dict[str, str] = {}
    with capture_telemetry() as captured:
        before = time.time()
        with queue.enqueue("reports", carrier, item_id="r-1") as span:
            stored = dict(carrier)
        after = time.time()
        [send] = captured.spans("send reports")
        enqueued = captured.metric_value(semconv.QUEUE_ENQUEUED, {semconv.QUEUE_NAME: "reports"})
    context = span.get_span_context()
    assert stored == carrier
    assert carrier["traceparent"] == (
        f"00-{_hex(context.trace_id, 32)}-{_hex(context.span_id, 16)}-"
        f"{_hex(int(context.trace_flags), 2)}"
    )
    assert before <= float(carrier[semconv.CARRIER_ENQUEUED_AT]) <= after
    assert all(isinstance(value, str) for value in carrier.values())
    assert send.kind is SpanKind.PRODUCER
    assert dict(send.attributes or {}) == {
        "messaging.system": "pywats",
        "messaging.destination.name": "reports",
        "messaging.operation.type": "send",
        "messaging.operation.name": "send",
        "messaging.message.id": "r-1",
    }
    assert enqueued == 1


def test_process_is_a_child_of_the_send_span_after_a_json_round_trip() -> None:
    """A carrier written to JSON and read back gives a CONSUMER span under the PRODUCER span."""
    with capture_telemetry() as captured:
        carrier: dict[str, str] = {}
        with queue.enqueue("reports", carrier, item_id="r-7"):
            pass
        restored = json.loads(json.dumps(carrier))
        restored[semconv.CARRIER_ENQUEUED_AT] = f"{time.time() - 5.0:.6f}"
        with queue.process("reports", restored, item_id="r-7", attempt=2) as work:
            inner = trace.get_current_span()
            assert queue.current_work() is work
        assert queue.current_work() is None
        spans = _by_name(captured)
        processed = captured.metric_value(
            semconv.QUEUE_PROCESSED,
            {semconv.QUEUE_NAME: "reports", semconv.QUEUE_OUTCOME: "success"},
        )
        processing = captured.metric_value(
            semconv.QUEUE_PROCESSING_DURATION, {semconv.QUEUE_OUTCOME: "success"}
        )
        wait_count, wait_sum = captured.metric_value(semconv.QUEUE_WAIT_DURATION)
    send, process = spans["send reports"], spans["process reports"]
    assert process.kind is SpanKind.CONSUMER
    assert process.parent is not None
    assert process.parent.span_id == send.context.span_id
    assert process.context.trace_id == send.context.trace_id
    assert inner.get_span_context().span_id == process.context.span_id
    assert dict(process.attributes or {}) == {
        "messaging.system": "pywats",
        "messaging.destination.name": "reports",
        "messaging.operation.type": "process",
        "messaging.operation.name": "process",
        "messaging.message.id": "r-7",
        "pywats.queue.attempt": 2,
        "pywats.queue.outcome": "success",
    }
    assert work.outcome == "success"
    assert work.attempt == 2
    assert process.status.status_code is StatusCode.UNSET
    assert processed == 1
    assert processing[0] == 1
    assert wait_count == 1
    assert 5.0 <= wait_sum < 10.0


def test_an_exception_marks_the_item_failed_and_passes_unchanged() -> None:
    """The very exception object leaves the block, with its traceback; the span records it."""
    raised = UploadError("server said 500")
    with capture_telemetry() as captured:
        carrier: dict[str, str] = {}
        with queue.enqueue("reports", carrier):
            pass
        with pytest.raises(UploadError) as caught, queue.process("reports", carrier):
            raise raised
        [process] = captured.spans("process reports")
        failed = captured.metric_value(semconv.QUEUE_PROCESSED, {semconv.QUEUE_OUTCOME: "failed"})
        succeeded = captured.metric_value(
            semconv.QUEUE_PROCESSED, {semconv.QUEUE_OUTCOME: "success"}
        )
    assert caught.value is raised
    assert traceback.extract_tb(caught.value.__traceback__)[-1].line == "raise raised"
    assert process.status.status_code is StatusCode.ERROR
    assert process.status.description == "UploadError: server said 500"
    assert process.attributes is not None
    assert process.attributes["error.type"] == "UploadError"
    assert process.attributes["pywats.queue.outcome"] == "failed"
    [event] = process.events
    assert event.name == "exception"
    assert event.attributes is not None
    assert event.attributes["exception.message"] == "server said 500"
    assert failed == 1
    assert succeeded is None


def test_an_explicit_outcome_is_counted_and_wins_over_an_exception() -> None:
    """work.outcome = "retry" is what the span and the metrics say, exception or not."""
    with capture_telemetry() as captured:
        with queue.process("reports", {}, attempt=1) as work:
            work.outcome = "retry"

        def retry_then_raise() -> None:
            with queue.process("reports", {}, attempt=2) as work:
                work.outcome = "retry"
                raise UploadError("timeout")

        with pytest.raises(UploadError):
            retry_then_raise()
        first, second = captured.spans("process reports")
        retried = captured.metric_value(semconv.QUEUE_PROCESSED, {semconv.QUEUE_OUTCOME: "retry"})
    assert first.attributes is not None
    assert second.attributes is not None
    assert first.attributes["pywats.queue.outcome"] == "retry"
    assert first.status.status_code is StatusCode.UNSET
    assert second.attributes["pywats.queue.outcome"] == "retry"
    assert second.attributes["error.type"] == "UploadError"
    assert second.status.status_code is StatusCode.ERROR
    assert retried == 2


def test_an_explicit_failed_outcome_sets_error_status() -> None:
    """work.outcome = "failed" without an exception still marks the span as an error."""
    with capture_telemetry() as captured:
        with queue.process("reports", {}) as work:
            work.outcome = "failed"
        [process] = captured.spans("process reports")
    assert process.status.status_code is StatusCode.ERROR
    assert process.attributes is not None
    assert process.attributes["error.type"] == "_OTHER"


def test_an_unknown_outcome_is_counted_as_failed_with_one_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An outcome outside success/failed/retry never raises; it counts as failed, warned once."""
    with caplog.at_level(logging.WARNING, logger="pywats_otel"), capture_telemetry() as captured:
        for _ in range(3):
            with queue.process("reports", {}) as work:
                work.outcome = "postponed"
        failed = captured.metric_value(semconv.QUEUE_PROCESSED, {semconv.QUEUE_OUTCOME: "failed"})
    assert failed == 3
    warnings = [r.getMessage() for r in caplog.records if "unknown queue outcome" in r.getMessage()]
    assert warnings == [
        "pywats_otel: unknown queue outcome 'postponed' (known: success, failed, retry); "
        "counted as failed"
    ]


@pytest.mark.parametrize(
    "carrier",
    [
        None,
        {},
        {"traceparent": "00-not-a-trace-01"},
        {"traceparent": 12345},
        {"traceparent": "00-00000000000000000000000000000000-b7ad6b7169203331-01"},
        {semconv.CARRIER_ENQUEUED_AT: "yesterday"},
        {semconv.CARRIER_ENQUEUED_AT: "nan"},
        "traceparent=00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        [("traceparent", "x")],
    ],
    ids=[
        "none",
        "empty",
        "bad-traceparent",
        "int-traceparent",
        "list-traceparent",
        "bad-time",
        "nan-time",
        "a-string",
        "a-list",
    ],
)
def test_a_missing_or_corrupt_carrier_gives_a_new_root_span(carrier: Any) -> None:
    """No exception: the item is processed in a new trace, with no wait recorded."""
    with capture_telemetry() as captured:
        tracer = trace.get_tracer("test")
        with (
            tracer.start_as_current_span("worker loop"),
            queue.process("reports", carrier, item_id="r-1"),
        ):
            pass
        [process] = captured.spans("process reports")
        processed = captured.metric_value(
            semconv.QUEUE_PROCESSED, {semconv.QUEUE_OUTCOME: "success"}
        )
        waits = captured.metric_points(semconv.QUEUE_WAIT_DURATION)
    assert process.parent is None
    assert processed == 1
    assert waits == []


def test_enqueue_again_replaces_the_carrier_s_old_context() -> None:
    """Re-queueing an item rewrites traceparent and drops a stale tracestate."""
    carrier = {
        "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        "tracestate": "vendor=stale",
        semconv.CARRIER_ENQUEUED_AT: "1.0",
        "report_id": "r-1",
    }
    with capture_telemetry(), queue.enqueue("reports", carrier) as span:
        pass
    trace_id = _hex(span.get_span_context().trace_id, 32)
    assert carrier["traceparent"].split("-")[1] == trace_id
    assert "tracestate" not in carrier
    assert float(carrier[semconv.CARRIER_ENQUEUED_AT]) > 1.0
    assert carrier["report_id"] == "r-1"


def test_a_failed_store_is_not_counted_as_enqueued() -> None:
    """An exception while storing marks the send span failed and counts nothing."""
    raised = OSError("disk full")
    with capture_telemetry() as captured:
        with pytest.raises(OSError, match="disk full") as caught, queue.enqueue("reports", {}):
            raise raised
        [send] = captured.spans("send reports")
        enqueued = captured.metric_points(semconv.QUEUE_ENQUEUED)
    assert caught.value is raised
    assert send.status.status_code is StatusCode.ERROR
    assert send.attributes is not None
    assert send.attributes["error.type"] == "OSError"
    assert enqueued == []


def test_odd_argument_types_never_raise() -> None:
    """A numeric queue name, an unprintable ID, a text attempt and a tuple carrier are absorbed."""

    class Unprintable:
        def __str__(self) -> str:
            raise RuntimeError("no text")

    with capture_telemetry() as captured:
        with queue.enqueue(42, ("not", "a", "dict"), item_id=Unprintable()):  # type: ignore[arg-type]
            pass
        with queue.process(42, None, item_id=Unprintable(), attempt="third") as work:  # type: ignore[arg-type]
            work.outcome = 17  # type: ignore[assignment]
        send, process = captured.spans()
    assert send.name == "send 42"
    assert send.attributes is not None
    assert "messaging.message.id" not in send.attributes
    assert process.name == "process 42"
    assert process.attributes is not None
    assert "pywats.queue.attempt" not in process.attributes
    assert process.attributes["pywats.queue.outcome"] == "failed"


def test_the_api_works_without_telemetry() -> None:
    """Before init_telemetry() the calls work and write only the enqueue time."""
    carrier: dict[str, str] = {}
    with queue.enqueue("reports", carrier, item_id="r-1") as span:
        pass
    assert not span.get_span_context().is_valid
    assert set(carrier) == {semconv.CARRIER_ENQUEUED_AT}
    with queue.process("reports", carrier) as work:
        work.outcome = "retry"
    assert work.outcome == "retry"
    traced: queue.TracedQueue[str] = queue.TracedQueue(name="offline")
    traced.put("r-1")
    assert traced.get() == "r-1"
    traced.task_done()


def test_the_decorator_processes_each_call_sync_and_async() -> None:
    """@process takes the carrier and ID from the call's arguments, for sync and async functions."""

    class Item:
        def __init__(self, item_id: str) -> None:
            self.id = item_id
            self.metadata: dict[str, str] = {}

    @queue.process("reports", carrier=lambda item: item.metadata, item_id=lambda item: item.id)
    def upload(item: Item) -> str:
        work = queue.current_work()
        assert work is not None
        work.outcome = "retry"
        return f"uploaded {item.id}"

    @queue.process("reports", carrier=lambda item: item.metadata, item_id=lambda item: item.id)
    async def upload_async(item: Item) -> str:
        await asyncio.sleep(0)
        return f"uploaded {item.id}"

    with capture_telemetry() as captured:
        first, second = Item("r-1"), Item("r-2")
        for item in (first, second):
            with queue.enqueue("reports", item.metadata, item_id=item.id):
                pass
        assert upload(first) == "uploaded r-1"
        assert asyncio.run(upload_async(second)) == "uploaded r-2"
        sends = {s.attributes["messaging.message.id"]: s for s in captured.spans("send reports")}  # type: ignore[index]
        processes = captured.spans("process reports")
    assert upload.__name__ == "upload"
    by_id = {span.attributes["messaging.message.id"]: span for span in processes}  # type: ignore[index]
    for item_id, outcome in (("r-1", "retry"), ("r-2", "success")):
        process = by_id[item_id]
        assert process.parent is not None
        assert process.parent.span_id == sends[item_id].context.span_id
        assert process.attributes is not None
        assert process.attributes["pywats.queue.outcome"] == outcome


def test_a_decorated_function_s_exception_passes_unchanged() -> None:
    """The decorator re-raises the function's own exception object, sync and async."""
    raised = UploadError("refused")

    @queue.process("reports", carrier=lambda item: item)
    def upload(item: dict[str, str]) -> None:
        raise raised

    @queue.process("reports", carrier=lambda item: item)
    async def upload_async(item: dict[str, str]) -> None:
        raise raised

    with capture_telemetry() as captured:
        with pytest.raises(UploadError) as caught:
            upload({})
        assert caught.value is raised
        with pytest.raises(UploadError) as caught_async:
            asyncio.run(upload_async({}))
        assert caught_async.value is raised
        failed = captured.metric_value(semconv.QUEUE_PROCESSED, {semconv.QUEUE_OUTCOME: "failed"})
    assert failed == 2


def test_traced_queue_links_producer_and_consumer_threads() -> None:
    """put() in one thread and get()/task_done() in another give send -> process -> work spans."""
    with capture_telemetry() as captured:
        traced: queue.TracedQueue[str] = queue.TracedQueue(name="reports")
        tracer = trace.get_tracer("test")
        results: list[str] = []

        def upload(item: str) -> None:
            with tracer.start_as_current_span(f"upload {item}"):
                if item == "r-3":
                    raise UploadError("refused")

        def consume() -> None:
            for _ in range(3):
                item = traced.get(timeout=5)
                try:
                    upload(item)
                    results.append(item)
                except UploadError:
                    traced.task_done()
                else:
                    traced.task_done()

        with tracer.start_as_current_span("scan folder") as scan:
            for item_id in ("r-1", "r-2", "r-3"):
                traced.put(item_id, item_id=item_id)
        assert (
            captured.metric_value(
                semconv.QUEUE_DEPTH, {semconv.QUEUE_NAME: "reports", semconv.QUEUE_STATE: "pending"}
            )
            == 3
        )
        consumer = threading.Thread(target=consume)
        consumer.start()
        consumer.join(10)
        traced.join()
        spans = captured.spans()
        depth = {
            attrs[semconv.QUEUE_STATE]: point.value
            for attrs, point in captured.metric_points(semconv.QUEUE_DEPTH)
            if attrs[semconv.QUEUE_NAME] == "reports"
        }
        failed = captured.metric_value(semconv.QUEUE_PROCESSED, {semconv.QUEUE_OUTCOME: "failed"})
        succeeded = captured.metric_value(
            semconv.QUEUE_PROCESSED, {semconv.QUEUE_OUTCOME: "success"}
        )
    assert results == ["r-1", "r-2"]
    by_name = {span.name: span for span in spans if span.name.startswith("upload")}
    sends = {s.attributes["messaging.message.id"]: s for s in spans if s.name == "send reports"}  # type: ignore[index]
    processes = {
        s.attributes["messaging.message.id"]: s  # type: ignore[index]
        for s in spans
        if s.name == "process reports"
    }
    for item_id in ("r-1", "r-2", "r-3"):
        send, process, upload = sends[item_id], processes[item_id], by_name[f"upload {item_id}"]
        assert send.parent is not None
        assert send.parent.span_id == scan.get_span_context().span_id
        assert process.parent is not None
        assert process.parent.span_id == send.context.span_id
        assert upload.parent is not None
        assert upload.parent.span_id == process.context.span_id
        assert upload.context.trace_id == scan.get_span_context().trace_id
    assert processes["r-3"].attributes is not None
    assert processes["r-3"].attributes["pywats.queue.outcome"] == "failed"
    assert processes["r-3"].attributes["error.type"] == "UploadError"
    assert failed == 1
    assert succeeded == 2
    assert depth == {"pending": 0, "in_progress": 0}


def test_a_get_without_task_done_ends_at_the_next_get() -> None:
    """A consumer that never calls task_done() still gets one ended span per item."""
    with capture_telemetry() as captured:
        traced: queue.TracedQueue[int] = queue.TracedQueue(name="jobs")
        for number in range(3):
            traced.put_nowait(number, item_id=number)
        assert [traced.get_nowait() for _ in range(3)] == [0, 1, 2]
        assert len(captured.spans("process jobs")) == 2
        traced.task_done(outcome="retry")
        outcomes = [s.attributes["pywats.queue.outcome"] for s in captured.spans("process jobs")]  # type: ignore[index]
    assert outcomes == ["success", "success", "retry"]
    assert not trace.get_current_span().get_span_context().is_valid


def test_async_traced_queue_links_producer_and_consumer_tasks() -> None:
    """AsyncTracedQueue: each process span is its send span's child and the task's current span."""

    async def main(captured: CapturedTelemetry) -> list[tuple[int, int | None]]:
        traced: queue.AsyncTracedQueue[str] = queue.AsyncTracedQueue(name="reports")
        seen: list[tuple[int, int | None]] = []

        async def consume() -> None:
            for _ in range(2):
                item = await traced.get()
                span = trace.get_current_span()
                seen.append((span.get_span_context().span_id, None))
                await asyncio.sleep(0)
                traced.task_done()
                assert item.startswith("r-")

        consumer = asyncio.create_task(consume())
        await traced.put("r-1", item_id="r-1")
        traced.put_nowait("r-2", item_id="r-2")
        await traced.join()
        await consumer
        return seen

    with capture_telemetry() as captured:
        seen = asyncio.run(main(captured))
        sends = {s.attributes["messaging.message.id"]: s for s in captured.spans("send reports")}  # type: ignore[index]
        processes = {
            s.attributes["messaging.message.id"]: s  # type: ignore[index]
            for s in captured.spans("process reports")
        }
    assert sorted(processes) == ["r-1", "r-2"]
    for item_id in ("r-1", "r-2"):
        parent = processes[item_id].parent
        assert parent is not None
        assert parent.span_id == sends[item_id].context.span_id
    assert sorted(span_id for span_id, _ in seen) == sorted(
        span.context.span_id for span in processes.values()
    )


def test_observe_queue_depth_reports_each_state_and_survives_a_raising_callback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Counts per state come from the callback; a raising one is left out with one warning."""

    def broken() -> dict[str, int]:
        raise RuntimeError("database locked")

    with capture_telemetry() as captured:
        undo_reports = queue.observe_queue_depth(
            "reports",
            lambda: {"pending": 3, "failed": 1, "odd": "many"},  # type: ignore[dict-item]
        )
        undo_broken = queue.observe_queue_depth("archive", broken)
        try:
            with caplog.at_level(logging.WARNING, logger="pywats_otel"):
                points = {
                    (attrs[semconv.QUEUE_NAME], attrs[semconv.QUEUE_STATE]): point.value
                    for attrs, point in captured.metric_points(semconv.QUEUE_DEPTH)
                }
                captured.metric_points(semconv.QUEUE_DEPTH)
            queue.observe_queue_depth("reports", lambda: {"pending": 5})
            replaced = captured.metric_value(
                semconv.QUEUE_DEPTH, {semconv.QUEUE_NAME: "reports", semconv.QUEUE_STATE: "pending"}
            )
        finally:
            undo_reports()
            undo_broken()
        after = captured.metric_points(semconv.QUEUE_DEPTH)
    assert points == {("reports", "pending"): 3, ("reports", "failed"): 1}
    assert replaced == 5
    # The replacing registration is not undone by the first registration's undo.
    assert [attrs[semconv.QUEUE_STATE] for attrs, _ in after] == ["pending"]
    queue.observe_queue_depth("reports", lambda: {})()
    warnings = [r for r in caplog.records if "depth callback of queue archive" in r.getMessage()]
    assert len(warnings) == 1


def test_a_carrier_written_by_another_process_continues_its_trace(tmp_path: Path) -> None:
    """A carrier persisted as JSON by one process gives the same trace ID in another."""
    carrier_file = tmp_path / "item.json"
    code = (
        "import json, sys\n"
        "from pywats_otel import init_telemetry, queue\n"
        "init_telemetry(traces_exporter='none', metrics_exporter='none', logs_exporter='none',"
        " instrumentations='none')\n"
        "metadata = {}\n"
        "with queue.enqueue('reports', metadata, item_id='r-9') as span:\n"
        f"    open({str(carrier_file)!r}, 'w').write(json.dumps({{'metadata': metadata}}))\n"
        "print(format(span.get_span_context().trace_id, '032x'))\n"
        "print(format(span.get_span_context().span_id, '016x'))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    trace_id, span_id = out.stdout.split()
    metadata = json.loads(carrier_file.read_text())["metadata"]
    with capture_telemetry() as captured:
        with queue.process("reports", metadata, item_id="r-9"):
            pass
        [process] = captured.spans("process reports")
        waited = captured.metric_value(semconv.QUEUE_WAIT_DURATION)
    assert _hex(process.context.trace_id, 32) == trace_id
    assert process.parent is not None
    assert _hex(process.parent.span_id, 16) == span_id
    assert process.parent.is_remote
    assert waited[0] == 1


def test_task_done_in_another_thread_ends_the_oldest_open_work() -> None:
    """get() in a worker thread and task_done() in the main thread still end the span once."""
    with capture_telemetry() as captured:
        traced: queue.TracedQueue[str] = queue.TracedQueue(name="handoff")
        traced.put("r-1", item_id="r-1")
        taken: list[str] = []
        worker = threading.Thread(target=lambda: taken.append(traced.get(timeout=5)))
        worker.start()
        worker.join(5)
        assert captured.spans("process handoff") == []
        traced.task_done(outcome="retry")
        traced.join()
        [process] = captured.spans("process handoff")
        retried = captured.metric_value(semconv.QUEUE_PROCESSED, {semconv.QUEUE_OUTCOME: "retry"})
    assert taken == ["r-1"]
    assert process.attributes is not None
    assert process.attributes["pywats.queue.outcome"] == "retry"
    assert retried == 1
    assert not trace.get_current_span().get_span_context().is_valid
