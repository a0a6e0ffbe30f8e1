"""The httpx instrumentation without a network: MockTransport clients, hooks, redaction, undo.

Requests through httpx's own transport to a real server are in tests/integration.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.instrumentation import _semconv
from opentelemetry.instrumentation.httpx import RequestInfo
from opentelemetry.trace import SpanKind, StatusCode

from pywats_otel import init_telemetry, semconv
from pywats_otel._base.ratelimit import reset_warnings
from pywats_otel.instrumentation import httpx as adapter
from pywats_otel.instrumentation import instrument_client, uninstrument_client
from pywats_otel.testing import CapturedTelemetry, capture_telemetry


class Recorder:
    """A MockTransport handler that keeps the headers of each request."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.headers: list[httpx.Headers] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.headers.append(request.headers)
        return httpx.Response(self.status, text="ok")


@pytest.fixture(autouse=True)
def fresh_warnings() -> None:
    reset_warnings()


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def client(recorder: Recorder) -> Iterator[httpx.Client]:
    with httpx.Client(transport=httpx.MockTransport(recorder)) as built:
        yield built
        uninstrument_client(built)


def _traceparent(span: Any) -> str:
    context = span.context
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{int(context.trace_flags):02x}"


def test_a_client_with_a_custom_transport_is_traced_on_stable_conventions(
    client: httpx.Client, recorder: Recorder
) -> None:
    """instrument_client(): a CLIENT span with stable HTTP attributes and the duration metric."""
    with capture_telemetry() as captured:
        instrument_client(client)
        response = client.post("https://wats.example.test:8443/api/report", json={"id": 1})
        [span] = captured.spans("POST")
        [(attributes, point)] = captured.metric_points(semconv.HTTP_CLIENT_REQUEST_DURATION)
    assert response.status_code == 200
    assert span.kind is SpanKind.CLIENT
    assert dict(span.attributes or {}) == {
        "http.request.method": "POST",
        "url.full": "https://wats.example.test:8443/api/report",
        "server.address": "wats.example.test",
        "server.port": 8443,
        "network.peer.address": "wats.example.test",
        "network.peer.port": 8443,
        "http.response.status_code": 200,
        "network.protocol.version": "1.1",
    }
    assert attributes == {
        "http.request.method": "POST",
        "server.address": "wats.example.test",
        "server.port": 8443,
        "http.response.status_code": 200,
        "network.protocol.version": "1.1",
    }
    assert point.count == 1
    assert tuple(point.explicit_bounds) == semconv.HTTP_DURATION_BUCKETS
    assert captured.metric_points("http.client.duration") == []


def test_each_request_carries_traceparent_and_the_correlation_id(
    client: httpx.Client, recorder: Recorder
) -> None:
    """The server sees the CLIENT span's traceparent and its trace ID as X-Correlation-ID."""
    with capture_telemetry() as captured:
        instrument_client(client)
        with trace.get_tracer("test").start_as_current_span("upload report") as parent:
            client.get("http://wats.example.test/api/ping")
        [span] = captured.spans("GET")
    [headers] = recorder.headers
    assert headers["traceparent"] == _traceparent(span)
    assert headers["X-Correlation-ID"] == f"{span.context.trace_id:032x}"
    assert span.parent is not None
    assert span.parent.span_id == parent.get_span_context().span_id


