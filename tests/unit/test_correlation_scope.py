"""correlation_scope() adopts an incoming correlation or starts one; correlation_id_factory()."""

from __future__ import annotations

import logging
import threading
from typing import Any

import pytest
from opentelemetry import baggage, trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from pywats_otel import correlation, semconv
from pywats_otel.correlation import (
    correlation_id_factory,
    correlation_scope,
    current_correlation_id,
    header_name,
)
from pywats_otel.testing import capture_telemetry

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
PARENT_ID = "b7ad6b7169203331"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_ID}-01"
HEADER_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


def hex_trace(span: ReadableSpan | trace.Span) -> str:
    context = span.get_span_context()
    assert context is not None
    return format(context.trace_id, "032x")


def scope_span(spans: list[ReadableSpan]) -> ReadableSpan:
    [span] = [span for span in spans if span.name == semconv.SPAN_CORRELATION_SCOPE]
    return span


def test_an_incoming_traceparent_is_adopted() -> None:
    """The scope's span is a child of the incoming parent: same trace ID, parent span ID kept."""
    with capture_telemetry() as captured:
        with correlation_scope({"traceparent": TRACEPARENT}) as scope:
            inside = current_correlation_id()
        span = scope_span(captured.spans())
    assert scope.correlation_id == TRACE_ID
    assert inside == TRACE_ID
    assert hex_trace(span) == TRACE_ID
    assert span.parent is not None
    assert span.parent.is_remote
    assert format(span.parent.span_id, "016x") == PARENT_ID
    assert scope.span_id == format(span.context.span_id, "016x")
    assert scope.origin == "traceparent"
    assert scope.incoming_id is None
    assert span.attributes == {semconv.CORRELATION_ORIGIN: "traceparent"}
    assert span.kind is SpanKind.INTERNAL


def test_an_incoming_32_hex_correlation_header_becomes_the_trace_id_of_a_root_span() -> None:
    """X-Correlation-ID of 32 hex digits is the trace ID; no parent span ID is made up."""
    logger = logging.getLogger("tests.scope")
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logger.addHandler(handler)
    try:
        with capture_telemetry() as captured:
            with correlation_scope({"X-Correlation-ID": HEADER_ID}) as scope:
                logger.warning("job started")
            span = scope_span(captured.spans())
    finally:
        logger.removeHandler(handler)
    assert scope.correlation_id == HEADER_ID
    assert hex_trace(span) == HEADER_ID
    assert span.parent is None
    assert scope.origin == "correlation_header"
    assert span.attributes == {semconv.CORRELATION_ORIGIN: "correlation_header"}
    flags = span.context.trace_flags
    assert flags.sampled  # the root sampler (always_on here) decided
    assert not flags.random_trace_id  # an ID from a header is not known to be random
    [record] = records
    assert record.correlation_id == HEADER_ID
    assert record.span_id == scope.span_id


def test_the_header_lookup_ignores_case_and_the_value_is_lowered() -> None:
    """Header names match in any letter case; an upper-case hex ID gives the lower-case trace ID."""
    with (
        capture_telemetry(),
        correlation_scope({"x-CORRELATION-id": HEADER_ID.upper()}) as scope,
    ):
        pass
    assert scope.correlation_id == HEADER_ID
    assert scope.origin == "correlation_header"


def test_another_correlation_value_is_kept_as_an_attribute_and_a_new_trace_starts() -> None:
    """A non-hex correlation header starts a new trace and is kept in an attribute."""
    with capture_telemetry() as captured:
        with correlation_scope({"X-Correlation-ID": "a1b2c3d4"}) as scope:
            pass
        span = scope_span(captured.spans())
    assert scope.origin == "new"
    assert scope.incoming_id == "a1b2c3d4"
    assert span.parent is None
    assert hex_trace(span) == scope.correlation_id
    assert len(scope.correlation_id) == 32
    assert span.attributes == {
        semconv.CORRELATION_ORIGIN: "new",
        semconv.CORRELATION_INCOMING_ID: "a1b2c3d4",
    }


@pytest.mark.parametrize("value", ["0" * 32, "0af7651916cd43dd8448eb211c80319", "g" * 32, " "])
def test_values_that_are_no_trace_id_start_a_new_trace(value: str) -> None:
    """All zeros, 31 digits, non-hex and blank values never become the trace ID."""
    with capture_telemetry(), correlation_scope({"X-Correlation-ID": value}) as scope:
        pass
    assert scope.origin == "new"
    assert scope.correlation_id not in ("0" * 32, value)
    assert scope.incoming_id == (value.strip() or None)


