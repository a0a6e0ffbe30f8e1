"""pywats_otel's own httpx instrumentation against the stock HTTPXClientInstrumentor on the
stable HTTP conventions: the same requests through each, the same telemetry.

Compared per request: span name, kind, attributes, status (code and description), events and
parent; the points of ``http.client.request.duration`` (attributes and counts). The listed
differences (docs/performance.md) are asserted as differences: the instrumentation scope, the
correlation header, the point of a request that ends in an exception, and sensitive query keys
beyond the semantic conventions' four.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

from pywats_otel import semconv
from pywats_otel.instrumentation import _httpx_own, _httpx_stock
from pywats_otel.testing import CapturedTelemetry, capture_telemetry

Handler = Callable[[httpx.Request], httpx.Response]


def _answer(status: int, headers: dict[str, str] | None = None) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, headers=headers, text="ok")

    return handler


def _refuse(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("[Errno 111] Connection refused", request=request)


# (method, URL, handler): what each instrumentation is given, one client per request.
REQUESTS: dict[str, tuple[str, str, Handler]] = {
    "GET 200, explicit port": ("GET", "http://127.0.0.1:8080/api/App/Version", _answer(200)),
    "POST 201, default https port": (
        "POST",
        "https://wats.example.test/api/Report/WSJF",
        _answer(201),
    ),
    "PUT 404": ("PUT", "http://wats.example.test:81/api/x", _answer(404)),
    "DELETE 500": ("DELETE", "http://wats.example.test/api/Unit/1", _answer(500)),
    "redirect 302": ("GET", "http://wats.example.test/old", _answer(302, {"location": "/new"})),
    "unknown method": ("FOO", "http://wats.example.test/api", _answer(200)),
    "credentials and a signature": (
        "GET",
        "https://user:pw@wats.example.test/api?sig=abc&x=1",
        _answer(200),
    ),
    "query kept": ("GET", "http://wats.example.test/api?station=7&n=2", _answer(200)),
}


def _shape(span: Any) -> dict[str, Any]:
    parent = span.parent.span_id if span.parent is not None else None
    return {
        "name": span.name,
        "kind": span.kind,
        "attributes": dict(span.attributes or {}),
        "status": (span.status.status_code, span.status.description),
        "events": [(e.name, dict(e.attributes or {})) for e in span.events],
        "parent": parent,
        "trace": span.context.trace_id if parent is not None else None,
    }


def _points(captured: CapturedTelemetry) -> list[tuple[dict[str, Any], int]]:
    found = captured.metric_points(semconv.HTTP_CLIENT_REQUEST_DURATION)
    return sorted(((a, p.count) for a, p in found), key=repr)


def _without_scope_noise(shape: dict[str, Any]) -> dict[str, Any]:
    """The exception event's stack trace differs (different frames): compare the rest."""
    events = [
        (name, {k: v for k, v in attrs.items() if k != "exception.stacktrace"})
        for name, attrs in shape["events"]
    ]
    return {**shape, "events": events}


def _run(
    which: str, method: str, url: str, handler: Handler, *, parent: bool = False
) -> tuple[list[dict[str, Any]], list[tuple[dict[str, Any], int]], list[httpx.Headers], Any]:
    sent: list[httpx.Headers] = []

    def recording(request: httpx.Request) -> httpx.Response:
        sent.append(request.headers)
        return handler(request)

    chosen = "stock" if which == "stock" else "pywats_otel"
    with (
        capture_telemetry(httpx_instrumentation=chosen) as captured,
        httpx.Client(transport=httpx.MockTransport(recording)) as client,
    ):
        if which == "stock":
            # The stock instrumentor alone, as opentelemetry-instrument would set it up.
            with _httpx_stock._stable_http_semconv():
                HTTPXClientInstrumentor.instrument_client(client)
        else:
            _httpx_own.instrument_client(client, "X-Correlation-ID")
        parent_id = None
        outer: Any = None
        try:
            if parent:
                with trace.get_tracer("test").start_as_current_span("upload") as outer:
                    client.request(method, url)
            else:
                client.request(method, url)
        except httpx.HTTPError:
            pass
        if outer is not None:
            parent_id = outer.get_span_context()
        spans = [_shape(s) for s in captured.spans() if s.name != "upload"]
        points = _points(captured)
        if which == "stock":
            HTTPXClientInstrumentor.uninstrument_client(client)
        else:
            _httpx_own.uninstrument_client(client)
    return spans, points, sent, parent_id


