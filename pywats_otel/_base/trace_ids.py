"""Trace IDs chosen by the correlation, not by chance: the SDK IdGenerator that honours them.

An incoming 32-hex correlation header, or an ID handed out by ``correlation_id_factory()``,
is put into the OpenTelemetry context; the next root span started in that context takes it.
"""

from __future__ import annotations

import random
from typing import NamedTuple

from opentelemetry import context as context_api
from opentelemetry import trace
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator

__all__ = [
    "CorrelationIdGenerator",
    "WantedTraceId",
    "new_span_id",
    "new_trace_id",
    "wanted_trace_id",
]

# Kept in the OpenTelemetry context rather than in a ContextVar of our own, so that it travels
# wherever the context does (into threads through the threading instrumentation, for example).
WANTED_TRACE_ID_KEY = context_api.create_key("pywats_otel.wanted_trace_id")


class WantedTraceId(NamedTuple):
    """The trace ID the next root span in this context takes, and whether it is random."""

    trace_id: int
    random: bool


def wanted_trace_id(context: context_api.Context | None = None) -> WantedTraceId | None:
    value = context_api.get_value(WANTED_TRACE_ID_KEY, context)
    return value if isinstance(value, WantedTraceId) else None


def new_trace_id() -> int:
    """A random 128-bit trace ID, never the invalid 0."""
    trace_id = random.getrandbits(128)
    while trace_id == trace.INVALID_TRACE_ID:  # pragma: no cover - a 2**-128 chance
        trace_id = random.getrandbits(128)
    return trace_id


def new_span_id() -> int:
    """A random 64-bit span ID, never the invalid 0."""
    span_id = random.getrandbits(64)
    while span_id == trace.INVALID_SPAN_ID:  # pragma: no cover - a 2**-64 chance
        span_id = random.getrandbits(64)
    return span_id


class CorrelationIdGenerator(RandomIdGenerator):
    """The SDK's random IDs, except that a root span takes the trace ID its context asks for.

    ``init_telemetry()`` gives it to its TracerProvider. A program that builds its own
    TracerProvider passes ``id_generator=CorrelationIdGenerator()`` to get the same behaviour.
    """

    # Both run for every root span: they read the context directly rather than through
    # wanted_trace_id() and the SDK's generator: about a third less work per root span.

    def generate_trace_id(self) -> int:
        wanted = context_api.get_current().get(WANTED_TRACE_ID_KEY)
        if wanted is not None and type(wanted) is WantedTraceId:
            return wanted.trace_id
        return new_trace_id()

    def is_trace_id_random(self) -> bool:
        # The SDK asks right after generate_trace_id(), in the same context. An ID taken from a
        # header may be anything, so the W3C random-trace-id flag must not claim it is random.
        wanted = context_api.get_current().get(WANTED_TRACE_ID_KEY)
        if wanted is None or type(wanted) is not WantedTraceId:
            return True
        return wanted.random
