"""The trace ID is the correlation ID: in log records, request headers and queue items.

Log fields (CorrelationFilter, the ``logging`` instrumentation, a structlog processor), one-line
JSON logs (JsonFormatter), and correlation_scope() to adopt an incoming correlation or start one.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import time
from collections.abc import Mapping, MutableMapping
from contextvars import Token
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from opentelemetry import context as context_api
from opentelemetry import propagate, trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode
from opentelemetry.util.types import Attributes

from pywats_otel import semconv
from pywats_otel._base import otel as _otel
from pywats_otel._base import state
from pywats_otel._base.ratelimit import warn_once
from pywats_otel._base.trace_ids import (
    WANTED_TRACE_ID_KEY,
    CorrelationIdGenerator,
    WantedTraceId,
    new_span_id,
    new_trace_id,
    wanted_trace_id,
)

__all__ = [
    "LOG_FIELDS",
    "Correlation",
    "CorrelationFilter",
    "CorrelationIdGenerator",
    "JsonFormatter",
    "add_correlation_fields",
    "add_log_fields",
    "correlation_id_factory",
    "correlation_scope",
    "current_correlation_id",
    "header_name",
]

#: The attributes every log record gets: trace_id, span_id, correlation_id, trace_flags.
LOG_FIELDS = semconv.LOG_FIELDS

_HEX32 = re.compile("[0-9a-fA-F]{32}")
# Incoming header values are untrusted: an attribute keeps a bounded prefix.
_INCOMING_LIMIT = 128
_EMPTY = ("", "", "")
_TRACE_ID, _SPAN_ID, _CORRELATION_ID, _TRACE_FLAGS = LOG_FIELDS


def current_correlation_id() -> str:
    """The active trace ID as 32 lowercase hex digits; ``""`` outside a (valid) span."""
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return ""
    return format(context.trace_id, "032x")


def header_name() -> str:
    """The correlation header's name: the ``correlation_header`` setting of the running
    telemetry, or ``X-Correlation-ID`` before ``init_telemetry()``."""
    return state.correlation_header()


# -- failures of our own ----------------------------------------------------------------------


def _warn_once(what: str) -> None:
    """Log a failure of pywats_otel's own code, with its traceback, at most once a minute."""
    warn_once(
        ("correlation", what), "pywats_otel: %s failed; going on without it", what, exc_info=True
    )


# -- the fields of a log record ---------------------------------------------------------------


# The hex text of the last span context seen. Records come in runs from one span, and the
# formatting is half the cost of the fields; the cache holds the context itself, so an
# identity check cannot mistake a new context for a freed one. One tuple, replaced whole:
# threads may overwrite each other's entry, never read a torn one.
_last: tuple[object, tuple[str, str, str]] = (None, _EMPTY)


def _ids() -> tuple[str, str, str]:
    """(trace_id, span_id, trace_flags) of the active span; empty strings outside one."""
    global _last  # noqa: PLW0603 - the one-entry cache above
    try:
        context = trace.get_current_span().get_span_context()
        last = _last
        if last[0] is context:
            return last[1]
        if not context.is_valid:
            return _EMPTY
        ids = (
            format(context.trace_id, "032x"),
            format(context.span_id, "016x"),
            format(context.trace_flags, "02x"),
        )
    except Exception:  # noqa: BLE001 - telemetry never breaks the caller
        _warn_once("reading the active span for log correlation")
        return _EMPTY
    _last = (context, ids)
    return ids


def add_log_fields(record: logging.LogRecord) -> None:
    """Set the LOG_FIELDS of ``record`` from the active span (``""`` outside one).

    What CorrelationFilter and the ``logging`` instrumentation's record factory do to a record.
    """
    trace_id, span_id, flags = _ids()
    fields = record.__dict__
    fields[_TRACE_ID] = trace_id
    fields[_SPAN_ID] = span_id
    fields[_CORRELATION_ID] = trace_id
    fields[_TRACE_FLAGS] = flags


