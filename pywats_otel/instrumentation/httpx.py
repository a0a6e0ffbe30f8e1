"""The ``httpx`` instrumentation: CLIENT spans, ``traceparent`` and the correlation header on
every request, ``http.client.request.duration``, URLs without credentials or sensitive query
values, failed requests counted with ``error.type``.

Two implementations make the same telemetry (setting ``httpx_instrumentation``):

- ``pywats_otel`` (the default): pywats_otel's own, at httpx's transport level
  (``_httpx_own``), at about half the stock instrumentor's cost;
- ``stock``: the stock ``HTTPXClientInstrumentor`` on the stable HTTP conventions, with
  pywats_otel's request hook and failure recorder around it (``_httpx_stock``).

A user's ``OTEL_SEMCONV_STABILITY_OPT_IN=http/dup`` (the old attributes and metric as well)
is the stock one's to serve: it is then used whatever the setting says.

``turn_on()`` instruments httpx's own transports, so clients built before and after
``init_telemetry()`` are covered; ``instrument_client()`` covers a client built with a custom
transport. Undoing either restores httpx as it was.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

import httpx

from pywats_otel._base import state
from pywats_otel._base.ratelimit import warn_once
from pywats_otel._base.redact import redact_url, sensitive_query_keys
from pywats_otel.instrumentation import _httpx_own

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
    "use_stock",
]

_logger = logging.getLogger("pywats_otel")


def _dup_opt_in() -> bool:
    """True when the user asked for the old HTTP conventions beside the stable ones."""
    from opentelemetry.instrumentation import _semconv

    stability = _semconv._OpenTelemetrySemanticConventionStability
    stability._initialize()  # type: ignore[no-untyped-call]
    table = stability._OTEL_SEMCONV_STABILITY_SIGNAL_MAPPING
    signal = _semconv._OpenTelemetryStabilitySignalType.HTTP
    return table.get(signal) is _semconv._StabilityMode.HTTP_DUP


def use_stock(chosen: str) -> bool:
    """Whether the stock instrumentor serves: chosen, or needed for ``http/dup``."""
    return chosen == "stock" or _dup_opt_in()


def _chosen() -> str:
    settings = state.settings()
    return settings.httpx_instrumentation if settings is not None else "pywats_otel"


def turn_on(settings: TelemetrySettings) -> Callable[[], None] | None:
    # The stock module is imported only where it serves (or was imported by someone else).
    stock = sys.modules.get("opentelemetry.instrumentation.httpx")
    instrumented = (
        stock is not None and stock.HTTPXClientInstrumentor().is_instrumented_by_opentelemetry
    )
    if instrumented and "opentelemetry.instrumentation.auto_instrumentation" in sys.modules:
        # opentelemetry-instrument instrumented httpx with no hooks before the program ran:
        # that is undone, and httpx traced as the setting says, with pywats_otel's additions.
        assert stock is not None
        stock.HTTPXClientInstrumentor().uninstrument()
        instrumented = False
    if instrumented or _httpx_own.is_on():
        warn_once(
            "httpx-instrumented-before",
            "pywats_otel: httpx was instrumented before init_telemetry(); that instrumentation "
            "stays, without the correlation header and pywats_otel's URL redaction",
        )
        return None
    if use_stock(settings.httpx_instrumentation):
        if settings.httpx_instrumentation != "stock":
            _logger.info(
                "pywats_otel: OTEL_SEMCONV_STABILITY_OPT_IN asks for http/dup; httpx is traced "
                "by the stock instrumentor, which makes the old attributes too"
            )
        from pywats_otel.instrumentation import _httpx_stock

        return _httpx_stock.turn_on(settings)
    return _httpx_own.turn_on(settings.correlation_header)


def instrument_client(client: httpx.Client | httpx.AsyncClient) -> None:
    """Trace the requests of one client, e.g. one built with a custom transport.

    A client whose transports are httpx's own is already covered by ``init_telemetry()`` (and
    is left alone, so its requests are not traced twice). Idempotent; never raises.
    """
    try:
        if use_stock(_chosen()):
            from pywats_otel.instrumentation import _httpx_stock

            _httpx_stock.instrument_client(client)
        else:
            _httpx_own.instrument_client(client, state.correlation_header())
    except Exception:
        warn_once("httpx-client", "pywats_otel: instrument_client() failed", exc_info=True)


def uninstrument_client(client: httpx.Client | httpx.AsyncClient) -> None:
    """Undo :func:`instrument_client`: the client and its transports are as they were."""
    try:
        if _httpx_own.uninstrument_client(client):
            return
        stock = sys.modules.get("pywats_otel.instrumentation._httpx_stock")
        if stock is not None:
            stock.uninstrument_client(client)
    except Exception:
        warn_once("httpx-client", "pywats_otel: uninstrument_client() failed", exc_info=True)
