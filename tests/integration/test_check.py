"""`pywats-otel check`: settings with sources, a real collector tried, the Prometheus port."""

from __future__ import annotations

import os
import re
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
    path = "" if protocol == "grpc" else "/v1/traces"
    assert f"ok   OTLP traces collector ({protocol} {receiver.endpoint}{path}): accepts" in out
    assert "ok   OTLP metrics collector" in out
    assert "ok   OTLP logs collector" in out
    assert "ok   Prometheus endpoint (127.0.0.1:" in out
    assert "[environment variable OTEL_EXPORTER_OTLP_ENDPOINT]" in out
    assert "otlp_headers" in out
    assert SECRET not in out + result.stderr
    # The check really reached the collector, once per signal, with the credentials.
    assert [h.get("authorization") for h in headers] == [f"Bearer {SECRET}"] * 3


def test_a_collector_that_is_down_fails_with_a_hint() -> None:
    """A closed port: exit 1 and a FAIL line that says what to look at."""
    result = run_check(
        OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{free_port()}",
        PYWATS_OTEL_PROMETHEUS_PORT="0",
    )
    assert result.returncode == 1
    assert "FAIL OTLP traces collector (grpc http://127.0.0.1:" in result.stdout
    assert "UNAVAILABLE" in result.stdout
    assert re.search(
        r"diagnosis: 127\.0\.0\.1:\d+ refuses the connection; is the collector running, and "
        r"is \d+ its gRPC port \(4317 by default\)\?",
        result.stdout,
    )


def test_wrong_http_path_is_named() -> None:
    """A per-signal endpoint without the signal path gets 404 and the hint."""
    with OTLPReceiver("http/protobuf") as receiver:
        result = run_check(
            OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=f"{receiver.endpoint}/traces",
            OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
            OTEL_TRACES_EXPORTER="otlp",
            PYWATS_OTEL_PROMETHEUS_PORT="0",
        )
    assert result.returncode == 1
    assert "HTTP 404; wrong path: give the base URL" in result.stdout
    assert "a per-signal endpoint is used as is (this one: otlp_traces_endpoint" in result.stdout


def test_a_signal_path_on_the_general_endpoint_is_taken_off_with_a_warning() -> None:
    """…:4318/v1/traces as the general endpoint: each signal goes to its own path, one WARN."""
    with OTLPReceiver("http/protobuf") as receiver:
        result = run_check(
            OTEL_EXPORTER_OTLP_ENDPOINT=f"{receiver.endpoint}/v1/traces",
            OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
            PYWATS_OTEL_PROMETHEUS_PORT="0",
        )
    assert result.returncode == 0, result.stdout
    warnings = [line for line in result.stdout.splitlines() if "WARN" in line]
    assert warnings == [
        "  WARN otlp_endpoint from environment variable OTEL_EXPORTER_OTLP_ENDPOINT ends in "
        f"/v1/traces, the path pywats_otel adds itself; using {receiver.endpoint} (a full URL "
        "for one signal goes in OTEL_EXPORTER_OTLP_<SIGNAL>_ENDPOINT)"
    ]
    for signal in ("traces", "metrics", "logs"):
        assert f"ok   OTLP {signal} collector (http/protobuf {receiver.endpoint}/v1/{signal})" in (
            result.stdout
        )


def test_where_each_signal_goes_none_included() -> None:
    """No endpoint: traces and logs are said not to be exported, and why; no None shown."""
    result = run_check(PYWATS_OTEL_PROMETHEUS_PORT="0")
    assert result.returncode == 0
    out = result.stdout
    assert re.search(
        r"^  traces +not exported \(no OTLP endpoint: set OTEL_EXPORTER_OTLP_ENDPOINT or "
        r"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT\)  \[default\]$",
        out,
        re.MULTILINE,
    )
    assert re.search(r"^  metrics +prometheus http://127\.0\.0\.1:0/metrics", out, re.MULTILINE)
    assert re.search(r"^  logs +not exported", out, re.MULTILINE)
    assert re.search(
        r"^  sampler_arg +unset \(not used by parentbased_always_on\)  \[default\]$",
        out,
        re.MULTILINE,
    )
    assert "None" not in out


def test_a_misspelt_variable_is_named_with_the_closest_setting() -> None:
    result = run_check(PYWATS_OTEL_PROMETHEUS_PROT="9464", PYWATS_OTEL_PROMETHEUS_PORT="0")
    assert result.returncode == 0
    assert (
        "  WARN environment variable PYWATS_OTEL_PROMETHEUS_PROT is not a setting of "
        "pywats_otel; did you mean PYWATS_OTEL_PROMETHEUS_PORT?"
    ) in result.stdout


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        (
            "https to a plaintext HTTP receiver",
            r"SSLError: .*WRONG_VERSION_NUMBER.*; diagnosis: 127\.0\.0\.1:\d+ accepts "
            r"connections but does not speak TLS \(WRONG_VERSION_NUMBER\): the collector "
            r"listens without TLS there; use an http:// endpoint$",
        ),
        (
            "gRPC to the HTTP receiver through localhost",
            r"UNAVAILABLE: .*; diagnosis: 127\.0\.0\.1:\d+ answers in HTTP/1\.1, not gRPC "
            r"\(HTTP/2\): it looks like an OTLP/HTTP port \(4318\); use "
            r"otlp_protocol=http/protobuf, or the gRPC port \(4317\)$",
        ),
        (
            "HTTP to the gRPC receiver",
            r"BadStatusLine: .*; diagnosis: 127\.0\.0\.1:\d+ answers in HTTP/2 frames, not "
            r"HTTP/1\.1: it looks like an OTLP/gRPC port \(4317\); use otlp_protocol=grpc, or "
            r"the HTTP port \(4318\)$",
        ),
        (
            "gRPC with TLS to the plaintext gRPC receiver",
            r"UNAVAILABLE: .*; diagnosis: 127\.0\.0\.1:\d+ accepts connections but does not "
            r"speak TLS \(WRONG_VERSION_NUMBER\): the collector listens without TLS there; use "
            r"otlp_insecure=true$",
        ),
    ],
)
def test_a_wrong_protocol_or_scheme_gets_the_right_diagnosis(case: str, expected: str) -> None:
    """Something answers, just not what the exporter speaks: the diagnosis says what it is
    (never "nothing answers"), reports the IPv4 address that answered, whole sentences, no
    control characters; gRPC's C core prints nothing on stderr."""
    with OTLPReceiver("http/protobuf") as http, OTLPReceiver("grpc") as grpc:
        env = {
            "https to a plaintext HTTP receiver": {
                "OTEL_EXPORTER_OTLP_ENDPOINT": f"https://127.0.0.1:{http.port}",
                "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            },
            "gRPC to the HTTP receiver through localhost": {
                "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://localhost:{http.port}",
            },
            "HTTP to the gRPC receiver": {
                "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{grpc.port}",
                "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            },
            "gRPC with TLS to the plaintext gRPC receiver": {
                "OTEL_EXPORTER_OTLP_ENDPOINT": f"https://127.0.0.1:{grpc.port}",
            },
        }[case]
        result = run_check(
            **env,
            OTEL_TRACES_EXPORTER="otlp",
            OTEL_METRICS_EXPORTER="none",
            OTEL_LOGS_EXPORTER="none",
        )
    assert result.returncode == 1
    [line] = [line for line in result.stdout.splitlines() if line.startswith("  FAIL")]
    message = line.split("): ", 1)[1]
    assert re.search(expected, message), message
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f]", result.stdout)
    assert "nothing answers" not in message
    assert "Handshake failed" not in result.stderr


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
