"""pywats_otel._base.w3c writes and reads what the global propagator would, for any carrier."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry import baggage, propagate, trace
from opentelemetry.context import Context
from opentelemetry.propagators.textmap import DefaultSetter, TextMapPropagator
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, TraceState

from pywats_otel._base import w3c

TRACE = 0x0AF7651916CD43DD8448EB211C80319C
SPAN = 0xB7AD6B7169203331


def _context(flags: int = 1, state: TraceState | None = None) -> Context:
    span = NonRecordingSpan(SpanContext(TRACE, SPAN, False, TraceFlags(flags), state))
    return trace.set_span_in_context(span, Context())


@pytest.mark.parametrize(
    "context",
    [
        _context(),
        _context(flags=0),
        _context(state=TraceState([("vendor", "v1")])),
        baggage.set_baggage("station", "st-1", _context()),
        Context(),
    ],
    ids=["sampled", "not-sampled", "tracestate", "baggage", "no-span"],
)
def test_inject_writes_what_the_propagator_writes(context: Context) -> None:
    ours: dict[str, str] = {}
    theirs: dict[str, str] = {}
    w3c.inject(ours, context)
    propagate.inject(theirs, context=context)
    assert ours == theirs


@pytest.mark.parametrize(
    "carrier",
    [
        {"traceparent": f"00-{TRACE:032x}-{SPAN:016x}-01"},
        {"traceparent": f"00-{TRACE:032x}-{SPAN:016x}-00", "other": "x"},
        {"traceparent": f"01-{TRACE:032x}-{SPAN:016x}-01-future"},
        {"traceparent": f"00-{TRACE:032x}-{SPAN:016x}-01-extra"},
        {"traceparent": f"ff-{TRACE:032x}-{SPAN:016x}-01"},
        {"traceparent": f"00-{0:032x}-{SPAN:016x}-01"},
        {"traceparent": f"00-{TRACE:032x}-{0:016x}-01"},
        {"traceparent": "garbage"},
        {"traceparent": ""},
        {"traceparent": f"00-{TRACE:032x}-{SPAN:016x}-01", "tracestate": "vendor=v1"},
        {"traceparent": f"00-{TRACE:032x}-{SPAN:016x}-01", "baggage": "station=st-1"},
        {},
    ],
)
def test_extract_reads_what_the_propagator_reads(carrier: dict[str, str]) -> None:
    ours = w3c.extract(carrier, Context())
    theirs = propagate.extract(carrier, context=Context())
    assert trace.get_current_span(ours).get_span_context() == (
        trace.get_current_span(theirs).get_span_context()
    )
    assert baggage.get_all(ours) == baggage.get_all(theirs)


class _Custom(TextMapPropagator):
    """A propagator of another kind: w3c hands every carrier to it."""

    def inject(self, carrier, context=None, setter=None):  # type: ignore[no-untyped-def]
        (setter or DefaultSetter()).set(carrier, "x-custom", "written")

    def extract(self, carrier, context=None, getter=None):  # type: ignore[no-untyped-def]
        return baggage.set_baggage("custom", "read", context)

    @property
    def fields(self) -> set[str]:
        return {"x-custom"}


@pytest.fixture
def custom_propagator() -> Iterator[None]:
    before = propagate.get_global_textmap()
    propagate.set_global_textmap(_Custom())
    yield
    propagate.set_global_textmap(before)


@pytest.mark.usefixtures("custom_propagator")
def test_another_global_propagator_does_the_work() -> None:
    carrier: dict[str, str] = {}
    w3c.inject(carrier, _context())
    assert carrier == {"x-custom": "written"}
    read = w3c.extract({"traceparent": f"00-{TRACE:032x}-{SPAN:016x}-01"}, Context())
    assert baggage.get_baggage("custom", read) == "read"
    assert not trace.get_current_span(read).get_span_context().is_valid
