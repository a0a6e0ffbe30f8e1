"""The pywats instrumentation on the real pywats-api, part by part, with in-memory exporters
and a fake WATS server on 127.0.0.1: API call spans, the sync API's context and correlation
ID, the queues, the converters, logging, the service's health, turning it off and on."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import socket
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode

from pywats_otel import health, semconv
from pywats_otel.testing import CapturedTelemetry, capture_telemetry

pytestmark = pytest.mark.usefixtures("pywats_api")

UPLOAD = "WATS POST /api/Report/WSJF"


def _station() -> Any:
    from pywats.core.station import Station

    return Station(name="test-station", location="lab", purpose="test")


def _report(serial: str = "SN-TEST-1") -> Any:
    from pywats.tools.test_uut import create_minimal_test_report

    return create_minimal_test_report(serial_number=serial)


def _fast_retries() -> Any:
    from pywats.core.retry import RetryConfig

    return RetryConfig(base_delay=0.01, jitter=False)


def _dead_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _children(captured: CapturedTelemetry, parent: Any) -> list[Any]:
    return [s for s in captured.spans() if s.parent and s.parent.span_id == parent.context.span_id]


# -- the API call span ----------------------------------------------------------------------


def test_an_api_call_is_one_span_around_each_of_its_http_attempts(fake_wats: Any) -> None:
    """A GET answered 503 is retried by pyWATS: three CLIENT spans under one API call span,
    which carries the final status, and one point of pywats.api.request.duration."""
    from pywats import AsyncWATS

    fake_wats.fail_next(503, times=3)

    async def call() -> Any:
        async with AsyncWATS(
            base_url=fake_wats.url,
            token=fake_wats.token,
            station=_station(),
            retry_config=_fast_retries(),
        ) as api:
            return await api.http_client.get("/api/App/Version", cache=False)

    with capture_telemetry() as captured:
        response = asyncio.run(call())
        assert response.status_code == 503  # pyWATS returns the last answer, as without us
        [logical] = captured.spans(name="WATS GET /api/App/Version")
        attempts = _children(captured, logical)
        duration = captured.metric_value(
            semconv.PYWATS_API_REQUEST_DURATION,
            {semconv.PYWATS_API_ROUTE: "/api/App/Version", semconv.ERROR_TYPE: "503"},
        )
    assert logical.kind is SpanKind.INTERNAL
    assert logical.status.status_code is StatusCode.ERROR
    assert logical.attributes[semconv.HTTP_RESPONSE_STATUS_CODE] == 503
    assert logical.attributes[semconv.ERROR_TYPE] == "503"
    assert logical.attributes[semconv.SERVER_ADDRESS] == "127.0.0.1"
    assert [a.name for a in attempts] == ["GET", "GET", "GET"]
    assert all(a.kind is SpanKind.CLIENT for a in attempts)
    assert len(fake_wats.requests) == 3
    assert duration[0] == 1


def test_a_post_is_not_retried_and_keeps_pywats_exception(fake_wats: Any) -> None:
    """POST answered 500: one attempt, pyWATS's ValueError raised unchanged, the span failed."""
    from pywats import AsyncWATS

    fake_wats.fail_next(500)

    async def submit() -> None:
        async with AsyncWATS(
            base_url=fake_wats.url, token=fake_wats.token, station=_station()
        ) as api:
            await api.report.submit_report(_report())

    with capture_telemetry() as captured:
        with pytest.raises(ValueError, match="500"):
            asyncio.run(submit())
        [logical] = captured.spans(name=UPLOAD)
        attempts = _children(captured, logical)
    assert [a.name for a in attempts] == ["POST"]
    assert logical.attributes[semconv.ERROR_TYPE] == "500"


