"""Securing the endpoint and the new settings: basic auth, TLS files, disk paths, thresholds."""

from __future__ import annotations

import base64
import json
import logging
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from pywats_otel import TelemetryConfigError, cli
from pywats_otel._config.loader import load_settings
from pywats_otel._pipeline.endpoint import TelemetryEndpoint
from pywats_otel.testing import capture_telemetry

PASSWORD = "correct-horse-battery-staple"


def _endpoint(**kwargs: object) -> TelemetryEndpoint:
    return TelemetryEndpoint(
        "127.0.0.1",
        0,
        CollectorRegistry(),
        lambda path: (200, {}),
        **kwargs,  # type: ignore[arg-type]
    )


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_basic_auth_accepts_only_the_configured_credentials() -> None:
    """Right user and password pass; a wrong one, another scheme or garbage do not."""
    endpoint = _endpoint(basic_auth=("prometheus", SecretStr(PASSWORD)))
    assert endpoint.authorized(_basic("prometheus", PASSWORD)) is True
    assert endpoint.authorized(_basic("prometheus", PASSWORD + "x")) is False
    assert endpoint.authorized(_basic("admin", PASSWORD)) is False
    assert endpoint.authorized(None) is False
    assert endpoint.authorized("Bearer " + PASSWORD) is False
    assert endpoint.authorized("Basic !!not-base64!!") is False
    assert _endpoint().authorized(None) is True


def test_the_endpoint_keeps_no_password() -> None:
    """Only a digest of the credentials is kept, so no attribute holds the password."""
    endpoint = _endpoint(basic_auth=("prometheus", SecretStr(PASSWORD)))
    assert PASSWORD not in repr(vars(endpoint))
    assert endpoint.basic_auth is True
    assert endpoint.tls is False


def test_user_and_password_go_together() -> None:
    """One without the other is refused, naming both settings; the password never shown."""
    with pytest.raises(TelemetryConfigError) as refused:
        load_settings({"endpoint_password": PASSWORD})
    assert refused.value.setting == "endpoint_password"
    assert "set both or neither" in str(refused.value)
    assert PASSWORD not in str(refused.value)
    with pytest.raises(TelemetryConfigError, match="endpoint_username and endpoint_password"):
        load_settings({"endpoint_username": "prometheus"})
    with pytest.raises(TelemetryConfigError, match="must not contain a colon"):
        load_settings({"endpoint_username": "a:b", "endpoint_password": PASSWORD})


