"""pyWATS's HTTP calls: one span per API call around its attempts, and the sync API's context.

``AsyncHttpClient._make_request`` is where every pyWATS call (``pyWATS`` and ``AsyncWATS``)
goes through its circuit breaker and retries; its span is the parent of the httpx CLIENT span
of each attempt, which carries ``traceparent`` and the correlation header. pyWATS answers an
HTTP error with a Response, not an exception: the span's status is read from it.

``pywats.pywats._run_sync`` runs a sync call's coroutine on an event-loop thread. Its wrapper
hands the caller's OpenTelemetry context to that coroutine (pyWATS loses it when the sync API
is called from inside a running loop) and makes pyWATS's correlation ID the trace ID of the
call: the current trace, or the trace the call's first span will start.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Awaitable, Callable, Coroutine
from contextvars import ContextVar
from typing import Any
from urllib.parse import urlsplit

from opentelemetry import context as otel_context
from opentelemetry import metrics, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from pywats_otel import semconv
from pywats_otel._base.otel import PerMeterProvider, create_instrument
from pywats_otel._base.ratelimit import warn_once
from pywats_otel._base.trace_ids import WANTED_TRACE_ID_KEY, WantedTraceId, new_trace_id

__all__ = ["HttpTelemetry", "error_type", "route_template"]

_ID = "{id}"
_MAX_ROUTES = 512


class _Routes:
    """pyWATS's known API paths (``pywats.core.routes.Routes``), to template a called path."""

    def __init__(self) -> None:
        self._known: frozenset[str] | None = None
        self._cache: dict[str, str] = {}

    def _load(self) -> frozenset[str]:
        known: set[str] = set()
        try:
            from pywats.core.routes import Routes

            def walk(owner: type) -> None:
                for value in vars(owner).values():
                    if isinstance(value, str) and value.startswith("/"):
                        known.add(value.rstrip("/"))
                    elif isinstance(value, type) and value.__qualname__.startswith("Routes."):
                        walk(value)

            walk(Routes)
        except Exception:  # noqa: BLE001 - without the table every path is templated alike
            warn_once(
                "pywats-routes",
                "pywats_otel: pyWATS's route table could not be read; API spans name the "
                "first two path segments only",
                exc_info=True,
            )
        return frozenset(known)

    def template(self, endpoint: str) -> str:
        cached = self._cache.get(endpoint)
        if cached is not None:
            return cached
        known = self._known
        if known is None:
            known = self._known = self._load()
        path = endpoint.split("?", 1)[0].split("#", 1)[0]
        if not path.startswith("/"):
            path = "/" + path
        segments = path.rstrip("/").split("/")[1:]
        # The longest known route that the path starts with; what follows are identifiers.
        keep = min(2, len(segments))
        for length in range(len(segments), 0, -1):
            if "/" + "/".join(segments[:length]) in known:
                keep = length
                break
        route = "/" + "/".join(segments[:keep] + [_ID] * (len(segments) - keep))
        if len(self._cache) >= _MAX_ROUTES:
            self._cache.clear()
        self._cache[endpoint] = route
        return route


_routes = _Routes()


def route_template(endpoint: str) -> str:
    """``endpoint`` with identifiers replaced: ``/api/Production/Unit/{id}/{id}``."""
    return _routes.template(endpoint)


def error_type(exc: BaseException) -> str:
    """The exception's class, qualified by its module unless it is a builtin: pyWATS's own
    ``ConnectionError`` is ``pywats.core.exceptions.ConnectionError``, not the builtin."""
    kind = type(exc)
    module = kind.__module__
    return kind.__qualname__ if module == "builtins" else f"{module}.{kind.__qualname__}"


class _Instruments:
    def __init__(self, meter: metrics.Meter) -> None:
        self.duration = create_instrument(meter, semconv.PYWATS_API_REQUEST_DURATION)
        self.errors = create_instrument(meter, semconv.PYWATS_LEGACY_ERRORS)


def _server(base_url: object, cache: dict[object, tuple[str | None, int | None]]) -> Any:
    found = cache.get(base_url)
    if found is None:
        try:
            parts = urlsplit(str(base_url))
            port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
            found = (parts.hostname, port)
        except ValueError:
            found = (None, None)
        if len(cache) < 64:
            cache[base_url] = found
    return found