def test_connection_and_circuit_breaker_errors_are_named_by_their_pywats_type() -> None:
    """Refused connections raise pyWATS's ConnectionError; after five, its circuit breaker
    fails fast without an HTTP attempt. Each type is the span's error.type, fully named."""
    from pywats import AsyncWATS
    from pywats.core.circuit_breaker import CircuitBreakerOpenError
    from pywats.core.exceptions import ConnectionError as PyWATSConnectionError

    raised: list[type[BaseException]] = []

    async def calls() -> None:
        async with AsyncWATS(
            base_url=f"http://127.0.0.1:{_dead_port()}",
            token="dTpw",
            station=_station(),
            retry_enabled=False,
        ) as api:
            for _ in range(6):
                try:
                    await api.report.submit_report(_report())
                except Exception as exc:
                    raised.append(type(exc))

    with capture_telemetry() as captured:
        asyncio.run(calls())
        logical = captured.spans(name=UPLOAD)
        attempts = [len(_children(captured, span)) for span in logical]
    assert raised == [PyWATSConnectionError] * 5 + [CircuitBreakerOpenError]
    kinds = [span.attributes[semconv.ERROR_TYPE] for span in logical]
    assert kinds == ["pywats.core.exceptions.ConnectionError"] * 5 + [
        "pywats.core.circuit_breaker.CircuitBreakerOpenError"
    ]
    assert all(span.status.status_code is StatusCode.ERROR for span in logical)
    # The open breaker made no HTTP attempt: its span has no CLIENT child.
    assert attempts == [1, 1, 1, 1, 1, 0]


def test_route_templates_keep_identifiers_out_of_span_names_and_metrics() -> None:
    """Serial and part numbers in a path become {id}; known pyWATS routes stay whole."""
    from pywats_otel.instrumentation.pywats._http import route_template

    assert route_template("/api/Report/WSJF") == "/api/Report/WSJF"
    assert route_template("/api/Production/Unit/SN001/PN001") == "/api/Production/Unit/{id}/{id}"
    assert route_template("api/Product/ABC123?x=1") == "/api/Product/{id}"
    assert route_template("/api/NoSuchThing/42/7") == "/api/NoSuchThing/{id}/{id}"


# -- the sync API ---------------------------------------------------------------------------


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_the_sync_api_uses_the_trace_id_as_pywats_correlation_id_and_leaks_nothing(
    fake_wats: Any,
) -> None:
    """pyWATS's per-call correlation ID is the call's trace ID while it runs, reset after it;
    a later, unrelated root span has a trace of its own."""
    from pywats import pyWATS
    from pywats.core.logging import CorrelationFilter
    from pywats.pywats import correlation_id_var

    handler = _Records()
    handler.addFilter(CorrelationFilter())
    logger = logging.getLogger("pywats.domains.report.async_service")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        with capture_telemetry() as captured:
            api = pyWATS(base_url=fake_wats.url, token=fake_wats.token, station=_station())
            api.report.submit_report(_report())
            api.close()
            assert correlation_id_var.get() is None
            with trace.get_tracer("test").start_as_current_span("later"):
                pass
            [upload] = captured.spans(name=UPLOAD)
            [later] = captured.spans(name="later")
    finally:
        logger.removeHandler(handler)
    trace_id = format(upload.context.trace_id, "032x")
    [submitted] = [r for r in handler.records if r.getMessage().startswith("REPORT_SUBMITTED")]
    assert submitted.correlation_id == trace_id  # type: ignore[attr-defined]
    assert upload.parent is None  # the call's own trace
    assert later.context.trace_id != upload.context.trace_id
    assert fake_wats.requests[0].header("X-Correlation-ID") == trace_id


def test_a_sync_call_inside_a_span_is_its_child(fake_wats: Any) -> None:
    """Inside the caller's span the API call is its child, in the loop thread too."""
    from pywats import pyWATS

    with capture_telemetry() as captured:
        api = pyWATS(base_url=fake_wats.url, token=fake_wats.token, station=_station())
        with trace.get_tracer("test").start_as_current_span("station work") as work:
            api.report.submit_report(_report())
        api.close()
        [upload] = captured.spans(name=UPLOAD)
    assert upload.parent is not None
    assert upload.parent.span_id == work.get_span_context().span_id


