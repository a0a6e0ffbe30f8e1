"""The trace ID is the correlation ID: in log records, request headers and queue items.

``current_correlation_id()`` is the active trace ID as 32 lowercase hex digits, or ``""``
outside a span.
"""

from __future__ import annotations

from opentelemetry import trace

__all__ = ["current_correlation_id"]


def current_correlation_id() -> str:
    """The active trace ID as 32 lowercase hex digits; ``""`` outside a (valid) span."""
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return ""
    return format(context.trace_id, "032x")
