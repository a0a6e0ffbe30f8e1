"""The ``stock`` httpx instrumentation (setting ``httpx_instrumentation=stock``): the stock
HTTPXClientInstrumentor on the stable HTTP semantic conventions, plus the correlation header on
every request, sensitive URL parts redacted and failed requests counted.

``turn_on()`` instruments httpx's own transports, so clients built before and after
``init_telemetry()`` are covered; ``instrument_client()`` covers a client built with a custom
transport. Undoing either restores httpx as it was.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from timeit import default_timer
from typing import TYPE_CHECKING, Any

import httpx
import wrapt
from opentelemetry.instrumentation import _semconv
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor, RequestInfo
from opentelemetry.instrumentation.utils import is_http_instrumentation_enabled, unwrap
from opentelemetry.trace import Span

from pywats_otel import semconv
from pywats_otel._base import state
from pywats_otel._base.otel import PerMeterProvider
from pywats_otel._base.ratelimit import warn_once
from pywats_otel._base.redact import may_need_redaction, redact_url, sensitive_query_keys
from pywats_otel.correlation import current_correlation_id
from pywats_otel.instrumentation._httpx_clients import (
    Snapshot,
    attribute_state,
    covered_by_global,
    restore,
    transports_of,
)

if TYPE_CHECKING:
    from pywats_otel._config.settings import TelemetrySettings

#: Query keys whose values never reach a span: ours and the semantic conventions' list.
SENSITIVE_QUERY_KEYS = sensitive_query_keys()

__all__ = [
    "SENSITIVE_QUERY_KEYS",
    "instrument_client",
    "redact_url",
    "turn_on",
    "uninstrument_client",
]


class _Hooks:
    """The request hooks given to the stock instrumentor (it calls them inside the CLIENT span,
    before it injects traceparent into a copy of the request's headers)."""

    def __init__(
        self, url_keys: tuple[str, ...], header: str = semconv.DEFAULT_CORRELATION_HEADER
    ) -> None:
        self._url_keys = url_keys
        self._header = header

    def request(self, span: Span, request: RequestInfo) -> None:
        try:
            headers = request.headers
            if headers is not None:
                correlation_id = current_correlation_id()
                if correlation_id:
                    name = self._header
                    # A value the caller set on purpose (an adopted ID) is kept.
                    if name not in headers:
                        headers[name] = correlation_id
            url = request.url
            if (
                isinstance(url, httpx.URL)
                and (url.userinfo or may_need_redaction(url.query))
                and span.is_recording()
            ):
                redacted = redact_url(str(url))
                for key in self._url_keys:
                    span.set_attribute(key, redacted)
        except Exception:
            warn_once("httpx-hook", "pywats_otel: httpx request hook failed", exc_info=True)

    async def async_request(self, span: Span, request: RequestInfo) -> None:
        self.request(span, request)


# -- requests that end in an exception --------------------------------------------------------
# The stock instrumentor re-raises a transport exception (refused connection, timeout) before
# it records http.client.request.duration, so an offline station's failures would be missing
# from the metric. An outer wrapper records exactly those, with error.type, into the same
# metric: the stock instrumentor's own instrument, got again from a meter of its scope (the SDK
# hands out the registered instrument for the same name, unit, description and advice).

_KNOWN_METHODS = frozenset(
    ("CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "TRACE")
)
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _stock_duration_histogram(_: object) -> Any:
    from opentelemetry import metrics
    from opentelemetry.instrumentation._semconv import (
        HTTP_DURATION_HISTOGRAM_BUCKETS_NEW,
        _get_schema_url,
        _StabilityMode,
    )
    from opentelemetry.instrumentation.httpx.version import __version__ as stock_version

    meter = metrics.get_meter(
        "opentelemetry.instrumentation.httpx",
        stock_version,
        schema_url=_get_schema_url(_StabilityMode.HTTP),
    )
    return meter.create_histogram(
        name=semconv.HTTP_CLIENT_REQUEST_DURATION,
        unit="s",
        description="Duration of HTTP client requests.",
        explicit_bucket_boundaries_advisory=HTTP_DURATION_HISTOGRAM_BUCKETS_NEW,
    )


_failed_duration: PerMeterProvider[Any] = PerMeterProvider(_stock_duration_histogram)


def _record_failure(request: object, exception: BaseException, elapsed: float) -> None:
    try:
        if not isinstance(request, httpx.Request):
            return
        method = request.method.upper()
        url = request.url
        attributes: dict[str, str | int] = {
            semconv.HTTP_REQUEST_METHOD: method if method in _KNOWN_METHODS else "_OTHER",
            semconv.SERVER_ADDRESS: url.host,
            semconv.ERROR_TYPE: type(exception).__qualname__,
        }
        port = url.port or _DEFAULT_PORTS.get(url.scheme)
        if port is not None:
            attributes[semconv.SERVER_PORT] = port
        _failed_duration.get().record(elapsed, attributes)
    except Exception:
        warn_once(
            "httpx-failure-metric", "pywats_otel: recording a failed request failed", exc_info=True
        )


def _request_of(args: tuple[Any, ...], kwargs: dict[str, Any]) -> object:
    return args[0] if args else kwargs.get("request")


def _failures_sync(
    wrapped: Callable[..., Any], instance: object, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    started = default_timer()
    try:
        return wrapped(*args, **kwargs)
    except Exception as exc:
        if is_http_instrumentation_enabled():
            _record_failure(_request_of(args, kwargs), exc, max(default_timer() - started, 0.0))
        raise


async def _failures_async(
    wrapped: Callable[..., Awaitable[Any]],
    instance: object,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Any:
    started = default_timer()
    try:
        return await wrapped(*args, **kwargs)
    except Exception as exc:
        if is_http_instrumentation_enabled():
            _record_failure(_request_of(args, kwargs), exc, max(default_timer() - started, 0.0))
        raise


def _wrap_failures(target: Any) -> None:
    """Put the failure recorder around ``target``'s (already instrumented) transport methods."""
    if hasattr(target, "handle_request"):
        wrapt.wrap_function_wrapper(target, "handle_request", _failures_sync)
    if hasattr(target, "handle_async_request"):
        wrapt.wrap_function_wrapper(target, "handle_async_request", _failures_async)


_semconv_lock = threading.Lock()


@contextmanager
def _stable_http_semconv() -> Iterator[tuple[str, ...]]:
    """Make the instrumentor set up inside use the stable HTTP conventions.

    The instrumentor reads the mode once, when it is set up, from a process-wide table filled
    from OTEL_SEMCONV_STABILITY_OPT_IN. A user's own choice (``http`` or ``http/dup``) stays;
    otherwise the table says ``http`` only while our instrumentor is set up, so that other
    instrumentations keep the mode the user gave them. Yields the URL attributes the mode sets.
    """
    stability = _semconv._OpenTelemetrySemanticConventionStability
    stability._initialize()  # type: ignore[no-untyped-call]
    signal = _semconv._OpenTelemetryStabilitySignalType.HTTP
    mode = _semconv._StabilityMode
    with _semconv_lock:
        table = stability._OTEL_SEMCONV_STABILITY_SIGNAL_MAPPING
        chosen = table.get(signal, mode.DEFAULT)
        if chosen is mode.HTTP_DUP:
            yield (semconv.URL_FULL, semconv.HTTP_URL_OLD)
            return
        if chosen is mode.HTTP:
            yield (semconv.URL_FULL,)
            return
        table[signal] = mode.HTTP
        try:
            yield (semconv.URL_FULL,)
        finally:
            table[signal] = chosen


# -- the global instrumentation, turned on by init_telemetry() ------------------------------

_global_on = False


def turn_on(settings: TelemetrySettings) -> Callable[[], None] | None:
    global _global_on  # noqa: PLW0603 - whether httpx's own transports are instrumented
    instrumentor = HTTPXClientInstrumentor()
    if instrumentor.is_instrumented_by_opentelemetry:
        warn_once(
            "httpx-instrumented-before",
            "pywats_otel: httpx was instrumented before init_telemetry(); that instrumentation "
            "stays, without the correlation header and pywats_otel's URL redaction",
        )
        return None
    with _stable_http_semconv() as url_keys:
        hooks = _Hooks(url_keys, settings.correlation_header)
        instrumentor.instrument(request_hook=hooks.request, async_request_hook=hooks.async_request)
    if not instrumentor.is_instrumented_by_opentelemetry:
        # BaseInstrumentor logged why (an httpx version it does not support) and did nothing.
        return None
    _wrap_failures(httpx.HTTPTransport)
    _wrap_failures(httpx.AsyncHTTPTransport)
    _global_on = True

    def undo() -> None:
        global _global_on  # noqa: PLW0603 - see above
        _global_on = False
        # Ours first: the stock uninstrument() unwraps only its own wrapper.
        unwrap(httpx.HTTPTransport, "handle_request")
        unwrap(httpx.AsyncHTTPTransport, "handle_async_request")
        instrumentor.uninstrument()

    return undo


# -- one client at a time -----------------------------------------------------------------

_FLAG = "_is_instrumented_by_opentelemetry"
_METHODS = ("handle_request", "handle_async_request")
# Each attribute the stock instrument_client() may set, per client, to undo it exactly.
_snapshots: weakref.WeakKeyDictionary[Any, Snapshot] = weakref.WeakKeyDictionary()
_snapshots_lock = threading.Lock()


def instrument_client(client: httpx.Client | httpx.AsyncClient) -> None:
    """Trace the requests of one client, e.g. one built with a custom transport.

    A client whose transports are httpx's own is already covered by ``init_telemetry()`` (and
    is left alone, so its requests are not traced twice). Idempotent; never raises.
    """
    try:
        with _snapshots_lock:
            if client in _snapshots or getattr(client, _FLAG, False):
                return
            transports = transports_of(client)
            if _global_on and all(covered_by_global(t) for t in transports):
                return
            snapshot: Snapshot = [attribute_state(client, _FLAG)]
            snapshot += [
                attribute_state(t, m) for t in transports if t is not None for m in _METHODS
            ]
            try:
                with _stable_http_semconv() as url_keys:
                    hooks = _Hooks(url_keys, state.correlation_header())
                    hook: Any = (
                        hooks.async_request
                        if isinstance(client, httpx.AsyncClient)
                        else hooks.request
                    )
                    HTTPXClientInstrumentor.instrument_client(client, request_hook=hook)
                    for transport in transports:
                        if transport is not None:
                            _wrap_failures(transport)
            except Exception:
                restore(snapshot)
                raise
            _snapshots[client] = snapshot
    except Exception:
        warn_once("httpx-client", "pywats_otel: instrument_client() failed", exc_info=True)


def uninstrument_client(client: httpx.Client | httpx.AsyncClient) -> None:
    """Undo :func:`instrument_client`: the client and its transports are as they were."""
    try:
        with _snapshots_lock:
            snapshot = _snapshots.pop(client, None)
        if snapshot is not None:
            restore(snapshot)
        elif getattr(client, _FLAG, False):
            HTTPXClientInstrumentor.uninstrument_client(client)
    except Exception:
        warn_once("httpx-client", "pywats_otel: uninstrument_client() failed", exc_info=True)