def _fields_of(record: logging.LogRecord) -> tuple[Any, Any, Any, Any]:
    """The record's fields; read from the active span when nothing set them at creation."""
    fields = record.__dict__
    if semconv.LOG_CORRELATION_ID in fields:
        return (
            fields.get(semconv.LOG_TRACE_ID, ""),
            fields.get(semconv.LOG_SPAN_ID, ""),
            fields[semconv.LOG_CORRELATION_ID],
            fields.get(semconv.LOG_TRACE_FLAGS, ""),
        )
    trace_id, span_id, flags = _ids()
    return trace_id, span_id, trace_id, flags


class CorrelationFilter(logging.Filter):
    """Adds ``trace_id``, ``span_id``, ``correlation_id`` and ``trace_flags`` to a record.

    The values are those of the span active where the record passes the filter, ``""``
    outside a span. A record that already has them (from the ``logging`` instrumentation,
    which sets them where the record is made) keeps them, so the filter is also right on a
    handler behind a QueueHandler. It never drops a record.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if semconv.LOG_CORRELATION_ID not in record.__dict__:
            add_log_fields(record)
        return True


def add_correlation_fields(
    logger: object, method_name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """A structlog processor adding ``trace_id``, ``span_id``, ``correlation_id``, ``trace_flags``.

    Values a caller bound explicitly win. Under structlog's ``ProcessorFormatter`` a stdlib
    record's own fields are used, because the record may be formatted in another thread.
    """
    record = event_dict.get("_record")
    if isinstance(record, logging.LogRecord):
        values = _fields_of(record)
    else:
        trace_id, span_id, flags = _ids()
        values = (trace_id, span_id, trace_id, flags)
    for name, value in zip(LOG_FIELDS, values, strict=True):
        event_dict.setdefault(name, value)
    return event_dict


# -- JSON lines -------------------------------------------------------------------------------

# json.dumps(ensure_ascii=False) escapes U+0000..U+001F (newline, ESC) but leaves these, which a
# terminal or a log shipper may take as a line break (U+0085, U+2028, U+2029), as an 8-bit
# control sequence (U+007F..U+009F: U+009B is CSI), as a reordering of the line (bidi controls),
# or which cannot be written as UTF-8 at all (lone surrogates from surrogateescape'd paths).
_UNSAFE = re.compile("[\x7f-\x9f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def _escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def _reserved_attributes() -> frozenset[str]:
    sample = logging.LogRecord("", logging.INFO, "", 0, "", (), None)
    return frozenset(sample.__dict__) | {"message", "asctime", "taskName", *LOG_FIELDS}


_RESERVED = _reserved_attributes()


def _repr(value: object) -> str:
    try:
        return repr(value)
    except Exception:  # noqa: BLE001 - telemetry never breaks the caller
        return f"<{type(value).__qualname__} without a usable repr>"


def _str(value: object) -> str:
    try:
        return str(value)
    except Exception:  # noqa: BLE001 - telemetry never breaks the caller
        return _repr(value)


# Built once: json.dumps() with arguments builds a new encoder per call. encode() keeps no
# state, so threads share it.
_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, default=_repr)
_STRICT_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False)


def _jsonable(value: object) -> object:
    """``value`` if JSON takes it as it is, else its repr."""
    try:
        _STRICT_ENCODER.encode(value)
    except (TypeError, ValueError, RecursionError):
        return _repr(value)
    return value


def _type_name(kind: type[BaseException]) -> str:
    module = kind.__module__
    return kind.__qualname__ if module == "builtins" else f"{module}.{kind.__qualname__}"


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line, with the correlation fields.

    Keys: ``time`` (ISO 8601 UTC, milliseconds), ``level``, ``logger``, ``message``,
    ``trace_id``, ``span_id``, ``correlation_id``, ``trace_flags``, ``service.name``; for an
    exception ``exception.type``, ``exception.message`` and ``exception.stacktrace``; then the
    record's extra attributes (``extra={...}``), values JSON cannot hold as their repr. An
    extra that would replace one of the keys above is written as ``extra.<name>``.

    Control characters, line and paragraph separators, C1 and bidi controls are escaped, so a
    message cannot break the line, forge another one or drive a terminal. ``service.name`` is
    ``service_name`` if given, else that of the running telemetry.
    """

    def __init__(self, *, service_name: str | None = None, extra_fields: bool = True) -> None:
        super().__init__()
        self._service_name = service_name
        self._extra_fields = extra_fields
        # The formatted second of the last record: records come many per second.
        self._second: tuple[int, str] = (-1, "")

    def format(self, record: logging.LogRecord) -> str:
        try:
            payload = self._payload(record)
        except Exception:  # noqa: BLE001 - telemetry never breaks the caller
            _warn_once("JsonFormatter")
            payload = {
                semconv.LOG_TIME: self._time(record),
                semconv.LOG_LEVEL: str(getattr(record, "levelname", "")),
                semconv.LOG_LOGGER: str(getattr(record, "name", "")),
                semconv.LOG_MESSAGE: _repr(getattr(record, "msg", "")),
            }
        try:
            text = _ENCODER.encode(payload)
        except (TypeError, ValueError, RecursionError):
            # A circular structure, NaN or a key JSON cannot hold somewhere: value by value.
            text = _ENCODER.encode({key: _jsonable(value) for key, value in payload.items()})
        # Every character _UNSAFE matches but DEL lies above ASCII: most lines skip the regex.
        if text.isascii() and "\x7f" not in text:
            return text
        return _UNSAFE.sub(_escape, text)

    def _time(self, record: logging.LogRecord) -> str:
        created = float(getattr(record, "created", time.time()))
        whole = int(created)
        cached = self._second
        if cached[0] != whole:
            cached = (whole, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)))
            self._second = cached
        return f"{cached[1]}.{int(getattr(record, 'msecs', 0)):03d}Z"

    def _message(self, record: logging.LogRecord) -> str:
        try:
            return record.getMessage()
        except Exception:  # noqa: BLE001 - telemetry never breaks the caller
            # The program's own mistake (arguments that do not fit the message) must not cost
            # the line: keep both parts.
            return f"{_repr(record.msg)} with arguments {_repr(record.args)}"

    def _service(self) -> str:
        if self._service_name is not None:
            return self._service_name
        settings = state.settings()
        if settings is not None:
            return settings.service_name
        # A program with its own SDK set-up: its resource's name.
        resource = getattr(trace.get_tracer_provider(), "resource", None)
        name = resource.attributes.get(semconv.SERVICE_NAME) if resource is not None else None
        return str(name) if name is not None else ""

    def _payload(self, record: logging.LogRecord) -> dict[str, Any]:
        trace_id, span_id, correlation_id, flags = _fields_of(record)
        payload: dict[str, Any] = {
            semconv.LOG_TIME: self._time(record),
            semconv.LOG_LEVEL: record.levelname,
            semconv.LOG_LOGGER: record.name,
            semconv.LOG_MESSAGE: self._message(record),
            semconv.LOG_TRACE_ID: trace_id,
            semconv.LOG_SPAN_ID: span_id,
            semconv.LOG_CORRELATION_ID: correlation_id,
            semconv.LOG_TRACE_FLAGS: flags,
            semconv.SERVICE_NAME: self._service(),
        }
        exc_info = record.exc_info
        if exc_info and exc_info[0] is not None:
            payload[semconv.EXCEPTION_TYPE] = _type_name(exc_info[0])
            payload[semconv.EXCEPTION_MESSAGE] = _str(exc_info[1])
            if not record.exc_text:
                # Cached on the record as logging.Formatter does, for the other handlers.
                record.exc_text = self.formatException(exc_info)
            payload[semconv.EXCEPTION_STACKTRACE] = record.exc_text
        elif record.exc_text:
            payload[semconv.EXCEPTION_STACKTRACE] = record.exc_text
        if record.stack_info:
            payload[semconv.LOG_STACK_INFO] = self.formatStack(record.stack_info)
        if self._extra_fields:
            for key, value in record.__dict__.items():
                if key not in _RESERVED:
                    payload[f"extra.{key}" if key in payload else key] = value
        return payload