def test_a_sync_call_from_inside_a_running_loop_keeps_the_callers_trace(fake_wats: Any) -> None:
    """pyWATS runs it in a worker thread that loses every ContextVar; the trace goes along."""
    from pywats import pyWATS

    async def station() -> None:
        api = pyWATS(base_url=fake_wats.url, token=fake_wats.token, station=_station())
        with trace.get_tracer("test").start_as_current_span("inside a loop"):
            api.report.submit_report(_report())

    with capture_telemetry() as captured:
        asyncio.run(station())
        [caller] = captured.spans(name="inside a loop")
        [upload] = captured.spans(name=UPLOAD)
    assert upload.parent is not None
    assert upload.parent.span_id == caller.context.span_id
    traceparent = fake_wats.requests[0].header("traceparent")
    assert traceparent.split("-")[1] == format(caller.context.trace_id, "032x")


# -- queues ---------------------------------------------------------------------------------


def test_a_queued_item_carries_its_trace_and_keeps_pywats_metadata_semantics() -> None:
    """add() writes the carrier into the item's metadata; an empty dict is still replaced and
    a non-empty one still kept, as pyWATS does."""
    from pywats.queue import MemoryQueue

    with capture_telemetry() as captured:
        queue = MemoryQueue()
        empty, full = {}, {"file": "a.json"}
        first = queue.add("x", metadata=empty)
        second = queue.add("y", metadata=full)
        sends = captured.spans(name="send memory")
        enqueued = captured.metric_value(semconv.QUEUE_ENQUEUED, {semconv.QUEUE_NAME: "memory"})
    assert first.metadata is not empty
    assert empty == {}
    assert second.metadata is full
    assert full["file"] == "a.json"
    for item, span in zip((first, second), sends, strict=True):
        assert item.metadata["traceparent"].split("-")[2] == format(span.context.span_id, "016x")
        assert span.kind is SpanKind.PRODUCER
        assert span.attributes[semconv.MESSAGING_MESSAGE_ID] == item.id
    assert enqueued == 2


def test_processing_is_one_consumer_span_from_mark_processing_to_the_mark(fake_wats: Any) -> None:
    """The span is current between mark_processing() and mark_failed(), so the upload is its
    child; its outcome comes from the mark."""
    from pywats import pyWATS
    from pywats.queue import MemoryQueue

    with capture_telemetry() as captured:
        queue = MemoryQueue()
        queue.add(_report())
        api = pyWATS(base_url=fake_wats.url, token=fake_wats.token, station=_station())
        item = queue.get_next()
        item.mark_processing()
        queue.update(item)
        api.report.submit_report(item.data)
        item.mark_failed("the operator said so")
        queue.update(item)
        api.close()
        [process] = captured.spans(name="process memory")
        [send] = captured.spans(name="send memory")
        [upload] = captured.spans(name=UPLOAD)
        failed = captured.metric_value(
            semconv.QUEUE_PROCESSED,
            {semconv.QUEUE_NAME: "memory", semconv.QUEUE_OUTCOME: "failed"},
        )
    assert process.parent.span_id == send.context.span_id
    assert upload.parent.span_id == process.context.span_id
    assert process.attributes[semconv.QUEUE_OUTCOME] == "failed"
    assert process.status.description == "marked failed: the operator said so"
    assert process.attributes[semconv.QUEUE_ATTEMPT] == 1
    assert failed == 1
    assert trace.get_current_span() is trace.INVALID_SPAN  # nothing left attached


