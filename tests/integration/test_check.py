"""`pywats-otel check`: settings with sources, a real collector tried, the Prometheus port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from pywats_otel import init_telemetry
from pywats_otel.testing.otlp import OTLPReceiver, free_port

SECRET = "check-s3cr3t-token"


def run_check(**env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "PYWATS_OTEL_"))}
    return subprocess.run(
        [sys.executable, "-m", "pywats_otel", "check"],
        env={**clean, "PYWATS_OTEL_PROMETHEUS_HOST": "127.0.0.1", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_a_working_collector_passes_and_the_secret_stays_hidden(protocol: str) -> None:
    """Against a real receiver: exit 0, an ok line per check, sources shown, no header value."""
    with OTLPReceiver(protocol) as receiver:
        result = run_check(
            OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
            OTEL_EXPORTER_OTLP_PROTOCOL=protocol,
            OTEL_EXPORTER_OTLP_HEADERS=f"authorization=Bearer {SECRET}",
            PYWATS_OTEL_PROMETHEUS_PORT=str(free_port()),
        )
        headers = receiver.headers
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert f"ok   OTLP collector ({protocol} {receiver.endpoint}" in out
    assert "accepts exports" in out
    assert "ok   Prometheus endpoint (127.0.0.1:" in out
    assert "[environment variable OTEL_EXPORTER_OTLP_ENDPOINT]" in out
    assert "otlp_headers" in out
    assert SECRET not in out + result.stderr
    # The check really reached the collector, with the configured credentials.
    assert [h.get("authorization") for h in headers] == [f"Bearer {SECRET}"]


def test_a_collector_that_is_down_fails_with_a_hint() -> None:
    """A closed port: exit 1 and a FAIL line that says what to look at."""
    result = run_check(
        OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{free_port()}",
        PYWATS_OTEL_PROMETHEUS_PORT="0",
    )
    assert result.returncode == 1
    assert "FAIL OTLP collector (grpc http://127.0.0.1:" in result.stdout
    assert "UNAVAILABLE" in result.stdout
    assert "is the collector running" in result.stdout


def test_wrong_http_path_is_named() -> None:
    """An http/protobuf endpoint given with a path gets 404 and the base-URL hint."""
    with OTLPReceiver("http/protobuf") as receiver:
        result = run_check(
            OTEL_EXPORTER_OTLP_ENDPOINT=f"{receiver.endpoint}/v1/traces",
            OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
            PYWATS_OTEL_PROMETHEUS_PORT="0",
        )
    assert result.returncode == 1
    assert "HTTP 404; wrong path: give the base URL" in result.stdout


def test_a_port_held_by_another_station_is_reported() -> None:
    """The Prometheus port already serving pywats_otel: exit 1, who holds it and what to set."""
    telemetry = init_telemetry(prometheus_host="127.0.0.1", prometheus_port=0)
    port = telemetry.endpoint.port
    result = run_check(PYWATS_OTEL_PROMETHEUS_PORT=str(port))
    assert result.returncode == 1
    assert f"FAIL Prometheus endpoint (127.0.0.1:{port}): port {port} already serves " in (
        result.stdout
    )
    assert "set PYWATS_OTEL_PROMETHEUS_PORT to a free port" in result.stdout


def test_a_port_held_by_something_else_is_reported() -> None:
    """A listener that is no metrics endpoint: exit 1 and the advice."""
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen(1)
        port = squatter.getsockname()[1]
        result = run_check(PYWATS_OTEL_PROMETHEUS_PORT=str(port))
    assert result.returncode == 1
    assert f"port {port} is in use by a program that does not serve /metrics" in result.stdout


def test_an_invalid_setting_exits_2_naming_it() -> None:
    """A refused value: exit 2 and the message of TelemetryConfigError on stderr."""
    result = run_check(PYWATS_OTEL_PROMETHEUS_PORT="70000")
    assert result.returncode == 2
    assert "prometheus_port" in result.stderr
    assert "PYWATS_OTEL_PROMETHEUS_PORT" in result.stderr
