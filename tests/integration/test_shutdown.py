"""shutdown() tells the truth: False and one warning when data was left behind, and every span
produced accounted for as exported, failed or dropped, against real collectors."""

from __future__ import annotations

import logging

import pytest
from opentelemetry import trace

from pywats_otel import init_telemetry
from pywats_otel.testing.otlp import BlackHole, OTLPReceiver

PROTOCOLS = ["grpc", "http/protobuf"]
PRODUCED = 3000


def _produce(count: int = PRODUCED) -> None:
    tracer = trace.get_tracer("station")
    for index in range(count):
        with tracer.start_as_current_span("step", attributes={"step": index}):
            pass


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_black_holed_collector_makes_shutdown_false_and_every_span_is_counted(
    protocol: str, caplog: pytest.LogCaptureFixture
) -> None:
    """3,000 spans, a collector that accepts and never answers, shutdown(timeout_s=3): False
    (it said True, logged nothing, and 952 of 3,000 spans were accounted for)."""
    with BlackHole() as hole:
        telemetry = init_telemetry(
            otlp_endpoint=hole.endpoint,
            otlp_protocol=protocol,
            metrics_exporter="none",
            logs_exporter="none",
            instrumentations="none",
        )
        _produce()
        with caplog.at_level(logging.WARNING, logger="pywats_otel"):
            clean = telemetry.shutdown(timeout_s=3)
            again = telemetry.shutdown(timeout_s=3)
        [traces] = telemetry.status()["traces"]
        shutdown = telemetry.status()["shutdown"]
    assert (clean, again) == (False, False)
    assert traces["exported"] == 0
    assert traces["exported"] + traces["failed"] + traces["dropped"] == PRODUCED
    assert traces["pending"] == 0
    # The full queue, and the batch being exported unless closing the gRPC channel failed it.
    left = traces["left_behind"]
    assert left in (2048, 2048 + 512)
    assert traces["failed"] == 2048 + 512 - left
    warnings = [
        r.getMessage() for r in caplog.records if r.getMessage().startswith("pywats_otel: shutdown")
    ]
    assert len(warnings) == 1
    assert f"traces left {left} spans behind (otlp)" in warnings[0]
    assert shutdown["clean"] is False
    assert shutdown["problems"] == [f"traces left {left} spans behind (otlp)"]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_healthy_collector_gets_everything_and_shutdown_is_true(protocol: str) -> None:
    with OTLPReceiver(protocol) as receiver:
        telemetry = init_telemetry(
            otlp_endpoint=receiver.endpoint,
            otlp_protocol=protocol,
            metrics_exporter="none",
            logs_exporter="none",
            instrumentations="none",
        )
        _produce()
        clean = telemetry.shutdown(timeout_s=10)
        [traces] = telemetry.status()["traces"]
        received = len(receiver.spans)
    assert clean is True
    assert received == PRODUCED
    assert (traces["exported"], traces["failed"], traces["dropped"]) == (PRODUCED, 0, 0)
    assert (traces["pending"], traces["left_behind"]) == (0, 0)
