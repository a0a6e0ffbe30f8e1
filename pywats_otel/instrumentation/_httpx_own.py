"""pywats_otel's own httpx instrumentation, at httpx's transport level (the default).

It makes what the stock ``HTTPXClientInstrumentor`` makes on the stable HTTP semantic
conventions, for the same requests: a CLIENT span named after the method with the same
attributes and status, ``traceparent`` in the request, and the ``http.client.request.duration``
histogram with the same attributes; the tests compare the two request by request. It adds what
pywats_otel adds: the correlation header, URLs without credentials or sensitive query values
(``pywats_otel._base.redact``), and requests that end in an exception counted in the histogram
with ``error.type``. The differences are listed in docs/performance.md.

Why it is cheaper: the request's ``httpx.URL`` is read as it is (the stock one builds it twice
from text), a URL is redacted only when a fast test says it may hold something to redact,
headers are read only when some are captured, and the attributes are written in one pass.

``turn_on()`` wraps ``httpx.HTTPTransport.handle_request`` and
``httpx.AsyncHTTPTransport.handle_async_request``, so clients built before and after
``init_telemetry()`` are covered; ``instrument_client()`` wraps one client's transports (a
custom or mock transport), per instance. Read once, when it is turned on: the
``OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_*`` variables, ``OTEL_PYTHON_HTTPX_EXCLUDED_URLS``
(else ``OTEL_PYTHON_EXCLUDED_URLS``) and
``OTEL_PYTHON_INSTRUMENTATION_HTTP_CAPTURE_ALL_METHODS``, as the stock one reads them.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Awaitable, Callable
from timeit import default_timer
from typing import Any

import httpx
import wrapt
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.instrumentation.utils import is_http_instrumentation_enabled, unwrap
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.util.http import (
    OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_CLIENT_REQUEST,
    OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_CLIENT_RESPONSE,
    OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SANITIZE_FIELDS,
    OTEL_PYTHON_INSTRUMENTATION_HTTP_CAPTURE_ALL_METHODS,
    ExcludeList,
    get_custom_header_attributes,
    get_custom_headers,
    get_excluded_urls,
    normalise_request_header_name,
    normalise_response_header_name,
)

from pywats_otel import semconv
from pywats_otel._base import w3c
from pywats_otel._base.otel import PerMeterProvider, create_instrument
from pywats_otel._base.otel import tracer as global_tracer
from pywats_otel._base.ratelimit import warn_once
from pywats_otel._base.redact import may_need_redaction, redact_url
from pywats_otel.instrumentation._httpx_clients import (
    Snapshot,
    attribute_state,
    covered_by_global,
    restore,
    transports_of,
)

__all__ = ["HttpxTracing", "instrument_client", "is_on", "turn_on", "uninstrument_client"]

#: Methods named as they are (RFC 9110, RFC 5789 and the QUERY draft, as the stock one has
#: them); any other is ``_OTHER``, and its span is named ``HTTP``.
_KNOWN_METHODS = frozenset(
    ("GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", "QUERY")
)
_METHOD = semconv.HTTP_REQUEST_METHOD
_METHOD_ORIGINAL = "http.request.method_original"
_STATUS = semconv.HTTP_RESPONSE_STATUS_CODE
_ERROR = semconv.ERROR_TYPE
_PROTOCOL = semconv.NETWORK_PROTOCOL_VERSION
_ERROR_STATUS = Status(StatusCode.ERROR)
_CLIENT = SpanKind.CLIENT

_duration: PerMeterProvider[Any] = PerMeterProvider(
    lambda meter: create_instrument(meter, semconv.HTTP_CLIENT_REQUEST_DURATION)
)
#: (span, context token, metric attributes, start time) of a request in flight.
_Started = tuple[trace.Span, object, dict[str, Any], float]


def _header_lists(headers: httpx.Headers) -> dict[str, list[str]]:
    """Header name (lower case) -> its values, comma-separated values split: what the stock
    instrumentor hands to the semconv helper that picks the captured headers."""
    found: dict[str, list[str]] = {}
    for key in headers.keys():  # noqa: SIM118 - httpx.Headers: one key per name
        found.setdefault(key.lower(), []).extend(headers.get_list(key, split_commas=True))
    return found


class HttpxTracing:
    """The per-request work; what the environment says is read once, at construction."""

    def __init__(self, correlation_header: str) -> None:
        self.correlation_header = correlation_header
        self.captured_request = get_custom_headers(
            OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_CLIENT_REQUEST
        )
        self.captured_response = get_custom_headers(
            OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_CLIENT_RESPONSE
        )
        self.sensitive = get_custom_headers(
            OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SANITIZE_FIELDS
        )
        self.excluded: ExcludeList | None = get_excluded_urls("HTTPX")
        self.all_methods = bool(
            os.environ.get(OTEL_PYTHON_INSTRUMENTATION_HTTP_CAPTURE_ALL_METHODS)
        )

    # -- the two halves of a request

    def start(self, request: httpx.Request) -> _Started | None:
        """Start the CLIENT span and write the headers; None leaves the request untraced."""
        span: trace.Span | None = None
        token: object = None
        try:
            url = request.url
            excluded = self.excluded
            if excluded is not None and excluded.url_disabled(str(url)):
                return None
            original = request.method
            method = original.upper()
            if method not in _KNOWN_METHODS and not self.all_methods:
                method = "_OTHER"
            full = str(url)
            if url.userinfo or may_need_redaction(url.query):
                full = redact_url(full)
            attributes: dict[str, Any] = {_METHOD: method, semconv.URL_FULL: full}
            metric: dict[str, Any] = {_METHOD: method}
            if original.strip() != method:
                attributes[_METHOD_ORIGINAL] = original.strip()
            host = url.host
            if host:
                attributes[semconv.SERVER_ADDRESS] = host
                attributes[semconv.NETWORK_PEER_ADDRESS] = host
                metric[semconv.SERVER_ADDRESS] = host
            # httpx.URL has no port for the scheme's default one; neither has the span then.
            port = url.port
            if port:
                attributes[semconv.SERVER_PORT] = port
                attributes[semconv.NETWORK_PEER_PORT] = port
                metric[semconv.SERVER_PORT] = port
            headers = request.headers
            if self.captured_request:
                attributes.update(
                    get_custom_header_attributes(
                        _header_lists(headers),
                        self.captured_request,
                        self.sensitive,
                        normalise_request_header_name,
                    )
                )
            span = global_tracer().start_span(
                "HTTP" if method == "_OTHER" else method, kind=_CLIENT, attributes=attributes
            )
            context = trace.set_span_in_context(span)
            token = otel_context.attach(context)
            span_context = span.get_span_context()
            # A value the caller set on purpose (an adopted ID) is kept.
            name = self.correlation_header
            if span_context.is_valid and name not in headers:
                headers[name] = format(span_context.trace_id, "032x")
            w3c.inject(headers, context, span_context)
        except Exception:
            warn_once("httpx-start", "pywats_otel: tracing an httpx request failed", exc_info=True)
            _close(span, token)
            return None
        return span, token, metric, default_timer()

    def answered(self, started: _Started, response: httpx.Response) -> None:
        span, token, metric, began = started
        elapsed = max(default_timer() - began, 0.0)
        try:
            self._response(span, metric, response)
            _duration.get().record(elapsed, metric)
        except Exception:
            warn_once("httpx-end", "pywats_otel: tracing an httpx request failed", exc_info=True)
        finally:
            _close(span, token)

    def failed(self, started: _Started, exc: Exception) -> None:
        span, token, metric, began = started
        elapsed = max(default_timer() - began, 0.0)
        try:
            response = getattr(exc, "response", None)
            if isinstance(response, httpx.Response):
                self._response(span, metric, response)
            kind = type(exc).__qualname__
            metric[_ERROR] = kind
            if span.is_recording():
                span.set_attribute(_ERROR, kind)
                span.record_exception(exc)
                span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
            # The stock instrumentor leaves these out of the metric: an offline station's
            # failures would not show.
            _duration.get().record(elapsed, metric)
        except Exception:
            warn_once("httpx-end", "pywats_otel: tracing an httpx request failed", exc_info=True)
        finally:
            _close(span, token)

    def _response(self, span: trace.Span, metric: dict[str, Any], response: httpx.Response) -> None:
        status = response.status_code
        # Client spans: 1xx to 3xx are no error; below 100, 400 and above are.
        error = status < 100 or status >= 400
        metric[_STATUS] = status
        if error:
            metric[_ERROR] = str(status)
        version = response.http_version
        protocol = version.replace("HTTP/", "") if version else None
        if protocol:
            metric[_PROTOCOL] = protocol
        if not span.is_recording():
            return
        attributes: dict[str, Any] = {_STATUS: status}
        if error:
            attributes[_ERROR] = str(status)
        if protocol:
            attributes[_PROTOCOL] = protocol
        if self.captured_response:
            attributes.update(
                get_custom_header_attributes(
                    _header_lists(response.headers),
                    self.captured_response,
                    self.sensitive,
                    normalise_response_header_name,
                )
            )
        span.set_attributes(attributes)
        if error:
            span.set_status(_ERROR_STATUS)

    # -- the wrappers

    def handle(self, wrapped: Callable[..., httpx.Response], request: Any) -> httpx.Response:
        if not isinstance(request, httpx.Request) or not is_http_instrumentation_enabled():
            return wrapped(request)
        started = self.start(request)
        if started is None:
            return wrapped(request)
        try:
            response = wrapped(request)
        except Exception as exc:
            self.failed(started, exc)
            raise
        except BaseException:
            _close(started[0], started[1])
            raise
        self.answered(started, response)
        return response

    async def handle_async(
        self, wrapped: Callable[..., Awaitable[httpx.Response]], request: Any
    ) -> httpx.Response:
        if not isinstance(request, httpx.Request) or not is_http_instrumentation_enabled():
            return await wrapped(request)
        started = self.start(request)
        if started is None:
            return await wrapped(request)
        try:
            response = await wrapped(request)
        except Exception as exc:
            self.failed(started, exc)
            raise
        except BaseException:  # cancelled: the span ends as the stock one's does, no status
            _close(started[0], started[1])
            raise
        self.answered(started, response)
        return response

    def class_wrapper_sync(
        self,
        wrapped: Callable[..., httpx.Response],
        instance: object,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> httpx.Response:
        if len(args) != 1 or kwargs:
            return wrapped(*args, **kwargs)
        return self.handle(wrapped, args[0])

    async def class_wrapper_async(
        self,
        wrapped: Callable[..., Awaitable[httpx.Response]],
        instance: object,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> httpx.Response:
        if len(args) != 1 or kwargs:
            return await wrapped(*args, **kwargs)
        return await self.handle_async(wrapped, args[0])


def _close(span: trace.Span | None, token: object) -> None:
    try:
        if token is not None:
            otel_context.detach(token)  # type: ignore[arg-type]
    finally:
        if span is not None:
            span.end()


# -- the global instrumentation, turned on by init_telemetry() ------------------------------

_global: HttpxTracing | None = None


def is_on() -> bool:
    """True while httpx's own transports are instrumented by this module."""
    return _global is not None