def test_the_correlation_header_name_comes_from_the_setting_and_a_caller_s_value_stays(
    client: httpx.Client, recorder: Recorder
) -> None:
    """correlation_header names the header; a value the caller set on purpose is kept."""
    with capture_telemetry(correlation_header="X-Request-ID") as captured:
        instrument_client(client)
        client.get("http://wats.example.test/a")
        client.get("http://wats.example.test/b", headers={"X-Request-ID": "from-the-caller"})
        first, second = captured.spans("GET")
    assert recorder.headers[0]["X-Request-ID"] == f"{first.context.trace_id:032x}"
    assert "X-Correlation-ID" not in recorder.headers[0]
    assert recorder.headers[1]["X-Request-ID"] == "from-the-caller"
    assert recorder.headers[1]["traceparent"] == _traceparent(second)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "https://user:pa55@wats.example.test/api?x=1",
            "https://REDACTED:REDACTED@wats.example.test/api?x=1",
        ),
        (
            "https://wats.example.test/api?token=t0k&station=7&api_key=k3y",
            "https://wats.example.test/api?token=REDACTED&station=7&api_key=REDACTED",
        ),
        (
            "https://wats.example.test/api?APIKEY=a&Password=b&secret=c&sig=d&Signature=e",
            "https://wats.example.test/api?APIKEY=REDACTED&Password=REDACTED&secret=REDACTED"
            "&sig=REDACTED&Signature=REDACTED",
        ),
        (
            "https://s3.example.test/r?AWSAccessKeyId=A&X-Goog-Signature=B&access_token=C",
            "https://s3.example.test/r?AWSAccessKeyId=REDACTED&X-Goog-Signature=REDACTED"
            "&access_token=REDACTED",
        ),
        (
            "https://wats.example.test/api?%74oken=x",
            "https://wats.example.test/api?%74oken=REDACTED",
        ),
        ("https://wats.example.test/api?station=7", "https://wats.example.test/api?station=7"),
        ("https://wats.example.test/api", "https://wats.example.test/api"),
    ],
    ids=[
        "credentials",
        "token-api_key",
        "case",
        "semconv-and-suffix",
        "encoded-key",
        "clean",
        "bare",
    ],
)
def test_urls_on_spans_lose_credentials_and_sensitive_query_values(
    client: httpx.Client, url: str, expected: str
) -> None:
    """url.full never holds a password or the value of a sensitive query key."""
    assert adapter.redact_url(url) == expected
    with capture_telemetry() as captured:
        instrument_client(client)
        client.get(url)
        [span] = captured.spans("GET")
    assert span.attributes is not None
    assert span.attributes["url.full"] == expected


def test_a_500_sets_error_type_on_span_and_metric(recorder: Recorder) -> None:
    """An HTTP 500 is an ERROR span and error.type "500" on the duration metric."""
    recorder.status = 500
    with (
        capture_telemetry() as captured,
        httpx.Client(transport=httpx.MockTransport(recorder)) as client,
    ):
        instrument_client(client)
        assert client.get("http://wats.example.test/api").status_code == 500
        [span] = captured.spans("GET")
        [(attributes, _)] = captured.metric_points(semconv.HTTP_CLIENT_REQUEST_DURATION)
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes is not None
    assert span.attributes["error.type"] == "500"
    assert attributes["error.type"] == "500"
    assert attributes["http.response.status_code"] == 500


def test_an_async_client_is_traced_too() -> None:
    """AsyncClient with a custom async transport: span, headers and metric."""
    seen: list[httpx.Headers] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers)
        return httpx.Response(201)

    async def main(captured: CapturedTelemetry) -> int:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            instrument_client(client)
            response = await client.put("http://wats.example.test/api/report?sig=abc")
            uninstrument_client(client)
            return response.status_code

    with capture_telemetry() as captured:
        assert asyncio.run(main(captured)) == 201
        [span] = captured.spans("PUT")
        [(attributes, _)] = captured.metric_points(semconv.HTTP_CLIENT_REQUEST_DURATION)
    assert seen[0]["traceparent"] == _traceparent(span)
    assert seen[0]["X-Correlation-ID"] == f"{span.context.trace_id:032x}"
    assert span.attributes is not None
    assert span.attributes["url.full"] == "http://wats.example.test/api/report?sig=REDACTED"
    assert attributes["http.response.status_code"] == 201


def test_uninstrument_client_restores_client_and_transport_exactly(recorder: Recorder) -> None:
    """After uninstrument_client() the objects' attributes are identical to before."""
    transport = httpx.MockTransport(recorder)
    mounted = httpx.MockTransport(recorder)
    with capture_telemetry() as captured:
        client = httpx.Client(transport=transport, mounts={"http://other.test": mounted})
        client.get("http://wats.example.test/")  # the client's own state changes on first use
        before = {
            "client": dict(vars(client)),
            "transport": dict(vars(transport)),
            "mounted": dict(vars(mounted)),
        }
        instrument_client(client)
        instrument_client(client)  # idempotent
        assert "handle_request" in vars(transport)
        assert "handle_request" in vars(mounted)
        client.get("http://wats.example.test/")
        uninstrument_client(client)
        uninstrument_client(client)
        client.get("http://wats.example.test/")
        after = {
            "client": dict(vars(client)),
            "transport": dict(vars(transport)),
            "mounted": dict(vars(mounted)),
        }
        assert len(captured.spans("GET")) == 1
    assert after == before
    assert type(transport).handle_request is httpx.MockTransport.handle_request
    assert len(recorder.headers) == 3
    assert "traceparent" in recorder.headers[1]
    assert "traceparent" not in recorder.headers[2]


