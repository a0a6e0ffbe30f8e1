"""A forked child's telemetry, over real OTLP receivers: its own process.pid, the parent's
queued spans sent once, its metrics counted from zero, and no hang while the parent exports."""

from __future__ import annotations

import collections
import multiprocessing
import os
import threading
from typing import Any

import pytest
from opentelemetry import metrics, trace

from pywats_otel import init_telemetry, semconv
from pywats_otel.testing.otlp import OTLPReceiver

PROTOCOLS = ["grpc", "http/protobuf"]
FORK = multiprocessing.get_context("fork")


def _child(index: int) -> None:
    tracer = trace.get_tracer("station.child")
    for step in range(10):
        with tracer.start_as_current_span(f"child-{index}", attributes={"step": step}):
            pass
    metrics.get_meter("station").create_counter("station.reports").add(1)
    # Returns: multiprocessing ends the child with os._exit(), skipping atexit.


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_forked_childs_spans_and_metrics_are_its_own_and_nothing_is_sent_twice(
    protocol: str,
) -> None:
    with OTLPReceiver(protocol) as receiver:
        telemetry = init_telemetry(
            service_name="forking-station",
            otlp_endpoint=receiver.endpoint,
            otlp_protocol=protocol,
            metrics_exporter="otlp",
            logs_exporter="none",
            prometheus_port=0,
            instrumentations="none",
        )
        tracer = trace.get_tracer("station")
        reports = metrics.get_meter("station").create_counter("station.reports")
        reports.add(5)
        with tracer.start_as_current_span("parent-before"):
            pass  # queued (the batch delay is 5 s) when the child is forked
        child = FORK.Process(target=_child, args=(0,))
        child.start()
        child.join(60)
        with tracer.start_as_current_span("parent-after"):
            pass
        assert telemetry.force_flush(timeout_s=10)
        assert receiver.wait_for(lambda r: len(r.spans) >= 12, timeout_s=30)
        telemetry.shutdown(timeout_s=5)
        spans, received_metrics = receiver.spans, receiver.metrics
    assert child.exitcode == 0
    names = collections.Counter(span.name for span in spans)
    assert names == {"parent-before": 1, "parent-after": 1, "child-0": 10}
    parent_pid = os.getpid()
    for span in spans:
        resource = span.resource
        if span.name == "child-0":
            assert resource[semconv.PROCESS_PID] == child.pid
            assert resource[semconv.PROCESS_PARENT_PID] == parent_pid
        else:
            assert resource[semconv.PROCESS_PID] == parent_pid
        assert resource[semconv.SERVICE_NAME] == "forking-station"
    counted = {
        metric.resource[semconv.PROCESS_PID]: [value for _, value in metric.points]
        for metric in received_metrics
        if metric.name == "station.reports"
    }
    # The child's counter starts from zero: the parent's 5 are the parent's.
    assert counted[child.pid] == [1]
    assert counted[parent_pid][-1:] == [5]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_children_forked_while_the_parent_exports_neither_hang_nor_lose_spans(
    protocol: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The parent exports all the time (small batches, 5 ms delay) while forking children: a
    child forked in the middle of an export inherited its locks held and hung (1 or 2 of 8
    with gRPC)."""
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "5")
    monkeypatch.setenv("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "16")
    with OTLPReceiver(protocol) as receiver:
        telemetry = init_telemetry(
            otlp_endpoint=receiver.endpoint,
            otlp_protocol=protocol,
            metrics_exporter="none",
            logs_exporter="none",
            instrumentations="none",
        )
        stop = threading.Event()

        def busy_parent() -> None:
            tracer = trace.get_tracer("station")
            while not stop.is_set():
                with tracer.start_as_current_span("parent-busy"):
                    pass

        worker = threading.Thread(target=busy_parent, daemon=True)
        worker.start()
        children: list[Any] = []
        try:
            for index in range(6):
                child = FORK.Process(target=_child, args=(index,))
                child.start()
                children.append(child)
            for child in children:
                child.join(60)
        finally:
            stop.set()
            worker.join(10)
            hung = [child for child in children if child.is_alive()]
            for child in hung:
                child.kill()
        assert hung == []
        assert receiver.wait_for(
            lambda r: sum(1 for s in r.spans if s.name.startswith("child-")) >= 60, timeout_s=30
        )
        telemetry.shutdown(timeout_s=5)
        spans = receiver.spans
    assert [child.exitcode for child in children] == [0] * 6
    by_child = collections.Counter(
        (span.name, span.resource[semconv.PROCESS_PID])
        for span in spans
        if span.name.startswith("child-")
    )
    assert by_child == {(f"child-{i}", child.pid): 10 for i, child in enumerate(children)}