def test_a_long_incoming_value_is_cut_in_the_attribute() -> None:
    """An incoming value is untrusted input: the attribute keeps its first 128 characters."""
    with capture_telemetry() as captured:
        with correlation_scope({"X-Correlation-ID": "x" * 5000}):
            pass
        span = scope_span(captured.spans())
    assert span.attributes is not None
    assert span.attributes[semconv.CORRELATION_INCOMING_ID] == "x" * 128


def test_traceparent_wins_over_the_correlation_header_which_is_kept() -> None:
    """With both headers the traceparent decides; a different correlation value is kept."""
    with capture_telemetry() as captured:
        headers = {"traceparent": TRACEPARENT, "X-Correlation-ID": "legacy-7"}
        with correlation_scope(headers) as scope:
            pass
        span = scope_span(captured.spans())
    assert scope.correlation_id == TRACE_ID
    assert scope.incoming_id == "legacy-7"
    assert span.attributes is not None
    assert span.attributes[semconv.CORRELATION_INCOMING_ID] == "legacy-7"


def test_a_correlation_header_equal_to_the_traceparent_trace_id_is_not_repeated() -> None:
    """A correlation header that is the adopted trace ID adds no attribute."""
    with capture_telemetry():
        headers = {"traceparent": TRACEPARENT, "X-Correlation-ID": TRACE_ID.upper()}
        with correlation_scope(headers) as scope:
            pass
    assert scope.incoming_id is None


def test_the_configured_header_name_is_the_one_read() -> None:
    """correlation_header=X-Request-ID reads that header and ignores X-Correlation-ID."""
    with capture_telemetry(correlation_header="X-Request-ID"):
        assert header_name() == "X-Request-ID"
        with correlation_scope({"x-request-id": HEADER_ID}) as adopted:
            pass
        with correlation_scope({"X-Correlation-ID": HEADER_ID}) as ignored:
            pass
    assert adopted.correlation_id == HEADER_ID
    assert ignored.correlation_id != HEADER_ID
    assert ignored.incoming_id is None


def test_header_name_defaults_to_x_correlation_id() -> None:
    """Before init_telemetry() and by default the header is X-Correlation-ID."""
    assert header_name() == "X-Correlation-ID"
    with capture_telemetry():
        assert header_name() == "X-Correlation-ID"


def test_without_incoming_ids_a_scope_starts_a_new_trace() -> None:
    """No headers and no span: a new root span with a fresh trace ID."""
    with capture_telemetry() as captured:
        with correlation_scope(name="watch folder event") as first:
            pass
        with correlation_scope(name="watch folder event") as second:
            pass
        spans = captured.spans("watch folder event")
    assert [span.parent for span in spans] == [None, None]
    assert [hex_trace(span) for span in spans] == [first.correlation_id, second.correlation_id]
    assert first.correlation_id != second.correlation_id
    assert first.origin == second.origin == "new"


def test_inside_a_span_a_scope_continues_its_trace_unless_asked_for_a_new_one() -> None:
    """A scope in an active span is its child; new_trace=True starts a root instead."""
    with capture_telemetry() as captured:
        with trace.get_tracer("test").start_as_current_span("request") as request:
            with correlation_scope(name="nested") as nested:
                pass
            with correlation_scope(name="detached", new_trace=True) as detached:
                pass
            after = current_correlation_id()
        spans = {span.name: span for span in captured.spans()}
    assert nested.origin == "active_span"
    assert nested.correlation_id == hex_trace(request)
    assert spans["nested"].parent is not None
    assert spans["nested"].parent.span_id == request.get_span_context().span_id
    assert detached.origin == "new"
    assert detached.correlation_id != hex_trace(request)
    assert spans["detached"].parent is None
    assert after == hex_trace(request)  # leaving the scope restores the request's context


def test_a_malformed_traceparent_is_ignored() -> None:
    """An invalid traceparent is no parent: a new trace starts."""
    with capture_telemetry() as captured:
        with correlation_scope({"traceparent": "00-xyz-123-01"}) as scope:
            pass
        span = scope_span(captured.spans())
    assert scope.origin == "new"
    assert span.parent is None


def test_incoming_baggage_is_available_inside_the_scope() -> None:
    """The global propagator extracts baggage with the traceparent."""
    with capture_telemetry():
        headers = {"traceparent": TRACEPARENT, "baggage": "station=7"}
        with correlation_scope(headers):
            inside = baggage.get_baggage("station")
        outside = baggage.get_baggage("station")
    assert inside == "7"
    assert outside is None