# -- correlation_scope() ----------------------------------------------------------------------


@dataclass(frozen=True)
class Correlation:
    """What ``correlation_scope()`` yields.

    ``correlation_id`` is the scope's trace ID (32 hex digits), ``span_id`` its span's ID,
    ``origin`` where the trace ID came from (``traceparent``, ``correlation_header``,
    ``active_span`` or ``new``), ``incoming_id`` an incoming correlation header value that did
    not become the trace ID, and ``span`` the scope's span (non-recording when telemetry is
    off or the trace is not sampled).
    """

    correlation_id: str
    span_id: str
    origin: str
    incoming_id: str | None
    span: trace.Span


def _lower_keys(headers: Mapping[str, Any]) -> dict[str, Any]:
    return {str(key).lower(): value for key, value in headers.items()}


def _first(value: object) -> str | None:
    if isinstance(value, (list, tuple)):
        value = value[0] if value else None
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _as_trace_id(value: str | None) -> int | None:
    """The trace ID a correlation header value stands for, when it is 32 hex digits."""
    if value is None or not _HEX32.fullmatch(value):
        return None
    trace_id = int(value, 16)
    return trace_id if trace_id != trace.INVALID_TRACE_ID else None


@dataclass
class _Plan:
    context: context_api.Context
    origin: str
    incoming: str | None
    wanted: int | None