def _same_except_parent(ours: list[dict[str, Any]], stock: list[dict[str, Any]]) -> None:
    assert len(ours) == len(stock) == 1
    a, b = (_without_scope_noise(s) for s in (ours[0], stock[0]))
    for shape in (a, b):
        shape.pop("parent")
        shape.pop("trace")
    assert a == b


@pytest.mark.parametrize("case", list(REQUESTS))
def test_the_same_span_and_metric_point_as_the_stock_instrumentor(case: str) -> None:
    method, url, handler = REQUESTS[case]
    ours, our_points, _, _ = _run("ours", method, url, handler)
    stock, stock_points, _, _ = _run("stock", method, url, handler)
    _same_except_parent(ours, stock)
    assert our_points == stock_points
    assert our_points, "every answered request is a point"


def test_the_values_compared_are_the_stable_conventions_ones() -> None:
    """One case spelled out, so that a change on both sides cannot pass unnoticed."""
    method, url, handler = REQUESTS["DELETE 500"]
    [span], points, _, _ = _run("ours", method, url, handler)
    assert span["name"] == "DELETE"
    assert span["kind"] is trace.SpanKind.CLIENT
    assert span["attributes"] == {
        "http.request.method": "DELETE",
        "url.full": "http://wats.example.test/api/Unit/1",
        "server.address": "wats.example.test",
        "network.peer.address": "wats.example.test",
        "http.response.status_code": 500,
        "error.type": "500",
        "network.protocol.version": "1.1",
    }
    assert span["status"] == (trace.StatusCode.ERROR, None)
    assert points == [
        (
            {
                "http.request.method": "DELETE",
                "server.address": "wats.example.test",
                "http.response.status_code": 500,
                "error.type": "500",
                "network.protocol.version": "1.1",
            },
            1,
        )
    ]
    [unknown], _, _, _ = _run("ours", *REQUESTS["unknown method"])
    assert unknown["name"] == "HTTP"
    assert unknown["attributes"]["http.request.method"] == "_OTHER"
    assert unknown["attributes"]["http.request.method_original"] == "FOO"


def test_a_transport_exception_gives_the_same_span_and_ours_counts_it() -> None:
    """Same span (error.type, exception event, status description); the stock instrumentor
    records no point for it, pywats_otel records one with error.type (a listed difference)."""
    ours, our_points, _, _ = _run("ours", "POST", "http://127.0.0.1:9/api", _refuse)
    stock, stock_points, _, _ = _run("stock", "POST", "http://127.0.0.1:9/api", _refuse)
    _same_except_parent(ours, stock)
    assert ours[0]["status"] == (
        trace.StatusCode.ERROR,
        "ConnectError: [Errno 111] Connection refused",
    )
    assert [name for name, _ in ours[0]["events"]] == ["exception"]
    assert stock_points == []
    assert our_points == [
        (
            {
                "http.request.method": "POST",
                "server.address": "127.0.0.1",
                "server.port": 9,
                "error.type": "ConnectError",
            },
            1,
        )
    ]


def test_the_client_span_is_a_child_of_the_current_span_and_headers_carry_it() -> None:
    """traceparent as the stock one writes it; pywats_otel adds the correlation header."""
    for which in ("ours", "stock"):
        [span], _, sent, outer = _run(which, *REQUESTS["GET 200, explicit port"], parent=True)
        assert span["parent"] == outer.span_id
        assert span["trace"] == outer.trace_id
        [headers] = sent
        assert headers["traceparent"].split("-")[1] == format(outer.trace_id, "032x")
        if which == "ours":
            assert headers["X-Correlation-ID"] == format(outer.trace_id, "032x")
        else:
            assert "X-Correlation-ID" not in headers


@pytest.fixture
def capture_headers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_CLIENT_REQUEST", "x-station,authorization"
    )
    monkeypatch.setenv("OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_CLIENT_RESPONSE", "x-report-.*")
    monkeypatch.setenv(
        "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SANITIZE_FIELDS", "authorization,.*secret.*"
    )