def test_init_telemetry_instruments_httpx_s_transports_and_undoes_it_exactly() -> None:
    """httpx's own transport methods are wrapped while telemetry runs and the same objects after."""
    originals = (
        vars(httpx.HTTPTransport)["handle_request"],
        vars(httpx.AsyncHTTPTransport)["handle_async_request"],
    )
    with capture_telemetry() as captured:
        assert "httpx" in captured.telemetry.instrumentations
        # pywats_otel's own instrumentation: one wrapper around each method.
        assert vars(httpx.HTTPTransport)["handle_request"].__wrapped__ is originals[0]
        assert vars(httpx.AsyncHTTPTransport)["handle_async_request"].__wrapped__ is originals[1]
    assert vars(httpx.HTTPTransport)["handle_request"] is originals[0]
    assert vars(httpx.AsyncHTTPTransport)["handle_async_request"] is originals[1]
    with capture_telemetry(httpx_instrumentation="stock") as captured:
        assert "httpx" in captured.telemetry.instrumentations
        # The stock instrumentor's wrapper, pywats_otel's failure recorder around it.
        assert vars(httpx.HTTPTransport)["handle_request"].__wrapped__.__wrapped__ is originals[0]
    assert vars(httpx.HTTPTransport)["handle_request"] is originals[0]
    assert vars(httpx.AsyncHTTPTransport)["handle_async_request"] is originals[1]


@pytest.mark.parametrize("how", ["setting", "otel-disabled"])
def test_leaving_httpx_out_of_the_setting_leaves_httpx_alone(
    how: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """instrumentations without httpx (or OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=httpx): no wrap."""
    original = vars(httpx.HTTPTransport)["handle_request"]
    settings: dict[str, Any] = {}
    if how == "setting":
        settings["instrumentations"] = "threading"
    else:
        monkeypatch.setenv("OTEL_PYTHON_DISABLED_INSTRUMENTATIONS", "httpx")
    with capture_telemetry(**settings) as captured:
        assert "httpx" not in captured.telemetry.instrumentations
        assert vars(httpx.HTTPTransport)["handle_request"] is original


def test_a_client_on_httpx_s_own_transport_is_not_wrapped_twice() -> None:
    """instrument_client() leaves a default client alone while init_telemetry() covers it."""
    with capture_telemetry(), httpx.Client() as client:
        before = dict(vars(client._transport))
        instrument_client(client)
        assert dict(vars(client._transport)) == before
        assert not getattr(client, "_is_instrumented_by_opentelemetry", False)


STABILITY = _semconv._OpenTelemetrySemanticConventionStability
HTTP_SIGNAL = _semconv._OpenTelemetryStabilitySignalType.HTTP


@pytest.fixture
def fresh_semconv_table(monkeypatch: pytest.MonkeyPatch) -> None:
    """The process-wide semconv stability table is read again from the environment."""
    monkeypatch.setattr(STABILITY, "_initialized", False)
    monkeypatch.setattr(STABILITY, "_OTEL_SEMCONV_STABILITY_SIGNAL_MAPPING", {})


@pytest.mark.usefixtures("fresh_semconv_table")
def test_a_user_s_http_dup_opt_in_is_kept(
    monkeypatch: pytest.MonkeyPatch, recorder: Recorder
) -> None:
    """OTEL_SEMCONV_STABILITY_OPT_IN=http/dup: old and new attributes, both URLs redacted."""
    monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "http/dup")
    with (
        capture_telemetry() as captured,
        httpx.Client(transport=httpx.MockTransport(recorder)) as client,
    ):
        instrument_client(client)
        client.get("http://wats.example.test/api?token=abc")
        [span] = captured.spans("GET")
        names = {"http.client.duration", "http.client.request.duration"}
        present = {name for name in names if captured.metric_points(name)}
    assert span.attributes is not None
    assert span.attributes["url.full"] == "http://wats.example.test/api?token=REDACTED"
    assert span.attributes["http.url"] == "http://wats.example.test/api?token=REDACTED"
    assert span.attributes["http.method"] == "GET"
    assert present == names
    table = STABILITY._OTEL_SEMCONV_STABILITY_SIGNAL_MAPPING
    assert table[HTTP_SIGNAL] is _semconv._StabilityMode.HTTP_DUP