def test_name_kind_and_attributes_are_the_callers() -> None:
    """name, kind and attributes go to the span."""
    with capture_telemetry() as captured:
        with correlation_scope(
            {"traceparent": TRACEPARENT},
            name="handle request",
            kind=SpanKind.SERVER,
            attributes={"station.id": "7"},
        ):
            pass
        [span] = captured.spans("handle request")
    assert span.kind is SpanKind.SERVER
    assert span.attributes == {"station.id": "7", semconv.CORRELATION_ORIGIN: "traceparent"}


def test_an_exception_in_the_scope_fails_the_span_and_goes_on_unchanged() -> None:
    """The caller's exception is re-raised as is; the span records it with status ERROR."""
    error = KeyError("report-9")
    with capture_telemetry() as captured:
        with pytest.raises(KeyError) as raised, correlation_scope():
            raise error
        span = scope_span(captured.spans())
        after = current_correlation_id()
    assert raised.value is error
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes is not None
    assert span.attributes[semconv.ERROR_TYPE] == "KeyError"
    assert [event.name for event in span.events] == ["exception"]
    assert after == ""


def test_unsampled_traces_still_adopt_the_correlation_id() -> None:
    """With a sampler that keeps nothing the scope still has the incoming trace ID."""
    with capture_telemetry(sampler="always_off") as captured:
        with correlation_scope({"X-Correlation-ID": HEADER_ID}) as scope:
            inside = current_correlation_id()
        spans = captured.spans()
    assert scope.correlation_id == inside == HEADER_ID
    assert not scope.span.is_recording()
    assert spans == []


def test_traceidratio_sampling_of_an_adopted_id_follows_the_trace_id() -> None:
    """Ratio sampling decides on the adopted trace ID, as every service that sees it does."""
    high = "ffffffffffffffffffffffffffffffff"  # lower 64 bits above any ratio bound
    low = "00000000000000000000000000000001"
    with capture_telemetry(sampler="traceidratio", sampler_arg=0.5):
        with correlation_scope({"X-Correlation-ID": high}) as dropped:
            pass
        with correlation_scope({"X-Correlation-ID": low}) as kept:
            pass
    assert dropped.correlation_id == high
    assert not dropped.span.get_span_context().trace_flags.sampled
    assert kept.correlation_id == low
    assert kept.span.get_span_context().trace_flags.sampled


# -- telemetry off or not initialised -----------------------------------------------------------


def test_without_telemetry_a_scope_still_has_a_correlation_id_for_logs() -> None:
    """No SDK: the scope makes a non-recording span so that its records carry an ID."""
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    handler.addFilter(correlation.CorrelationFilter())
    logger = logging.getLogger("tests.nosdk")
    logger.addHandler(handler)
    try:
        with correlation_scope() as scope:
            inside = current_correlation_id()
            logger.warning("job")
    finally:
        logger.removeHandler(handler)
    assert len(scope.correlation_id) == 32
    assert inside == scope.correlation_id
    assert not scope.span.is_recording()
    assert not scope.span.get_span_context().trace_flags.sampled
    assert [record.correlation_id for record in records] == [scope.correlation_id]
    assert current_correlation_id() == ""


@pytest.mark.parametrize(
    ("headers", "expected"),
    [({"traceparent": TRACEPARENT}, TRACE_ID), ({"X-Correlation-ID": HEADER_ID}, HEADER_ID)],
)
def test_without_telemetry_incoming_ids_are_adopted(headers: dict[str, str], expected: str) -> None:
    """No SDK: an incoming traceparent or hex header is still the correlation ID."""
    with correlation_scope(headers) as scope:
        inside = current_correlation_id()
    assert scope.correlation_id == inside == expected


def test_with_disabled_telemetry_scopes_work_and_record_nothing() -> None:
    """enabled=false: the scope has an ID and costs no span."""
    from pywats_otel import init_telemetry

    init_telemetry(enabled=False)
    with correlation_scope({"X-Correlation-ID": HEADER_ID}) as scope:
        pass
    assert scope.correlation_id == HEADER_ID
    assert not scope.span.is_recording()


