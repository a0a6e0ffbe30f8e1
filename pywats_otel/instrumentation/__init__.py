"""Adapters that turn on third-party instrumentations (httpx, threading) for init_telemetry(),
and ``instrument_client()`` / ``uninstrument_client()`` for an httpx client of your own.

``init_telemetry()`` already covers every client that uses httpx's own transports; call
``instrument_client(client)`` for a client built with a custom transport.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pywats_otel._base.ratelimit import warn_once

if TYPE_CHECKING:
    import httpx

__all__ = ["instrument_client", "uninstrument_client"]


def instrument_client(client: httpx.Client | httpx.AsyncClient) -> None:
    """Trace one httpx client's requests (CLIENT spans, duration metric, traceparent and the
    correlation header), e.g. a client built with a custom transport. Never raises."""
    try:
        from pywats_otel.instrumentation import httpx as adapter
    except ImportError:
        warn_once(
            "httpx-missing",
            "pywats_otel: instrument_client() needs httpx and "
            "opentelemetry-instrumentation-httpx; install them with pip",
        )
        return
    adapter.instrument_client(client)


def uninstrument_client(client: httpx.Client | httpx.AsyncClient) -> None:
    """Undo :func:`instrument_client`; the client and its transports are exactly as before."""
    try:
        from pywats_otel.instrumentation import httpx as adapter
    except ImportError:
        return
    adapter.uninstrument_client(client)
