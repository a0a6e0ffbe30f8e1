"""Export failures against real OTLP receivers on 127.0.0.1: each failure's own cause in
status() and in the warning, over gRPC (behind the SDK's DuplicateFilter) and HTTP."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry import trace

from pywats_otel import init_telemetry
from pywats_otel.testing.otlp import OTLPReceiver


@pytest.fixture(params=["grpc", "http/protobuf"])
def receiver(request: pytest.FixtureRequest) -> Iterator[OTLPReceiver]:
    with OTLPReceiver(request.param) as started:
        yield started


def _export_one(telemetry: object, name: str) -> str:
    with trace.get_tracer("test").start_as_current_span(name):
        pass
    telemetry.force_flush(timeout_s=10)  # type: ignore[attr-defined]
    [traces] = telemetry.status()["traces"]  # type: ignore[attr-defined]
    return str(traces["last_error"])


def test_each_rejection_is_reported_with_its_own_code(
    receiver: OTLPReceiver, clock: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Three rejections in a row, each a different code: status() names each in turn and the
    warnings (one per minute of the fake clock) name the code of their failure."""
    caplog.set_level(logging.WARNING, logger="pywats_otel.export")
    grpc = receiver.protocol == "grpc"
    codes: list[str | int] = (
        ["UNAUTHENTICATED", "PERMISSION_DENIED", "INVALID_ARGUMENT"] if grpc else [401, 403, 400]
    )
    telemetry = init_telemetry(
        service_name="failing-station",
        otlp_endpoint=receiver.endpoint,
        otlp_protocol=receiver.protocol,
        traces_exporter="otlp",
        metrics_exporter="none",
        logs_exporter="none",
        instrumentations="none",
    )
    seen = []
    for index, code in enumerate(codes):
        receiver.fail_next(code)
        seen.append(_export_one(telemetry, f"batch {index}"))
        clock.now += 61
    if grpc:
        assert seen == [f"{code}: the receiver answers {code} as planned" for code in codes]
    else:
        assert [error.split(" (", 1)[0] for error in seen] == [f"HTTP {code}" for code in codes]
        assert all("Failed to export spans batch code" in error for error in seen)
    warnings = [
        record.getMessage()
        for record in caplog.records
        if record.name == "pywats_otel.export" and "traces export to" in record.getMessage()
    ]
    assert len(warnings) == 3
    for warning, error in zip(warnings, seen, strict=True):
        assert f"failed: {error} (" in warning
    # A success afterwards is exported and counted.
    assert _export_one(telemetry, "after") == seen[-1]
    [traces] = telemetry.status()["traces"]
    assert (traces["exported"], traces["failed"], traces["consecutive_failures"]) == (1, 3, 0)
    assert [span.name for span in receiver.spans] == ["after"]


def test_a_refused_http_connection_names_the_cause(clock: Any) -> None:
    """Nothing listens: the warning and status() carry the transport error, not 'failed'."""
    from pywats_otel.testing.otlp import free_port

    telemetry = init_telemetry(
        otlp_endpoint=f"http://127.0.0.1:{free_port()}",
        otlp_protocol="http/protobuf",
        otlp_timeout=1000,
        traces_exporter="otlp",
        metrics_exporter="none",
        logs_exporter="none",
        instrumentations="none",
    )
    error = _export_one(telemetry, "lost")
    assert error.startswith("ConnectionError: "), error
    assert "Connection refused" in error