def test_a_tracer_provider_without_our_id_generator_keeps_the_header_as_attribute() -> None:
    """A program's own TracerProvider picks its trace ID; the header value is kept."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    with correlation_scope({"X-Correlation-ID": HEADER_ID}) as scope:
        pass
    [span] = exporter.get_finished_spans()
    assert scope.correlation_id == hex_trace(span) != HEADER_ID
    assert scope.incoming_id == HEADER_ID
    assert span.attributes is not None
    assert span.attributes[semconv.CORRELATION_INCOMING_ID] == HEADER_ID
    provider.shutdown()


def test_a_tracer_provider_with_our_id_generator_adopts_the_header() -> None:
    """CorrelationIdGenerator gives a program's own TracerProvider the same behaviour."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(id_generator=correlation.CorrelationIdGenerator())
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    with correlation_scope({"X-Correlation-ID": HEADER_ID}) as scope:
        pass
    [span] = exporter.get_finished_spans()
    assert scope.correlation_id == hex_trace(span) == HEADER_ID
    assert span.parent is None
    provider.shutdown()


def test_a_scope_whose_start_fails_yields_the_current_ids_and_runs_the_body(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A bug in the scope costs the span, not the job: the body runs, one warning is logged."""

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("bug")

    monkeypatch.setattr(correlation, "_plan", broken)
    ran = []
    with capture_telemetry():
        for _ in range(3):
            with correlation_scope() as scope:
                ran.append(scope.correlation_id)
    assert ran == ["", "", ""]
    warnings = [r for r in caplog.records if "correlation_scope() failed" in r.getMessage()]
    assert len(warnings) == 1


# -- correlation_id_factory() -----------------------------------------------------------------


def test_the_factory_returns_the_active_trace_id() -> None:
    """Inside a span the factory gives that span's trace ID."""
    with capture_telemetry(), trace.get_tracer("test").start_as_current_span("upload") as span:
        assert correlation_id_factory() == hex_trace(span)
        assert correlation_id_factory() == hex_trace(span)


def test_outside_a_span_the_factory_starts_the_trace_that_the_next_spans_take() -> None:
    """The ID it returns outside a span becomes the trace ID of the root spans that follow."""
    with capture_telemetry() as captured:
        tracer = trace.get_tracer("test")
        first = correlation_id_factory()
        with tracer.start_as_current_span("upload"):
            pass
        with tracer.start_as_current_span("upload retry"):
            pass
        second = correlation_id_factory()
        with tracer.start_as_current_span("next operation"):
            pass
        spans = {span.name: span for span in captured.spans()}
    assert len(first) == 32
    assert first != second
    assert hex_trace(spans["upload"]) == hex_trace(spans["upload retry"]) == first
    assert spans["upload"].parent is None
    assert spans["upload retry"].parent is None
    assert hex_trace(spans["next operation"]) == second


def test_the_factory_keeps_each_context_to_itself() -> None:
    """An ID made in one thread does not leak into a thread that made its own."""
    with capture_telemetry() as captured:
        tracer = trace.get_tracer("test")
        made_in_thread: list[str] = []

        def operation() -> None:
            made_in_thread.append(correlation_id_factory())
            with tracer.start_as_current_span("in thread"):
                pass

        main = correlation_id_factory()
        worker = threading.Thread(target=operation)
        worker.start()
        worker.join()
        with tracer.start_as_current_span("in main"):
            pass
        spans = {span.name: span for span in captured.spans()}
    [in_thread] = made_in_thread
    assert in_thread != main
    assert hex_trace(spans["in thread"]) == in_thread
    assert hex_trace(spans["in main"]) == main


def test_a_trace_id_from_the_factory_reaches_threads_started_after_it() -> None:
    """Through the threading instrumentation a thread's root span takes the pending ID."""
    with capture_telemetry() as captured:
        pending = correlation_id_factory()
        worker = threading.Thread(
            target=lambda: trace.get_tracer("test").start_span("in thread").end()
        )
        worker.start()
        worker.join()
        [span] = captured.spans("in thread")
    assert hex_trace(span) == pending


def test_the_factory_without_telemetry_returns_fresh_ids() -> None:
    """Not initialised: a new 32-hex ID per call, for pyWATS to log as before."""
    ids = {correlation_id_factory() for _ in range(50)}
    assert len(ids) == 50
    assert all(len(value) == 32 and int(value, 16) for value in ids)
    assert current_correlation_id() == ""


def test_a_scope_in_a_context_with_a_pending_id_takes_it() -> None:
    """A scope started after the factory, outside any span, continues that correlation."""
    with capture_telemetry():
        pending = correlation_id_factory()
        with correlation_scope() as scope:
            pass
        with correlation_scope(new_trace=True) as fresh:
            pass
    assert scope.correlation_id == pending
    assert fresh.correlation_id != pending