def test_a_span_the_loop_never_ends_ends_at_the_next_item_or_when_collected() -> None:
    """A loop that forgets to mark an item: its span ends when the loop takes the next one,
    or when the item is garbage; the outcome says what the item's status says."""
    from pywats.queue import MemoryQueue
    from pywats.shared.enums import QueueItemStatus

    with capture_telemetry() as captured:
        queue = MemoryQueue()
        queue.add("a")
        queue.add("b")
        first = queue.get_next()
        first.mark_processing()
        first.status = QueueItemStatus.COMPLETED  # set by hand, not by mark_completed()
        second = queue.get_next()
        second.mark_processing()  # the loop moved on
        [ended] = captured.spans(name="process memory")
        assert ended.attributes[semconv.QUEUE_OUTCOME] == "success"
        assert ended.attributes[semconv.MESSAGING_MESSAGE_ID] == first.id
        queue.remove(second.id)
        del second
        gc.collect()
        processed = captured.spans(name="process memory")
    assert len(processed) == 2
    assert processed[1].attributes[semconv.QUEUE_OUTCOME] == "failed"
    assert processed[1].status.description == "the item was dropped"


def test_queue_depth_by_state_is_read_at_collection(tmp_path: Path) -> None:
    """pywats.queue.depth of a PersistentQueue per QueueItemStatus, named after its folder."""
    from pywats_client.queue.persistent_queue import PersistentQueue

    with capture_telemetry() as captured:
        queue = PersistentQueue(tmp_path / "reports")
        for serial in ("a", "b", "c"):
            queue.add({"sn": serial})
        item = queue.get_next()
        item.mark_processing()
        queue.update(item)

        def depth(state: str) -> Any:
            return captured.metric_value(
                semconv.QUEUE_DEPTH, {semconv.QUEUE_NAME: "reports", semconv.QUEUE_STATE: state}
            )

        assert (depth("pending"), depth("processing"), depth("completed")) == (2, 1, 0)
        item.mark_completed()
        queue.update(item)
        assert (depth("pending"), depth("processing"), depth("completed")) == (2, 0, 1)


# -- converters ------------------------------------------------------------------------------


def _wsjf_file(folder: Path, name: str = "uut.json") -> Path:
    report = _report()
    path = folder / name
    path.write_text(
        json.dumps(report.model_dump(mode="json", by_alias=True, exclude_none=True)),
        encoding="utf-8",
    )
    return path


def test_a_converter_run_is_one_span_with_the_status_of_its_result(tmp_path: Path) -> None:
    """pyWATS's converter returns a failed result for bad input: the span says failed; a
    subclass defined later and calling super().convert() makes one span, not two."""
    from pywats_client.converters.context import ConverterContext
    from pywats_client.converters.models import ConverterSource
    from pywats_client.converters.standard.wats_standard_json_converter import (
        WATSStandardJsonConverter,
    )

    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    with capture_telemetry() as captured:

        class Station7Converter(WATSStandardJsonConverter):
            def convert(self, source: Any, context: Any) -> Any:
                return super().convert(source, context)

        good = Station7Converter().convert(
            ConverterSource.from_file(_wsjf_file(tmp_path)), ConverterContext()
        )
        failed = WATSStandardJsonConverter().convert(
            ConverterSource.from_file(bad), ConverterContext()
        )
        spans = captured.spans()
        executions = captured.metric_value(
            semconv.CONVERTER_EXECUTIONS,
            {
                semconv.CONVERTER_NAME: "WATS Standard JSON Format Converter",
                semconv.CONVERTER_STATUS: "failed",
            },
        )
    assert good.status.value == "success"
    assert failed.status.value == "failed"
    assert [s.name for s in spans] == [
        "convert WATS Standard JSON Format Converter",
        "convert WATS Standard JSON Format Converter",
    ]
    assert spans[0].attributes[semconv.CONVERTER_STATUS] == "success"
    assert spans[0].attributes[semconv.CONVERTER_FILE_NAME] == "uut.json"
    assert semconv.CONVERTER_FILE_PATH not in spans[0].attributes  # no full path by default
    assert spans[1].attributes[semconv.CONVERTER_STATUS] == "failed"
    assert spans[1].status.status_code is StatusCode.ERROR
    assert executions == 1