@pytest.mark.usefixtures("capture_headers")
def test_captured_headers_are_the_stock_instrumentor_s() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, headers={"X-Report-Id": "r1, r2", "X-Report-Secret": "s", "Other": "o"}
        )

    def run(which: str) -> dict[str, Any]:
        with (
            capture_telemetry(
                httpx_instrumentation="stock" if which == "stock" else "pywats_otel"
            ) as captured,
            httpx.Client(
                transport=httpx.MockTransport(handler),
                headers={"X-Station": "st-1", "Authorization": "Basic abc"},
            ) as client,
        ):
            if which == "stock":
                with _httpx_stock._stable_http_semconv():
                    HTTPXClientInstrumentor.instrument_client(client)
            else:
                _httpx_own.instrument_client(client, "X-Correlation-ID")
            client.get("http://wats.example.test/")
            [span] = captured.spans("GET")
            if which == "stock":
                HTTPXClientInstrumentor.uninstrument_client(client)
            else:
                _httpx_own.uninstrument_client(client)
        return dict(span.attributes or {})

    ours, stock = run("ours"), run("stock")
    assert ours == stock
    assert ours["http.request.header.x_station"] == ("st-1",)
    assert ours["http.request.header.authorization"] == ("[REDACTED]",)
    assert ours["http.response.header.x_report_id"] == ("r1", "r2")
    assert ours["http.response.header.x_report_secret"] == ("[REDACTED]",)
    assert "http.response.header.other" not in ours


def test_excluded_urls_are_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_PYTHON_HTTPX_EXCLUDED_URLS", "/health")
    sent: list[httpx.Headers] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request.headers)
        return httpx.Response(200)

    with capture_telemetry() as captured, httpx.Client(transport=httpx.MockTransport(handler)) as c:
        _httpx_own.instrument_client(c, "X-Correlation-ID")
        c.get("http://wats.example.test/health/live")
        c.get("http://wats.example.test/api")
        names = [s.attributes["url.full"] for s in captured.spans() if s.attributes]
        _httpx_own.uninstrument_client(c)
    assert names == ["http://wats.example.test/api"]
    assert "traceparent" not in sent[0]
    assert "traceparent" in sent[1]


def test_our_extra_sensitive_keys_are_redacted_where_the_stock_one_shows_them() -> None:
    """A listed difference: token= is not among the semantic conventions' four keys."""
    url = "http://wats.example.test/api?token=abc&x=1"
    [ours], _, _, _ = _run("ours", "GET", url, _answer(200))
    [stock], _, _, _ = _run("stock", "GET", url, _answer(200))
    assert ours["attributes"]["url.full"] == "http://wats.example.test/api?token=REDACTED&x=1"
    assert stock["attributes"]["url.full"] == url


def test_an_async_client_gives_the_same_telemetry() -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(500)

    async def run(which: str) -> tuple[dict[str, Any], list[tuple[dict[str, Any], int]]]:
        with capture_telemetry(
            httpx_instrumentation="stock" if which == "stock" else "pywats_otel"
        ) as captured:
            async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
                if which == "stock":
                    with _httpx_stock._stable_http_semconv():
                        HTTPXClientInstrumentor.instrument_client(client)
                else:
                    _httpx_own.instrument_client(client, "X-Correlation-ID")
                await client.post("https://wats.example.test:8443/api/Report/WSJF", json={})
                if which == "stock":
                    HTTPXClientInstrumentor.uninstrument_client(client)
                else:
                    _httpx_own.uninstrument_client(client)
            [span] = captured.spans("POST")
            return _shape(span), _points(captured)

    ours, our_points = asyncio.run(run("ours"))
    stock, stock_points = asyncio.run(run("stock"))
    _same_except_parent([ours], [stock])
    assert our_points == stock_points
    assert ours["attributes"]["server.port"] == 8443


def test_a_cancelled_request_ends_its_span_without_a_status() -> None:
    """A BaseException (a cancelled task) passes through; the span ends unset, no point."""

    async def handler(request: httpx.Request) -> httpx.Response:
        raise asyncio.CancelledError

    async def run() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            _httpx_own.instrument_client(client, "X-Correlation-ID")
            with pytest.raises(asyncio.CancelledError):
                await client.get("http://wats.example.test/")
            _httpx_own.uninstrument_client(client)

    with capture_telemetry() as captured:
        asyncio.run(run())
        [span] = captured.spans("GET")
        assert _points(captured) == []
    assert span.status.status_code is trace.StatusCode.UNSET
    assert span.end_time is not None