@pytest.mark.usefixtures("fresh_semconv_table")
def test_other_instrumentations_keep_their_default_conventions() -> None:
    """Choosing stable HTTP for httpx does not change the process-wide table for others."""
    with capture_telemetry() as captured:
        assert "httpx" in captured.telemetry.instrumentations
        table = STABILITY._OTEL_SEMCONV_STABILITY_SIGNAL_MAPPING
        assert table[HTTP_SIGNAL] is _semconv._StabilityMode.DEFAULT


def test_a_failure_of_the_instrumentation_never_reaches_the_request(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch, recorder: Recorder
) -> None:
    """pywats_otel's own instrumentation: a failure while starting the span (here the
    propagator) is logged once; each request goes on and gets its answer, no span stays open."""
    from pywats_otel.instrumentation import _httpx_own

    def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError("odd propagator")

    monkeypatch.setattr(_httpx_own.w3c, "inject", explode)
    with (
        caplog.at_level(logging.WARNING, logger="pywats_otel"),
        capture_telemetry() as captured,
        httpx.Client(transport=httpx.MockTransport(recorder)) as client,
    ):
        instrument_client(client)
        answers = [client.get("http://wats.example.test/").status_code for _ in range(2)]
        spans = captured.spans("GET")
        uninstrument_client(client)
    assert answers == [200, 200]
    assert caplog.text.count("tracing an httpx request failed") == 1
    # Each started span was ended at once (and the request went on untraced).
    assert len(spans) == 2
    assert all(span.end_time is not None for span in spans)
    assert trace.get_current_span() is trace.INVALID_SPAN


def test_the_stock_instrumentor_s_hook_never_raises(caplog: pytest.LogCaptureFixture) -> None:
    """Headers that raise inside the hook are logged once; the request would go on."""
    from pywats_otel.instrumentation import _httpx_stock

    class Exploding:
        def __contains__(self, key: object) -> bool:
            raise RuntimeError("odd headers")

    hooks = _httpx_stock._Hooks((semconv.URL_FULL,))
    info = RequestInfo(b"GET", httpx.URL("http://x.test/"), Exploding(), None, None)  # type: ignore[arg-type]
    with (
        caplog.at_level(logging.WARNING, logger="pywats_otel"),
        capture_telemetry(),
        trace.get_tracer("test").start_as_current_span("GET") as span,
    ):
        hooks.request(span, info)
        hooks.request(span, info)
    assert caplog.text.count("httpx request hook failed") == 1


def test_instrument_client_before_init_telemetry_starts_tracing_after_it(
    recorder: Recorder,
) -> None:
    """A client instrumented before init_telemetry() sends no trace headers until telemetry runs."""
    client = httpx.Client(transport=httpx.MockTransport(recorder))
    try:
        instrument_client(client)
        client.get("http://wats.example.test/")
        assert "traceparent" not in recorder.headers[0]
        assert "X-Correlation-ID" not in recorder.headers[0]
        telemetry = init_telemetry(
            traces_exporter="none", metrics_exporter="none", logs_exporter="none"
        )
        client.get("http://wats.example.test/")
        assert "traceparent" in recorder.headers[1]
        assert recorder.headers[1]["X-Correlation-ID"] == recorder.headers[1]["traceparent"][3:35]
        telemetry.shutdown(timeout_s=2)
    finally:
        uninstrument_client(client)
        client.close()


def test_a_request_that_raises_still_counts_in_the_duration_metric() -> None:
    """A transport exception on an instrument_client() client: span and metric get error.type,
    and the caller gets the very exception the transport raised."""
    failure = httpx.ConnectTimeout("no answer")

    def refuse(request: httpx.Request) -> httpx.Response:
        raise failure

    with capture_telemetry() as captured, httpx.Client(transport=httpx.MockTransport(refuse)) as c:
        instrument_client(c)
        with pytest.raises(httpx.ConnectTimeout) as raised:
            c.post("https://wats.example.com/api/report")
        [span] = captured.spans("POST")
        points = captured.metric_points(semconv.HTTP_CLIENT_REQUEST_DURATION)
        uninstrument_client(c)
    assert raised.value is failure
    assert span.attributes is not None
    assert span.attributes["error.type"] == "ConnectTimeout"
    [(attributes, point)] = points
    # As on the stock instrumentor's points: no server.port for the scheme's default port.
    assert attributes == {
        "http.request.method": "POST",
        "server.address": "wats.example.com",
        "error.type": "ConnectTimeout",
    }
    assert point.count == 1