def _plan(headers: Mapping[str, Any] | None, new_trace: bool) -> _Plan:
    current = context_api.get_current()
    # With the active span taken out, any span in what extract() returns came from the headers.
    detached = trace.set_span_in_context(trace.INVALID_SPAN, current)
    incoming: str | None = None
    base = detached
    if headers:
        lowered = _lower_keys(headers)
        base = propagate.extract(lowered, context=detached)
        incoming = _first(lowered.get(header_name().lower()))
        remote = trace.get_current_span(base).get_span_context()
        if remote.is_valid:
            return _Plan(base, semconv.CORRELATION_ORIGIN_TRACEPARENT, incoming, None)
        wanted = _as_trace_id(incoming)
        if wanted is not None:
            adopted = context_api.set_value(
                WANTED_TRACE_ID_KEY, WantedTraceId(wanted, random=False), base
            )
            return _Plan(adopted, semconv.CORRELATION_ORIGIN_HEADER, None, wanted)
    active = trace.get_current_span(current)
    if not new_trace and active.get_span_context().is_valid:
        return _Plan(
            trace.set_span_in_context(active, base),
            semconv.CORRELATION_ORIGIN_ACTIVE,
            incoming,
            None,
        )
    if new_trace:
        base = context_api.set_value(WANTED_TRACE_ID_KEY, None, base)
    pending = wanted_trace_id(base)
    return _Plan(
        base,
        semconv.CORRELATION_ORIGIN_NEW,
        incoming,
        pending.trace_id if pending is not None else None,
    )


class _CorrelationScope:
    """The context manager correlation_scope() returns; see there."""

    def __init__(
        self,
        headers: Mapping[str, Any] | None,
        name: str,
        kind: SpanKind,
        attributes: Attributes,
        new_trace: bool,
    ) -> None:
        self._headers = headers
        self._name = name
        self._kind = kind
        self._attributes = attributes
        self._new_trace = new_trace
        self._tokens: list[Token[context_api.Context]] = []
        self._span: trace.Span | None = None

    def __enter__(self) -> Correlation:
        try:
            return self._enter()
        except Exception:  # noqa: BLE001 - telemetry never breaks the caller
            _warn_once("correlation_scope()")
            span, self._span = self._span, None
            if span is not None:
                with contextlib.suppress(Exception):
                    span.end()
            self._detach()
            trace_id, span_id, _ = _ids()
            return Correlation(
                trace_id, span_id, semconv.CORRELATION_ORIGIN_ACTIVE, None, trace.INVALID_SPAN
            )

    def _enter(self) -> Correlation:
        plan = _plan(self._headers, self._new_trace)
        self._tokens.append(context_api.attach(plan.context))
        span = _otel.tracer().start_span(self._name, kind=self._kind, attributes=self._attributes)
        self._span = span
        span_context = span.get_span_context()
        if not span_context.is_valid:
            # No SDK (telemetry off or not initialised): a non-recording span still gives the
            # scope a correlation ID for its log records. Its flags say "not sampled", which
            # is the truth: nothing is recorded here.
            span_context = SpanContext(
                plan.wanted or new_trace_id(),
                new_span_id(),
                is_remote=False,
            )
            span = NonRecordingSpan(span_context)
            self._span = span
        correlation_id = format(span_context.trace_id, "032x")
        incoming = plan.incoming
        if (
            plan.origin == semconv.CORRELATION_ORIGIN_HEADER
            and plan.wanted is not None
            and span_context.trace_id != plan.wanted
        ):
            # A TracerProvider without CorrelationIdGenerator picked its own trace ID.
            incoming = format(plan.wanted, "032x")
        if incoming is not None and incoming.lower() == correlation_id:
            incoming = None
        if incoming is not None:
            incoming = incoming[:_INCOMING_LIMIT]
        if span.is_recording():
            span.set_attribute(semconv.CORRELATION_ORIGIN, plan.origin)
            if incoming is not None:
                span.set_attribute(semconv.CORRELATION_INCOMING_ID, incoming)
        self._tokens.append(context_api.attach(trace.set_span_in_context(span)))
        return Correlation(
            correlation_id,
            format(span_context.span_id, "016x"),
            plan.origin,
            incoming,
            span,
        )

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        span, self._span = self._span, None
        try:
            if span is not None and span.is_recording():
                if isinstance(exc, Exception):
                    span.record_exception(exc)
                    span.set_status(
                        Status(StatusCode.ERROR, f"{type(exc).__qualname__}: {_str(exc)}")
                    )
                    span.set_attribute(semconv.ERROR_TYPE, _type_name(type(exc)))
                span.end()
        except Exception:  # noqa: BLE001 - telemetry never breaks the caller
            _warn_once("ending a correlation_scope() span")
        finally:
            self._detach()
        # Returning None: the caller's exception, if any, goes on unchanged.

    def _detach(self) -> None:
        while self._tokens:
            token = self._tokens.pop()
            try:
                context_api.detach(token)
            except Exception:  # noqa: BLE001 - telemetry never breaks the caller
                _warn_once("leaving a correlation_scope()")


