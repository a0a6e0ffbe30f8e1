"""A secret put anywhere a user can put one is found nowhere pywats_otel shows or sends data.

The secret goes into the OTLP endpoint's userinfo, an OTLP header, the endpoint password, the
health-check URL's query, and the query and userinfo of requests the program makes with httpx.
Then every surface is searched for it: ``pywats-otel settings`` (text and JSON) and ``check``,
the TelemetryConfigError messages, ``status()``, ``/health``, ``/metrics``, pywats_otel's own
log lines, and what a real OTLP receiver got (spans, metrics, log records). The bar is 0 matches.
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import urllib.request
from typing import Any

import httpx
import pytest

from pywats_otel import TelemetryConfigError, init_telemetry
from pywats_otel._config.loader import load_settings
from pywats_otel.testing.otlp import OTLPReceiver, free_port

SECRET = "Zq7-s3cr3t-Vx"


def _cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "PYWATS_OTEL_"))}
    return subprocess.run(
        [sys.executable, "-m", "pywats_otel", *args],
        env={**clean, "PYWATS_OTEL_PROMETHEUS_HOST": "127.0.0.1", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _everything_received(receiver: OTLPReceiver) -> str:
    """What the receiver got, as text: span, metric and log contents and resources."""
    return repr((receiver.spans, receiver.metrics, receiver.logs))


def test_the_cli_never_shows_a_secret(http_server: Any) -> None:
    """settings, settings --json and check: URLs redacted, header values and password hidden."""
    with OTLPReceiver("http/protobuf") as receiver:
        env = {
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://station:{SECRET}@127.0.0.1:{receiver.port}",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_EXPORTER_OTLP_HEADERS": f"x-api-key={SECRET}",
            "PYWATS_OTEL_ENDPOINT_USERNAME": "prometheus",
            "PYWATS_OTEL_ENDPOINT_PASSWORD": SECRET,
            "PYWATS_OTEL_HEALTH_CHECK_URL": f"{http_server.url}/ping?token={SECRET}&site=a",
            "PYWATS_OTEL_PROMETHEUS_PORT": str(free_port()),
        }
        shown = _cli("settings", **env)
        as_json = _cli("settings", "--json", **env)
        checked = _cli("check", **env)
        received = receiver.headers
    for result in (shown, as_json, checked):
        assert result.returncode == 0, result.stdout + result.stderr
        assert SECRET not in result.stdout + result.stderr
    values = {name: entry["value"] for name, entry in json.loads(as_json.stdout).items()}
    assert values["otlp_endpoint"] == f"http://REDACTED:REDACTED@127.0.0.1:{receiver.port}"
    assert values["health_check_url"] == f"{http_server.url}/ping?token=REDACTED&site=a"
    assert values["otlp_headers"] == {"x-api-key": "***"}
    assert values["endpoint_password"] == "***"
    assert re.search(
        rf"^otlp_endpoint +http://REDACTED:REDACTED@127\.0\.0\.1:{receiver.port} ",
        shown.stdout,
        re.MULTILINE,
    )
    for signal in ("traces", "metrics", "logs"):
        assert (
            f"ok   OTLP {signal} collector (http/protobuf http://REDACTED:REDACTED@127.0.0.1:"
            in checked.stdout
        )
    # check reached the collector with the URL's credentials, as the exporter sends them.
    assert received
    assert all(h.get("authorization", "").startswith("Basic ") for h in received)


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("otlp_endpoint", f"http://station:{SECRET}@127.0.0.1:99999"),
        ("otlp_endpoint", f"station:{SECRET}@127.0.0.1:4317"),
        ("health_check_url", f"http://127.0.0.1:99999/ping?token={SECRET}"),
        ("health_check_url", f"http://u:{SECRET}@[::1/ping"),
    ],
    ids=["endpoint-bad-port", "endpoint-no-scheme", "health-url-bad-port", "health-url-unparsable"],
)
def test_refused_urls_are_shown_redacted(setting: str, value: str) -> None:
    """The TelemetryConfigError names the setting and its source and shows the URL redacted."""
    with pytest.raises(TelemetryConfigError) as refused:
        load_settings({setting: value, "otlp_protocol": "http/protobuf"})
    message = str(refused.value)
    assert refused.value.setting == setting
    assert f"keyword argument {setting}" in message
    assert SECRET not in message
    assert "REDACTED" in message
    result = _cli("settings", **{f"PYWATS_OTEL_{setting.upper()}": value})
    assert result.returncode == 2
    assert f"environment variable PYWATS_OTEL_{setting.upper()}" in result.stderr
    assert SECRET not in result.stdout + result.stderr


def test_grpc_endpoint_credentials_are_refused_at_start() -> None:
    """gRPC has no URL credentials: refused naming the setting, not passed on as the target."""
    endpoint = f"http://station:{SECRET}@127.0.0.1:4317"
    with pytest.raises(TelemetryConfigError) as refused:
        init_telemetry(otlp_endpoint=endpoint, otlp_protocol="grpc")
    assert refused.value.setting == "otlp_endpoint"
    assert "gRPC" in str(refused.value)
    assert "otlp_headers" in str(refused.value)
    assert SECRET not in str(refused.value)
    result = _cli("check", OTEL_EXPORTER_OTLP_ENDPOINT=endpoint)
    assert result.returncode == 2
    assert "otlp_endpoint from environment variable OTEL_EXPORTER_OTLP_ENDPOINT" in result.stderr
    assert SECRET not in result.stdout + result.stderr


def test_url_credentials_do_not_silently_replace_an_authorization_header() -> None:
    """With HTTP, requests would send the URL's Basic auth instead of the configured header."""
    with pytest.raises(TelemetryConfigError) as refused:
        load_settings(
            {
                "otlp_endpoint": f"https://station:{SECRET}@collector:4318",
                "otlp_protocol": "http/protobuf",
                "otlp_headers": f"Authorization=Bearer {SECRET}",
            }
        )
    assert refused.value.setting == "otlp_headers"
    assert "otlp_endpoint" in str(refused.value)
    assert SECRET not in str(refused.value)


