"""W3C trace context written without the propagator API's layers, when that is what the
global propagator would write.

OpenTelemetry's default propagator (``OTEL_PROPAGATORS`` unset: ``tracecontext,baggage``) is a
composite whose ``inject()`` walks two propagators, two setters and the context four times; for
the usual request, with no baggage, it writes ``traceparent`` (and ``tracestate`` when there is
one). :func:`inject` writes the same headers directly; with any other global propagator, or
with baggage in the context, it hands the carrier to the propagator as before.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping

from opentelemetry import baggage, propagate, trace
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.context import Context
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

__all__ = ["extract", "inject", "traceparent"]

_DEFAULT_KINDS = (TraceContextTextMapPropagator, W3CBaggagePropagator)
# (propagator, whether it is the default composite): the global one rarely changes.
_checked: tuple[object, bool] = (None, False)


def _is_default(propagator: object) -> bool:
    global _checked  # noqa: PLW0603 - a one-entry cache of an identity check
    seen, default = _checked
    if seen is propagator:
        return default
    inner = getattr(propagator, "_propagators", None)
    default = (
        type(propagator) is CompositePropagator
        and isinstance(inner, list)
        and tuple(type(p) for p in inner) in (_DEFAULT_KINDS, _DEFAULT_KINDS[:1])
    )
    _checked = (propagator, default)
    return default


def traceparent(span_context: trace.SpanContext) -> str:
    """The ``traceparent`` header of ``span_context`` (version 00)."""
    return (
        f"00-{span_context.trace_id:032x}-{span_context.span_id:016x}-"
        f"{span_context.trace_flags:02x}"
    )


def inject(
    carrier: MutableMapping[str, str],
    context: Context,
    span_context: trace.SpanContext | None = None,
) -> None:
    """What ``propagate.inject(carrier, context=context)`` writes, cheaper for the default
    propagator; ``span_context`` is the context's span's, when the caller has it at hand."""
    propagator = propagate.get_global_textmap()
    if not _is_default(propagator) or baggage.get_all(context):
        propagator.inject(carrier, context=context)
        return
    if span_context is None:
        span_context = trace.get_current_span(context).get_span_context()
    if not span_context.is_valid:
        return
    carrier["traceparent"] = traceparent(span_context)
    if span_context.trace_state:
        carrier["tracestate"] = span_context.trace_state.to_header()


_TRACEPARENT = TraceContextTextMapPropagator._TRACEPARENT_HEADER_FORMAT_RE


def extract(carrier: Mapping[str, str], context: Context) -> Context:
    """What ``propagate.extract(carrier, context=context)`` returns, cheaper for the default
    propagator and a carrier with ``traceparent`` alone (no ``tracestate``, no ``baggage``):
    the same checks as the W3C propagator's, without its getters and layers."""
    propagator = propagate.get_global_textmap()
    if not _is_default(propagator) or "tracestate" in carrier or "baggage" in carrier:
        return propagator.extract(carrier, context=context)
    header = carrier.get("traceparent")
    if not header or not isinstance(header, str):
        return propagator.extract(carrier, context=context)
    match = _TRACEPARENT.search(header)
    if not match:
        return context
    version, trace_id, span_id, flags, rest = match.groups()
    if trace_id == "0" * 32 or span_id == "0" * 16 or version == "ff":
        return context
    if version == "00" and rest:
        return context
    span_context = trace.SpanContext(
        trace_id=int(trace_id, 16),
        span_id=int(span_id, 16),
        is_remote=True,
        trace_flags=trace.TraceFlags(int(flags, 16)),
    )
    return trace.set_span_in_context(trace.NonRecordingSpan(span_context), context)