def correlation_scope(
    headers: Mapping[str, Any] | None = None,
    *,
    name: str = semconv.SPAN_CORRELATION_SCOPE,
    kind: SpanKind = SpanKind.INTERNAL,
    attributes: Attributes = None,
    new_trace: bool = False,
) -> _CorrelationScope:
    """A span whose trace ID is the incoming correlation, or a new one; yields a Correlation.

    Where the trace ID comes from, first match wins:

    1. a valid W3C ``traceparent`` in ``headers`` (through the global propagator, so
       ``tracestate`` and ``baggage`` come along): the span is its child;
    2. the correlation header (``header_name()``, found in any letter case) holding 32 hex
       digits: that value becomes the trace ID of a new *root* span. No parent span ID is made
       up, and the local sampler decides as for any root; see docs/correlation.md;
    3. the active span, unless ``new_trace``: the scope's span is its child;
    4. otherwise a new trace.

    A correlation header that did not become the trace ID is kept in the span attribute
    ``pywats.correlation.incoming_id``. With telemetry off or not initialised the scope still
    has a correlation ID (a non-recording span), so its log records carry one.

    An exception inside the scope marks the span as failed and goes on unchanged.
    """
    return _CorrelationScope(headers, name, kind, attributes, new_trace)


# -- pyWATS ---------------------------------------------------------------------------------


def correlation_id_factory() -> str:
    """A correlation ID for pyWATS's correlation ContextVar: the trace ID, now or to come.

    Inside a span it returns that span's trace ID. Outside one it makes a new trace ID and
    keeps it in the current context, so that the next root spans started in this context (and
    in threads started from it) take that trace ID; each call outside a span starts a new one.
    With telemetry off or not initialised it still returns a new random 32-hex ID, which pyWATS
    logs as before. It never raises.
    """
    try:
        span_context = trace.get_current_span().get_span_context()
        if span_context.is_valid:
            return format(span_context.trace_id, "032x")
        trace_id = new_trace_id()
        # Not detached on purpose: like pyWATS's own ContextVar.set(), the ID holds for the
        # rest of this context (task, thread) or until the next call.
        context_api.attach(
            context_api.set_value(WANTED_TRACE_ID_KEY, WantedTraceId(trace_id, random=True))
        )
        return format(trace_id, "032x")
    except Exception:  # noqa: BLE001 - telemetry never breaks the caller
        _warn_once("correlation_id_factory()")
        return format(new_trace_id(), "032x")
