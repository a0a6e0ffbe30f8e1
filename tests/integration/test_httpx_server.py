"""httpx against a real HTTP server on 127.0.0.1: spans, metric and headers on the wire."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from opentelemetry.trace import SpanKind, StatusCode

from pywats_otel import semconv
from pywats_otel.instrumentation import instrument_client
from pywats_otel.testing import capture_telemetry
from pywats_otel.testing.otlp import free_port


def _traceparent(span: Any) -> str:
    context = span.context
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{int(context.trace_flags):02x}"


def test_sync_clients_built_before_and_after_init_telemetry_are_traced(http_server: Any) -> None:
    """Both clients give CLIENT spans, the duration metric, traceparent and X-Correlation-ID."""
    before = httpx.Client(base_url=http_server.url)
    try:
        with capture_telemetry() as captured, httpx.Client(base_url=http_server.url) as after:
            assert before.get("/api/ping").status_code == 200
            assert after.post("/api/report", json={"serial": "SN1"}).status_code == 200
            get, post = captured.spans("GET"), captured.spans("POST")
            points = captured.metric_points(semconv.HTTP_CLIENT_REQUEST_DURATION)
    finally:
        before.close()
    [get_span], [post_span] = get, post
    assert get_span.kind is SpanKind.CLIENT
    assert dict(get_span.attributes or {}) == {
        "http.request.method": "GET",
        "url.full": f"{http_server.url}/api/ping",
        "server.address": "127.0.0.1",
        "server.port": http_server.port,
        "network.peer.address": "127.0.0.1",
        "network.peer.port": http_server.port,
        "http.response.status_code": 200,
        "network.protocol.version": "1.1",
    }
    for index, span in enumerate((get_span, post_span)):
        assert http_server.header(index, "traceparent") == _traceparent(span)
        assert http_server.header(index, "X-Correlation-ID") == f"{span.context.trace_id:032x}"
    by_method = {attrs["http.request.method"]: (attrs, p) for attrs, p in points}
    assert set(by_method) == {"GET", "POST"}
    assert by_method["POST"][0] == {
        "http.request.method": "POST",
        "server.address": "127.0.0.1",
        "server.port": http_server.port,
        "http.response.status_code": 200,
        "network.protocol.version": "1.1",
    }
    assert all(p.count == 1 for _, p in by_method.values())


def test_async_clients_are_traced(http_server: Any) -> None:
    """An AsyncClient on httpx's own transport gives the same span, headers and metric."""

    async def main() -> int:
        async with httpx.AsyncClient(base_url=http_server.url) as client:
            response = await client.put("/api/report/SN2", json={"result": "P"})
            return response.status_code

    with capture_telemetry() as captured:
        assert asyncio.run(main()) == 200
        [span] = captured.spans("PUT")
        [(attributes, point)] = captured.metric_points(semconv.HTTP_CLIENT_REQUEST_DURATION)
    assert http_server.header(0, "traceparent") == _traceparent(span)
    assert http_server.header(0, "X-Correlation-ID") == f"{span.context.trace_id:032x}"
    assert span.attributes is not None
    assert span.attributes["url.full"] == f"{http_server.url}/api/report/SN2"
    assert attributes["http.request.method"] == "PUT"
    assert attributes["http.response.status_code"] == 200
    assert point.count == 1


def test_server_errors_and_refused_connections_carry_error_type(http_server: Any) -> None:
    """A 500 and a refused connection each give error.type on span and duration metric; the
    ConnectError reaches the caller unchanged."""
    http_server.plan["/api/report"] = [500]
    closed_port = free_port()
    with capture_telemetry() as captured, httpx.Client() as client:
        assert client.post(f"{http_server.url}/api/report", json={}).status_code == 500
        with pytest.raises(httpx.ConnectError):
            client.get(f"http://127.0.0.1:{closed_port}/api/ping")
        post, get = captured.spans("POST"), captured.spans("GET")
        points = captured.metric_points(semconv.HTTP_CLIENT_REQUEST_DURATION)
    [post_span], [get_span] = post, get
    assert post_span.status.status_code is StatusCode.ERROR
    assert post_span.attributes is not None
    assert post_span.attributes["error.type"] == "500"
    assert get_span.status.status_code is StatusCode.ERROR
    assert get_span.attributes is not None
    assert get_span.attributes["error.type"] == "ConnectError"
    [(attributes, _)] = [(a, p) for a, p in points if a.get("http.response.status_code") == 500]
    assert attributes["error.type"] == "500"
    # The stock instrumentor records no duration for an exception; pywats_otel does.
    [(refused, point)] = [(a, p) for a, p in points if a.get("error.type") == "ConnectError"]
    assert refused == {
        "http.request.method": "GET",
        "server.address": "127.0.0.1",
        "server.port": closed_port,
        "error.type": "ConnectError",
    }
    assert point.count == 1
    assert point.sum >= 0


def test_a_timeout_is_a_duration_point_with_its_error_type(http_server: Any) -> None:
    """A request cut by the client's timeout counts in the duration metric as ReadTimeout."""
    http_server.delay["/api/slow"] = 1.0
    with capture_telemetry() as captured, httpx.Client(timeout=0.2) as client:
        with pytest.raises(httpx.ReadTimeout):
            client.get(f"{http_server.url}/api/slow")
        points = captured.metric_points(semconv.HTTP_CLIENT_REQUEST_DURATION)
    [(attributes, point)] = points
    assert attributes["error.type"] == "ReadTimeout"
    assert point.count == 1
    assert point.sum >= 0.2


def test_leaving_httpx_out_sends_no_trace_headers(http_server: Any) -> None:
    """With instrumentations=threading no span is made and no trace header leaves."""
    with capture_telemetry(instrumentations="threading") as captured, httpx.Client() as client:
        client.get(f"{http_server.url}/api/ping")
        spans = captured.spans()
        points = captured.metric_points(semconv.HTTP_CLIENT_REQUEST_DURATION)
    assert spans == []
    assert points == []
    assert http_server.header(0, "traceparent") is None
    assert http_server.header(0, "X-Correlation-ID") is None


def test_instrument_client_on_a_default_client_does_not_trace_twice(http_server: Any) -> None:
    """A default client is covered once, whether or not instrument_client() is called on it."""
    with capture_telemetry() as captured, httpx.Client() as client:
        instrument_client(client)
        client.get(f"{http_server.url}/api/ping")
        spans = captured.spans()
    [span] = spans
    assert span.name == "GET"
    assert span.parent is None
