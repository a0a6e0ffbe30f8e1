"""Micro: an httpx GET to 127.0.0.1 over keep-alive, and the request hook alone."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Callable
from timeit import default_timer
from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind

from benchmarks import _setups
from benchmarks._harness import (
    CaseResult,
    Comparison,
    Operation,
    SetUpOperation,
    interleave,
    interleave_with_setup,
)
from benchmarks.micro import SECTION, Context
from benchmarks.micro._common import BARE, GOAL_SDK, NONE, OURS, PLAN, STOCK
from pywats_otel import semconv

ORDER = 80
USES = ("providers",)


def run(context: Context) -> list[CaseResult]:
    # Round trips are noisy: more, shorter rounds give the per-round ratios more weight.
    return httpx_requests(
        context.ours,
        context.bare,
        context.rounds * 2,
        60 if context.quick else 300,
        500 if context.quick else 20_000,
    )


# A minimal keep-alive HTTP server in its own process: it reads each request's head and sends
# a fixed answer, so that neither its parsing nor the GIL of the client's process blurs the
# client-side costs being compared (asyncio sets TCP_NODELAY on its sockets).
_SERVER = textwrap.dedent(
    """
    import asyncio

    ANSWER = b"HTTP/1.1 200 OK\\r\\nContent-Length: 2\\r\\n\\r\\nok"

    async def serve(reader, writer):
        try:
            while True:
                await reader.readuntil(b"\\r\\n\\r\\n")
                writer.write(ANSWER)
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def main():
        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        print(server.sockets[0].getsockname()[1], flush=True)
        await server.serve_forever()

    asyncio.run(main())
    """
)


def _request_by_hand(client: Any, url: str, bare: _setups.BareSDK) -> Operation:
    """A CLIENT span, traceparent and the correlation header, the duration histogram."""
    import httpx

    parsed = httpx.URL(url)
    host, port = parsed.host, parsed.port or 80
    duration = bare.histogram(semconv.HTTP_CLIENT_REQUEST_DURATION)
    span_attributes: dict[str, Any] = {
        semconv.HTTP_REQUEST_METHOD: "GET",
        semconv.URL_FULL: url,
        semconv.SERVER_ADDRESS: host,
        semconv.SERVER_PORT: port,
    }
    tracer = bare.tracer

    def operation() -> None:
        started = default_timer()
        with tracer.start_as_current_span(
            "GET", kind=SpanKind.CLIENT, attributes=span_attributes
        ) as span:
            headers: dict[str, str] = {}
            propagate.inject(headers)
            headers["X-Correlation-ID"] = format(span.get_span_context().trace_id, "032x")
            response = client.get(url, headers=headers)
            span.set_attribute(semconv.HTTP_RESPONSE_STATUS_CODE, response.status_code)
        duration.record(
            max(default_timer() - started, 0.0),
            {
                semconv.HTTP_REQUEST_METHOD: "GET",
                semconv.HTTP_RESPONSE_STATUS_CODE: response.status_code,
                semconv.SERVER_ADDRESS: host,
                semconv.SERVER_PORT: port,
                semconv.NETWORK_PROTOCOL_VERSION: "1.1",
            },
        )

    return operation


def _request_plan(client: Any, url: str) -> Operation:
    import httpx

    parsed = httpx.URL(url)
    host, port = parsed.host, str(parsed.port or 80)

    def operation() -> None:
        started = default_timer()
        response = client.get(url)
        _setups.PLAN_HTTP_DURATION.labels("GET", str(response.status_code), host, port).observe(
            max(default_timer() - started, 0.0)
        )

    return operation


def httpx_requests(
    ours: _setups.PywatsOtel, bare: _setups.BareSDK, rounds: int, ops: int, hook_ops: int
) -> list[CaseResult]:
    import httpx
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor, RequestInfo

    import pywats_otel.instrumentation.httpx as adapter

    server = subprocess.Popen([sys.executable, "-c", _SERVER], stdout=subprocess.PIPE, text=True)
    client = httpx.Client()
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        url = f"http://127.0.0.1:{port}/upload?station=7"
        stock = HTTPXClientInstrumentor()

        def nothing() -> Callable[[], None]:
            return lambda: None

        def stock_alone() -> Callable[[], None]:
            with adapter._stable_http_semconv():
                stock.instrument()
            undo: Callable[[], None] = stock.uninstrument
            return undo

        def pywats_otel() -> Callable[[], None]:
            undo = adapter.turn_on(ours.telemetry.settings)
            assert undo is not None
            return undo

        def request() -> None:
            client.get(url)

        variants: dict[str, SetUpOperation] = {
            NONE: (nothing, request),
            BARE: (nothing, _request_by_hand(client, url, bare)),
            STOCK: (stock_alone, request),
            PLAN: (nothing, _request_plan(client, url)),
            OURS: (pywats_otel, request),
        }
        case = interleave_with_setup(
            SECTION,
            "httpx GET to 127.0.0.1 (keep-alive)",
            variants,
            baseline=NONE,
            ops=ops,
            rounds=rounds,
        )
        stock_cost = case.median(STOCK) - case.median(NONE)
        case.comparisons += [
            Comparison(
                "httpx: pywats_otel's extra over the stock instrumentor, in % of the stock "
                "instrumentor's own overhead",
                OURS,
                STOCK,
                kind="share",
                base=NONE,
                goal=10.0,
                goal_text="<= 10 %",
            ),
            Comparison(
                "httpx: pywats_otel's overhead / the bare SDK's by hand",
                OURS,
                BARE,
                kind="overhead ratio",
                base=NONE,
                goal=GOAL_SDK,
                goal_text="<= 1.10",
            ),
            Comparison(
                "httpx: the stock instrumentor's overhead / the bare SDK's by hand",
                STOCK,
                BARE,
                kind="overhead ratio",
                base=NONE,
            ),
            Comparison("httpx: pywats_otel / prometheus_client, whole request", OURS, PLAN),
        ]
        case.notes.append(
            f"the stock instrumentor's own overhead is {stock_cost:.0f} µs per request (medians); "
            "stock instrumentor and pywats_otel run on init_telemetry()'s providers; pywats_otel "
            "adds the correlation header, URL redaction and the failure metric's wrapper"
        )
        case.extra["stock_overhead_us"] = stock_cost

        # The hook alone, inside a recording span, as the instrumentor calls it.
        hooks = adapter._Hooks((semconv.URL_FULL,))
        tracer = trace.get_tracer("bench.hook")
        plain_request = httpx.Request("GET", url)
        secret_request = httpx.Request("GET", url + "&token=abc")

        def make_operation(request: httpx.Request, call_hook: bool) -> Operation:
            # What the stock wrapper does around the hook (a RequestInfo, a span, a copy of the
            # headers), with and without the hook; the header the hook adds is taken out again
            # in both, so that only the hook's own work differs.
            def operation() -> None:
                info = RequestInfo(b"GET", request.url, request.headers, None, None)
                with tracer.start_as_current_span("GET", kind=SpanKind.CLIENT) as span:
                    if call_hook:
                        hooks.request(span, info)
                    httpx.Headers(request.headers)
                request.headers.pop("x-correlation-id", None)

            return operation

        hook_case = interleave(
            SECTION,
            "httpx request hook alone (no network)",
            {
                "span only": make_operation(plain_request, call_hook=False),
                "span + hook": make_operation(plain_request, call_hook=True),
                "span + hook, URL redacted": make_operation(secret_request, call_hook=True),
            },
            baseline="span only",
            ops=hook_ops,
            rounds=rounds,
        )
        hook_cost = hook_case.median("span + hook") - hook_case.median("span only")
        hook_case.notes.append(
            f"the hook (correlation header, URL check) costs {hook_cost:.2f} µs, "
            f"{100 * hook_cost / stock_cost:.1f} % of the stock instrumentor's overhead; "
            "it is timed apart because it is smaller than a round trip's noise"
        )
        return [case, hook_case]
    finally:
        client.close()
        server.terminate()
        server.wait(5)