def test_password_never_appears_in_settings_output_status_or_logs(
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """redacted(), `pywats-otel settings --json`, status() and the log show *** or nothing."""
    monkeypatch.setenv("PYWATS_OTEL_ENDPOINT_USERNAME", "prometheus")
    monkeypatch.setenv("PYWATS_OTEL_ENDPOINT_PASSWORD", PASSWORD)
    settings = load_settings()
    assert settings.redacted()["endpoint_password"] == "***"
    assert settings.source_of("endpoint_password") == (
        "environment variable PYWATS_OTEL_ENDPOINT_PASSWORD"
    )
    assert cli.main(["settings", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["endpoint_password"]["value"] == "***"
    with caplog.at_level(logging.DEBUG), capture_telemetry() as captured:
        logging.getLogger("station").info("started with %s", captured.telemetry.settings)
        status = captured.telemetry.status()
        body = captured.telemetry.health("/health")[1]
    assert PASSWORD not in json.dumps(status)
    assert PASSWORD not in json.dumps(body)
    assert PASSWORD not in caplog.text
    assert load_settings({"endpoint_username": None}).redacted()["endpoint_username"] == (
        "prometheus"
    )


def test_tls_files_must_exist_and_go_together(
    tmp_path: Path, self_signed_cert: tuple[Path, Path]
) -> None:
    """A missing file, a lone certificate or a broken key stop start-up with a clear message."""
    cert, key = self_signed_cert
    assert (
        load_settings({"endpoint_tls_cert": cert, "endpoint_tls_key": key}).endpoint_tls_key == key
    )
    with pytest.raises(TelemetryConfigError, match="no such file"):
        load_settings({"endpoint_tls_cert": tmp_path / "nope.pem", "endpoint_tls_key": key})
    with pytest.raises(TelemetryConfigError, match="set both or neither"):
        load_settings({"endpoint_tls_cert": cert})
    broken = tmp_path / "broken.pem"
    broken.write_text("-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n")
    with pytest.raises(TelemetryConfigError) as refused:
        load_settings({"endpoint_tls_cert": cert, "endpoint_tls_key": broken})
    assert refused.value.setting == "endpoint_tls_key"
    assert f"cannot load the certificate {cert} with the key {broken}" in str(refused.value)


def test_an_encrypted_key_is_refused_without_prompting(
    tmp_path: Path, self_signed_cert: tuple[Path, Path]
) -> None:
    """A passphrase-protected key is refused at once instead of asking on the terminal."""
    cert, key = self_signed_cert
    encrypted = tmp_path / "encrypted.pem"
    subprocess.run(
        [
            shutil.which("openssl") or "openssl",
            "pkey",
            "-in",
            str(key),
            "-aes256",
            "-passout",
            "pass:secret",
            "-out",
            str(encrypted),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    with pytest.raises(TelemetryConfigError, match="the key not encrypted"):
        load_settings({"endpoint_tls_cert": cert, "endpoint_tls_key": encrypted})


def test_binding_beyond_loopback_without_auth_warns(caplog: pytest.LogCaptureFixture) -> None:
    """An endpoint open to the network warns without auth, and with auth but without TLS."""
    with caplog.at_level(logging.WARNING, logger="pywats_otel"):
        _endpoint()._warn_if_exposed("127.0.0.1")
        _endpoint()._warn_if_exposed("::1")
        assert caplog.records == []
        _endpoint()._warn_if_exposed("0.0.0.0")
        _endpoint(basic_auth=("p", SecretStr(PASSWORD)))._warn_if_exposed("192.0.2.10")
    first, second = (record.getMessage() for record in caplog.records)
    assert "without authentication" in first
    assert "PYWATS_OTEL_ENDPOINT_USERNAME" in first
    assert "without TLS" in second
    assert "PYWATS_OTEL_ENDPOINT_TLS_CERT" in second
    assert PASSWORD not in caplog.text


def test_disk_paths_are_an_os_pathsep_list_made_absolute(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """PYWATS_OTEL_DISK_PATHS splits on os.pathsep, drops repeats and resolves relative paths."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(
        "PYWATS_OTEL_DISK_PATHS", os.pathsep.join(["queue", str(tmp_path), "queue", " "])
    )
    assert load_settings().disk_paths == (tmp_path / "queue", tmp_path)
    monkeypatch.delenv("PYWATS_OTEL_DISK_PATHS")
    assert load_settings().disk_paths == (tmp_path,)


def test_disk_thresholds_and_health_settings_are_checked() -> None:
    """fail below warn, out-of-range numbers and a non-HTTP URL are refused."""
    with pytest.raises(TelemetryConfigError, match=r"must not be below disk_warn_percent \(97\)"):
        load_settings({"disk_warn_percent": 97})
    with pytest.raises(TelemetryConfigError, match="disk_fail_percent"):
        load_settings({"disk_fail_percent": 101})
    with pytest.raises(TelemetryConfigError, match=r"https://wats\.example\.com"):
        load_settings({"health_check_url": "wats.example.com"})
    with pytest.raises(TelemetryConfigError, match="health_cache_s"):
        load_settings({"health_cache_s": -1})
    settings = load_settings(
        {"disk_warn_percent": 70, "health_check_url": "https://wats.example.com/api"}
    )
    assert (settings.disk_warn_percent, settings.disk_fail_percent) == (70, 95)
    assert settings.health_check_url == "https://wats.example.com/api"


def test_metrics_collected_outside_a_scrape_are_served_once_with_the_newest_value() -> None:
    """A force_flush() between scrapes leaves no stale duplicate in the next /metrics body."""
    from opentelemetry.exporter.prometheus import PrometheusMetricReader
    from opentelemetry.sdk.metrics import MeterProvider
    from prometheus_client.exposition import generate_latest

    from pywats_otel._pipeline.endpoint import _ServedRegistry

    registry = CollectorRegistry()
    provider = MeterProvider(
        metric_readers=[PrometheusMetricReader(registry=registry)], shutdown_on_exit=False
    )
    counter = provider.get_meter("test").create_counter("pywats.queue.enqueued", description="d")
    counter.add(1, {"pywats.queue.name": "reports"})
    provider.force_flush()
    counter.add(1, {"pywats.queue.name": "reports"})
    provider.force_flush()
    counter.add(1, {"pywats.queue.name": "reports"})
    served = _ServedRegistry(registry)
    text = generate_latest(served).decode()  # type: ignore[arg-type]
    provider.shutdown()
    lines = [line for line in text.splitlines() if line.startswith("pywats_queue_enqueued_total")]
    assert len(lines) == 1
    assert lines[0].endswith(" 3.0")
    assert text.count("# HELP pywats_queue_enqueued_total") == 1
    assert served.samples == sum(1 for line in text.splitlines() if not line.startswith("#"))


def test_two_families_of_one_name_are_served_as_one_with_every_sample() -> None:
    """One metric name from two scopes with different descriptions is one family at /metrics.

    The Prometheus reader makes a family per name, description and unit; Prometheus wants a
    name once. Samples of both scopes stay, told apart by otel_scope_name.
    """
    from opentelemetry.exporter.prometheus import PrometheusMetricReader
    from opentelemetry.sdk.metrics import MeterProvider
    from prometheus_client.exposition import generate_latest

    from pywats_otel._pipeline.endpoint import _ServedRegistry

    registry = CollectorRegistry()
    provider = MeterProvider(
        metric_readers=[PrometheusMetricReader(registry=registry)], shutdown_on_exit=False
    )
    first = provider.get_meter("station").create_counter("pywats.queue.enqueued", description="a")
    second = provider.get_meter("plugin").create_counter("pywats.queue.enqueued", description="b")
    first.add(1, {"pywats.queue.name": "reports"})
    second.add(2, {"pywats.queue.name": "reports"})
    served = _ServedRegistry(registry)
    text = generate_latest(served).decode()  # type: ignore[arg-type]
    again = generate_latest(_ServedRegistry(registry)).decode()  # type: ignore[arg-type]
    provider.shutdown()
    lines = sorted(line for line in text.splitlines() if line.startswith("pywats_queue_enq"))
    assert text.count("# HELP pywats_queue_enqueued_total") == 1
    assert len(lines) == 2
    assert 'otel_scope_name="plugin"' in lines[0]
    assert lines[0].endswith(" 2.0")
    assert 'otel_scope_name="station"' in lines[1]
    assert lines[1].endswith(" 1.0")
    # A scrape after a scrape serves the same samples.
    assert sorted(line for line in again.splitlines() if line.startswith("pywats_queue_enq")) == (
        lines
    )