def test_no_secret_in_status_health_metrics_logs_or_exported_data(
    http_server: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """One station run with the secret everywhere; 0 matches in everything pywats_otel shows.

    The program's own handlers still print httpx's request line as httpx wrote it: pywats_otel
    redacts what it exports, not what the program logs.
    """
    caplog.set_level(logging.INFO)
    with OTLPReceiver("http/protobuf") as receiver:
        telemetry = init_telemetry(
            service_name="station-secret",
            otlp_endpoint=f"http://station:{SECRET}@127.0.0.1:{receiver.port}",
            otlp_protocol="http/protobuf",
            otlp_headers=f"x-api-key={SECRET}",
            metrics_exporter="prometheus,otlp",
            prometheus_host="127.0.0.1",
            prometheus_port=0,
            health_check_url=f"{http_server.url}/ping?token={SECRET}",
            logs_level="INFO",
        )
        logging.getLogger().setLevel(logging.INFO)
        with httpx.Client() as client:
            client.get(f"{http_server.url}/api?token={SECRET}&api_key={SECRET}&sig={SECRET}")
            client.get(f"http://user:{SECRET}@127.0.0.1:{http_server.port}/api?key={SECRET}")
            http_server.plan["/down"] = [503]
            try:
                # The program logs a failed request's error, whose text quotes the URL too.
                client.get(f"{http_server.url}/down?access_token={SECRET}").raise_for_status()
            except httpx.HTTPError as exc:
                logging.getLogger("station").warning("upload failed: %s", exc, exc_info=True)
        url = telemetry.metrics_url
        assert url is not None
        health_url = url.removesuffix("/metrics") + "/health"
        with urllib.request.urlopen(health_url) as response:
            health = response.read().decode()
        with urllib.request.urlopen(url) as response:
            scrape = response.read().decode()
        assert telemetry.force_flush(timeout_s=10)
        assert receiver.wait_for(lambda r: bool(r.spans and r.logs and r.metrics))
        status = json.dumps(telemetry.status())
        telemetry.shutdown(timeout_s=5)
        exported = _everything_received(receiver)

    own_lines = "\n".join(
        record.getMessage() for record in caplog.records if record.name.startswith("pywats_otel")
    )
    for surface, text in {
        "status()": status,
        "/health": health,
        "/metrics": scrape,
        "pywats_otel's log lines": own_lines,
        "exported spans, metrics and logs": exported,
    }.items():
        assert SECRET not in text, surface
    # Every surface was really searched: the redacted forms are there.
    assert "/ping?token=REDACTED" in scrape
    assert "url:http://127.0.0.1" in health
    assert "REDACTED" in exported
    assert "HTTP Request: GET" in exported
    assert "upload failed: Server error '503 Service Unavailable' for url" in exported
    assert "exception.stacktrace" in exported
    # The program's own handler saw httpx's line unchanged.
    assert any(SECRET in r.getMessage() for r in caplog.records if r.name == "httpx")