class HttpTelemetry:
    """The wrappers of ``_make_request`` and ``_run_sync``, on the given or global providers."""

    def __init__(
        self,
        tracer_provider: trace.TracerProvider | None,
        meter_provider: metrics.MeterProvider | None,
        *,
        legacy_metrics: bool,
    ) -> None:
        from pywats_otel._base.otel import tracer as global_tracer
        from pywats_otel._version import __version__

        if tracer_provider is None:
            self._tracer: Callable[[], trace.Tracer] = global_tracer
        else:
            fixed = tracer_provider.get_tracer(semconv.SCOPE_NAME, __version__)
            self._tracer = lambda: fixed
        if meter_provider is None:
            self._instruments: Callable[[], _Instruments] = PerMeterProvider(_Instruments).get
        else:
            built = _Instruments(meter_provider.get_meter(semconv.SCOPE_NAME, __version__))
            self._instruments = lambda: built
        self._legacy = legacy_metrics
        self._servers: dict[object, tuple[str | None, int | None]] = {}

    # -- one span per API call

    async def make_request(
        self,
        wrapped: Callable[..., Awaitable[Any]],
        instance: Any,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Any:
        started = self._start(instance, args, kwargs)
        if started is None:
            return await wrapped(*args, **kwargs)
        span, token, attributes, began = started
        try:
            response = await wrapped(*args, **kwargs)
        except BaseException as exc:
            self._finish(span, token, attributes, began, exc=exc)
            raise
        self._finish(span, token, attributes, began, response=response)
        return response

    def _start(
        self, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[trace.Span, object, dict[str, Any], float] | None:
        try:
            method = args[0] if args else kwargs.get("method")
            endpoint = args[1] if len(args) > 1 else kwargs.get("endpoint")
            method_text = str(method).upper()
            route = route_template(str(endpoint))
            attributes: dict[str, Any] = {
                semconv.HTTP_REQUEST_METHOD: method_text,
                semconv.PYWATS_API_ROUTE: route,
            }
            span_attributes = dict(attributes)
            host, port = _server(getattr(instance, "base_url", None), self._servers)
            if host:
                span_attributes[semconv.SERVER_ADDRESS] = host
            if port:
                span_attributes[semconv.SERVER_PORT] = port
            span = self._tracer().start_span(
                semconv.SPAN_PYWATS_API.format(method=method_text, route=route),
                kind=SpanKind.INTERNAL,
                attributes=span_attributes,
            )
            token = otel_context.attach(trace.set_span_in_context(span))
        except Exception:  # noqa: BLE001 - the call goes on untraced
            warn_once("pywats-http", "pywats_otel: tracing a pyWATS call failed", exc_info=True)
            return None
        return span, token, attributes, time.perf_counter()

    def _finish(
        self,
        span: trace.Span,
        token: object,
        attributes: dict[str, Any],
        began: float,
        *,
        response: Any = None,
        exc: BaseException | None = None,
    ) -> None:
        elapsed = time.perf_counter() - began
        try:
            otel_context.detach(token)  # type: ignore[arg-type]
            if exc is not None:
                kind = error_type(exc)
                attributes[semconv.ERROR_TYPE] = kind
                span.set_attribute(semconv.ERROR_TYPE, kind)
                span.record_exception(exc)
                span.set_status(Status(StatusCode.ERROR, f"{kind}: {exc}"))
            else:
                status = getattr(response, "status_code", None)
                if isinstance(status, int):
                    attributes[semconv.HTTP_RESPONSE_STATUS_CODE] = status
                    span.set_attribute(semconv.HTTP_RESPONSE_STATUS_CODE, status)
                    if status >= 400:
                        attributes[semconv.ERROR_TYPE] = str(status)
                        span.set_attribute(semconv.ERROR_TYPE, str(status))
                        span.set_status(Status(StatusCode.ERROR))
            instruments = self._instruments()
            instruments.duration.record(elapsed, attributes)
            if self._legacy and semconv.ERROR_TYPE in attributes:
                instruments.errors.add(
                    1,
                    {
                        semconv.PYWATS_LEGACY_ERROR_TYPE: attributes[semconv.ERROR_TYPE],
                        semconv.PYWATS_LEGACY_OPERATION: (
                            f"{attributes[semconv.HTTP_REQUEST_METHOD]} "
                            f"{attributes[semconv.PYWATS_API_ROUTE]}"
                        ),
                    },
                )
        except Exception:  # noqa: BLE001 - telemetry never breaks the call
            warn_once("pywats-http", "pywats_otel: tracing a pyWATS call failed", exc_info=True)
        finally:
            span.end()

    # -- the sync API

    def run_sync(
        self,
        wrapped: Callable[..., Any],
        instance: object,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Any:
        try:
            coro, timeout, correlation_id = _bind_run_sync(*args, **kwargs)
            context = otel_context.get_current()
            span_context = trace.get_current_span(context).get_span_context()
            if span_context.is_valid:
                trace_id = span_context.trace_id
            else:
                # The call's first span (its API call) starts a trace with this ID: asked of
                # the ID generator through the context, which the coroutine runs in.
                trace_id = new_trace_id()
                context = otel_context.set_value(
                    WANTED_TRACE_ID_KEY, WantedTraceId(trace_id, random=True), context
                )
            # pyWATS made an ID of its own unless its SyncConfig turned them off.
            correlation = format(trace_id, "032x") if correlation_id is not None else None
            carried = _carry(coro, context, correlation)
        except Exception:  # noqa: BLE001 - the call goes on as pyWATS has it
            warn_once("pywats-sync", "pywats_otel: tracing a pyWATS call failed", exc_info=True)
            return wrapped(*args, **kwargs)
        try:
            return wrapped(carried, timeout, correlation)
        except BaseException:
            # Never started (no loop, say): closed, so that only pyWATS's own coroutine is
            # reported as never awaited, as it is without telemetry.
            carried.close()
            raise


def _bind_run_sync(
    coro: Coroutine[Any, Any, Any], timeout: float | None = None, correlation_id: str | None = None
) -> tuple[Coroutine[Any, Any, Any], float | None, str | None]:
    return coro, timeout, correlation_id


def _correlation_var() -> ContextVar[str | None] | None:
    module = sys.modules.get("pywats.pywats")
    variable = getattr(module, "correlation_id_var", None)
    return variable if isinstance(variable, ContextVar) else None


async def _carry(
    coro: Coroutine[Any, Any, Any], context: otel_context.Context, correlation: str | None
) -> Any:
    """Await pyWATS's coroutine in the caller's context, with pyWATS's correlation ID set."""
    token = otel_context.attach(context)
    variable = _correlation_var()
    variable_token = variable.set(correlation) if variable is not None and correlation else None
    try:
        return await coro
    finally:
        if variable is not None and variable_token is not None:
            variable.reset(variable_token)
        otel_context.detach(token)
