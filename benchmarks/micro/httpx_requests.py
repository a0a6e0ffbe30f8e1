"""Micro: an httpx GET to 127.0.0.1 over keep-alive, and the same request to an in-process
connection pool (no network)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Callable
from timeit import default_timer
from typing import Any

from benchmarks import _setups
from benchmarks._harness import (
    CaseResult,
    Comparison,
    Operation,
    SetUpOperation,
    interleave_with_setup,
)
from benchmarks.micro import SECTION, Context
from benchmarks.micro._common import BARE, NONE, OURS, PLAN, STOCK
from benchmarks.micro._operations import httpx_by_hand
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
        100 if context.quick else 2_000,
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
    duration = bare.histogram(semconv.HTTP_CLIENT_REQUEST_DURATION)
    return httpx_by_hand(client, url, bare.tracer, duration)


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


ON_STOCK = "pywats_otel on the stock instrumentor"


def _variants(
    client: Any, url: str, ours: _setups.PywatsOtel, bare: _setups.BareSDK
) -> dict[str, SetUpOperation]:
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    from pywats_otel.instrumentation import _httpx_stock
    from pywats_otel.instrumentation import httpx as adapter

    stock = HTTPXClientInstrumentor()

    def nothing() -> Callable[[], None]:
        return lambda: None

    def stock_alone() -> Callable[[], None]:
        with _httpx_stock._stable_http_semconv():
            stock.instrument()
        undo: Callable[[], None] = stock.uninstrument
        return undo

    def turn_on(chosen: str) -> Callable[[], Callable[[], None]]:
        def set_up() -> Callable[[], None]:
            settings = ours.telemetry.settings.model_copy(update={"httpx_instrumentation": chosen})
            undo = adapter.turn_on(settings)
            assert undo is not None
            return undo

        return set_up

    def request() -> None:
        client.get(url)

    return {
        NONE: (nothing, request),
        BARE: (nothing, _request_by_hand(client, url, bare)),
        STOCK: (stock_alone, request),
        ON_STOCK: (turn_on("stock"), request),
        PLAN: (nothing, _request_plan(client, url)),
        OURS: (turn_on("pywats_otel"), request),
    }


def _compare(case: CaseResult) -> None:
    case.comparisons += [
        Comparison(
            f"{case.case}: pywats_otel's overhead / the stock instrumentor's",
            OURS,
            STOCK,
            kind="overhead ratio",
            base=NONE,
            goal=0.55,
            goal_text="<= 0.55",
        ),
        Comparison(
            f"{case.case}: pywats_otel's overhead / the bare SDK's by hand",
            OURS,
            BARE,
            kind="overhead ratio",
            base=NONE,
        ),
        Comparison(
            f"{case.case}: pywats_otel on the stock instrumentor / the stock instrumentor",
            ON_STOCK,
            STOCK,
            kind="overhead ratio",
            base=NONE,
        ),
    ]


def httpx_requests(
    ours: _setups.PywatsOtel, bare: _setups.BareSDK, rounds: int, ops: int, pool_ops: int
) -> list[CaseResult]:
    import httpx

    server = subprocess.Popen([sys.executable, "-c", _SERVER], stdout=subprocess.PIPE, text=True)
    client = httpx.Client()
    in_process = _setups.in_process_httpx_client()
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        url = f"http://127.0.0.1:{port}/upload?station=7"
        case = interleave_with_setup(
            SECTION,
            "httpx GET to 127.0.0.1 (keep-alive)",
            _variants(client, url, ours, bare),
            baseline=NONE,
            ops=ops,
            rounds=rounds,
        )
        _compare(case)
        stock_cost = case.median(STOCK) - case.median(NONE)
        case.notes.append(
            f"the stock instrumentor's own overhead is {stock_cost:.0f} µs per request (medians); "
            "every variant on init_telemetry()'s providers; pywats_otel adds the correlation "
            "header, URL redaction and failed requests in the metric"
        )
        case.extra["stock_overhead_us"] = stock_cost
        pool_case = interleave_with_setup(
            SECTION,
            "httpx request, in-process connection pool (no network)",
            _variants(in_process, url, ours, bare),
            baseline=NONE,
            ops=pool_ops,
            rounds=rounds,
        )
        _compare(pool_case)
        pool_case.notes.append(
            "the same request through httpx's own transport to a pool that answers in-process: "
            "what each variant adds, without a round trip's noise"
        )
        return [case, pool_case]
    finally:
        client.close()
        in_process.close()
        server.terminate()
        server.wait(5)