def turn_on(correlation_header: str) -> Callable[[], None]:
    """Wrap httpx's two transport methods; returns the undo."""
    global _global  # noqa: PLW0603 - whether httpx's own transports are instrumented
    tracing = HttpxTracing(correlation_header)
    wrapt.wrap_function_wrapper(httpx.HTTPTransport, "handle_request", tracing.class_wrapper_sync)
    wrapt.wrap_function_wrapper(
        httpx.AsyncHTTPTransport, "handle_async_request", tracing.class_wrapper_async
    )
    _global = tracing

    def undo() -> None:
        global _global  # noqa: PLW0603 - see above
        _global = None
        unwrap(httpx.HTTPTransport, "handle_request")
        unwrap(httpx.AsyncHTTPTransport, "handle_async_request")

    return undo


# -- one client at a time -----------------------------------------------------------------

#: client -> the attributes set on its transports, to undo them exactly
_snapshots: weakref.WeakKeyDictionary[Any, Snapshot] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def _wrap_instance(tracing: HttpxTracing, transport: Any, snapshot: Snapshot) -> None:
    if hasattr(transport, "handle_request"):
        sync = transport.handle_request
        snapshot.append(attribute_state(transport, "handle_request"))

        def handle_request(request: httpx.Request) -> httpx.Response:
            return tracing.handle(sync, request)

        transport.handle_request = handle_request
    if hasattr(transport, "handle_async_request"):
        asynchronous = transport.handle_async_request
        snapshot.append(attribute_state(transport, "handle_async_request"))

        async def handle_async_request(request: httpx.Request) -> httpx.Response:
            return await tracing.handle_async(asynchronous, request)

        transport.handle_async_request = handle_async_request


def instrument_client(client: httpx.Client | httpx.AsyncClient, correlation_header: str) -> None:
    """Trace one client's requests through each of its transports (the client's own and its
    mounts'); a client on httpx's own transports is already covered by :func:`turn_on`."""
    with _lock:
        if client in _snapshots:
            return
        transports = transports_of(client)
        if _global is not None and all(covered_by_global(t) for t in transports):
            return
        tracing = _global or HttpxTracing(correlation_header)
        snapshot: Snapshot = []
        try:
            for transport in transports:
                if transport is not None and not (
                    _global is not None and covered_by_global(transport)
                ):
                    _wrap_instance(tracing, transport, snapshot)
        except Exception:
            restore(snapshot)
            raise
        _snapshots[client] = snapshot


def uninstrument_client(client: httpx.Client | httpx.AsyncClient) -> bool:
    """Undo :func:`instrument_client`; False when this module had not instrumented it."""
    with _lock:
        snapshot = _snapshots.pop(client, None)
    if snapshot is None:
        return False
    restore(snapshot)
    return True