# -- logging --------------------------------------------------------------------------------


def test_pywats_logging_set_up_after_init_keeps_the_log_export_and_writes_trace_ids() -> None:
    """configure_logging() clears the root's handlers; pywats_otel's comes back, and pyWATS's
    CorrelationFilter writes the trace ID inside a span, its own placeholder outside."""
    from pywats.core.logging import configure_logging

    stream = _Records()
    with capture_telemetry() as captured:
        configure_logging(level="INFO", handlers=[stream])
        logger = logging.getLogger("pywats.station")
        with trace.get_tracer("test").start_as_current_span("work") as span:
            logger.info("inside")
        logger.info("outside")
        records = captured.log_records()
    assert [r.log_record.body for r in records if r.log_record.body in ("inside", "outside")] == [
        "inside",
        "outside",
    ]
    inside, outside = (r for r in stream.records if r.getMessage() in ("inside", "outside"))
    assert inside.correlation_id == format(span.get_span_context().trace_id, "032x")  # type: ignore[attr-defined]
    assert outside.correlation_id == "--------"  # type: ignore[attr-defined]


# -- the service's health -------------------------------------------------------------------


def test_the_pywats_health_server_check_is_part_of_pywats_otels_health() -> None:
    """While pyWATS's HealthServer runs, /health includes its health check (non-critical)."""
    from pywats_client.service.health_server import HealthServer, HealthStatus

    with capture_telemetry():
        server = HealthServer(port=0, host="127.0.0.1")
        server.set_health_check(
            lambda: HealthStatus(healthy=False, status="stopping", details={"queue": 3})
        )
        assert server.start()
        report = health.check_health(max_age_s=0)
        [check] = [c for c in report.checks if c.name == "pywats-service"]
    assert check.status == "fail"
    assert check.critical is False
    assert check.message == "pyWATS: stopping (queue=3)"
    assert report.status == "degraded"


# -- on and off -----------------------------------------------------------------------------


def test_the_instrumentor_is_an_entry_point_for_the_installed_pre_release() -> None:
    """opentelemetry-instrument finds it; 0.6.0rc1 satisfies its requirement."""
    import importlib.metadata

    from pywats_otel.instrumentation.pywats import PyWATSInstrumentor

    [entry] = [
        e
        for e in importlib.metadata.entry_points(group="opentelemetry_instrumentor")
        if e.name == "pywats"
    ]
    assert entry.load() is PyWATSInstrumentor
    assert PyWATSInstrumentor().instrumentation_dependencies() == ("pywats-api >= 0.6.0rc1, < 0.7",)
    assert PyWATSInstrumentor()._check_dependency_conflicts() is None


def test_disabled_by_name_and_undone_at_shutdown_leaving_pywats_as_it_was(
    monkeypatch: pytest.MonkeyPatch, fake_wats: Any
) -> None:
    """OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=pywats: no pyWATS span; after a shutdown every
    pyWATS function is its own again."""
    import pywats.pywats
    from pywats import pyWATS
    from pywats.core.async_client import AsyncHttpClient
    from pywats.queue.memory_queue import MemoryQueue, QueueItem

    originals = (
        AsyncHttpClient.__dict__["_make_request"],
        pywats.pywats._run_sync,
        MemoryQueue.__dict__["add"],
        QueueItem.__dict__["mark_processing"],
    )
    with capture_telemetry() as captured:
        assert "pywats" in captured.telemetry.instrumentations
        assert AsyncHttpClient.__dict__["_make_request"] is not originals[0]
    after = (
        AsyncHttpClient.__dict__["_make_request"],
        pywats.pywats._run_sync,
        MemoryQueue.__dict__["add"],
        QueueItem.__dict__["mark_processing"],
    )
    assert after == originals
    monkeypatch.setenv("OTEL_PYTHON_DISABLED_INSTRUMENTATIONS", "pywats")
    with capture_telemetry() as captured:
        api = pyWATS(base_url=fake_wats.url, token=fake_wats.token, station=_station())
        api.report.submit_report(_report())
        api.close()
        names = [s.name for s in captured.spans()]
        assert "pywats" not in captured.telemetry.instrumentations
    assert names == ["POST"]  # httpx's span only


def test_the_legacy_error_counter_is_opt_in_with_pywats_own_labels() -> None:
    """pywats_legacy_metrics adds pywats_errors_total{error_type,operation}, nothing else."""
    from pywats import AsyncWATS

    async def refused() -> None:
        async with AsyncWATS(
            base_url=f"http://127.0.0.1:{_dead_port()}",
            token="dTpw",
            station=_station(),
            retry_enabled=False,
        ) as api:
            with pytest.raises(Exception, match="onnect"):
                await api.report.submit_report(_report())

    labels = {
        semconv.PYWATS_LEGACY_ERROR_TYPE: "pywats.core.exceptions.ConnectionError",
        semconv.PYWATS_LEGACY_OPERATION: "POST /api/Report/WSJF",
    }
    with capture_telemetry() as captured:
        asyncio.run(refused())
        assert captured.metric_value(semconv.PYWATS_LEGACY_ERRORS, labels) is None
    with capture_telemetry(pywats_legacy_metrics=True) as captured:
        asyncio.run(refused())
        assert captured.metric_value(semconv.PYWATS_LEGACY_ERRORS, labels) == 1


def test_a_scheduled_converter_run_is_one_span_counting_its_results() -> None:
    """ScheduledConverter.run (async, abstract): each subclass's run is a convert span, failed
    when one of its results failed, records the number of results."""
    from datetime import timedelta

    from pywats_client.converters.context import ConverterContext
    from pywats_client.converters.models import ConverterResult
    from pywats_client.converters.scheduled_converter import ScheduledConverter

    with capture_telemetry() as captured:

        class Nightly(ScheduledConverter):
            @property
            def name(self) -> str:
                return "nightly-db"

            @property
            def schedule_interval(self) -> timedelta:
                return timedelta(hours=24)

            async def run(self, context: Any) -> list[Any]:
                return [
                    ConverterResult.success_result(report=None),
                    ConverterResult.failed_result(error="row 7 is corrupt"),
                ]

        results = asyncio.run(Nightly().run(ConverterContext()))
        [span] = captured.spans(name="convert nightly-db")
    assert len(results) == 2
    assert span.attributes[semconv.CONVERTER_RECORDS] == 2
    assert span.attributes[semconv.CONVERTER_STATUS] == "failed"


def test_without_pyside6_the_client_half_is_skipped_with_one_info_line(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, fake_wats: Any
) -> None:
    """Where pywats_client cannot be imported, pywats is still traced and one INFO says why."""
    import pywats_client.queue.persistent_queue as persistent
    from pywats import pyWATS

    from pywats_otel.instrumentation import pywats as instrumentation

    monkeypatch.setattr(
        instrumentation, "_client_importable", lambda: "pywats_client imports PySide6, which..."
    )
    with caplog.at_level(logging.INFO, logger="pywats_otel"), capture_telemetry() as captured:
        api = pyWATS(base_url=fake_wats.url, token=fake_wats.token, station=_station())
        api.report.submit_report(_report())
        api.close()
        persistent_add = persistent.PersistentQueue.__dict__["add"]
        [upload] = captured.spans(name=UPLOAD)
    lines = [r.getMessage() for r in caplog.records if "covers pywats only" in r.getMessage()]
    assert lines == [
        "pywats_otel: pywats_client imports PySide6, which...; the pywats instrumentation covers "
        "pywats only (not PersistentQueue, the converters or the client service)"
    ]
    assert not hasattr(persistent_add, "__wrapped__")  # the client half left alone
    assert upload.attributes[semconv.HTTP_RESPONSE_STATUS_CODE] == 200
