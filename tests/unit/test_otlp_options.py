"""The OTLP options of each signal as the specification has them: per-signal settings over the
general ones, endpoints with and without the signal path, sources; misspelt names named with
the closest setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from pywats_otel._base.errors import TelemetryConfigError
from pywats_otel._config.loader import load_settings
from pywats_otel._config.otlp import otlp_options


def test_a_per_signal_endpoint_alone_is_used_as_is_for_its_signal() -> None:
    """OTEL_EXPORTER_OTLP_TRACES_ENDPOINT alone: traces go there (no path added), as OTLP by
    default; the other signals stay off."""
    settings = load_settings(
        environ={
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://traces.example:4318/custom",
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf",
        }
    )
    assert settings.exporters("traces") == ("otlp",)
    assert settings.exporters("logs") == ()
    assert settings.exporters("metrics") == ("prometheus",)
    traces = otlp_options(settings, "traces")
    assert (traces.protocol, traces.endpoint) == (
        "http/protobuf",
        "http://traces.example:4318/custom",
    )
    assert traces.sources["endpoint"] == (
        "otlp_traces_endpoint (environment variable OTEL_EXPORTER_OTLP_TRACES_ENDPOINT)"
    )


def test_the_general_endpoint_gets_the_signal_path_and_per_signal_wins() -> None:
    settings = load_settings(
        environ={
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318/base/",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_EXPORTER_OTLP_HEADERS": "api-key=general",
            "OTEL_EXPORTER_OTLP_LOGS_HEADERS": "api-key=logs",
            "OTEL_EXPORTER_OTLP_TIMEOUT": "5000",
            "OTEL_EXPORTER_OTLP_METRICS_TIMEOUT": "700",
            "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": "grpc",
            "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "https://metrics:4317",
            "OTEL_EXPORTER_OTLP_COMPRESSION": "gzip",
            "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION": "none",
        }
    )
    traces, metrics, logs = (otlp_options(settings, s) for s in ("traces", "metrics", "logs"))
    assert traces.endpoint == "http://collector:4318/base/v1/traces"
    assert traces.sources["endpoint"] == (
        "otlp_endpoint (environment variable OTEL_EXPORTER_OTLP_ENDPOINT) + /v1/traces"
    )
    assert logs.endpoint == "http://collector:4318/base/v1/logs"
    assert (metrics.protocol, metrics.endpoint, metrics.insecure) == (
        "grpc",
        "https://metrics:4317",
        False,
    )
    assert (traces.headers, logs.headers) == ({"api-key": "general"}, {"api-key": "logs"})
    assert (traces.timeout_ms, metrics.timeout_ms) == (5000, 700)
    assert (traces.compression, logs.compression) == ("none", "gzip")
    # The per-signal header values are secrets like the general ones.
    assert "logs" in settings.secret_values()
    assert settings.redacted()["otlp_logs_headers"] == {"api-key": "***"}


def test_defaults_follow_each_signals_protocol() -> None:
    settings = load_settings(
        {"traces_exporter": "otlp", "otlp_traces_protocol": "http/protobuf"}, environ={}
    )
    assert otlp_options(settings, "traces").endpoint == "http://localhost:4318/v1/traces"
    assert otlp_options(settings, "metrics").endpoint == "http://localhost:4317"
    assert otlp_options(settings, "traces").sources["endpoint"] == "default"


@pytest.mark.parametrize("signal_path", ["v1/traces", "v1/logs/"])
def test_a_signal_path_on_the_general_endpoint_is_taken_off(signal_path: str) -> None:
    settings = load_settings(
        environ={
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://collector:4318/{signal_path}",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        }
    )
    options = otlp_options(settings, "metrics")
    assert options.endpoint == "http://collector:4318/v1/metrics"
    assert options.note is not None
    assert options.note.startswith(
        "otlp_endpoint from environment variable OTEL_EXPORTER_OTLP_ENDPOINT ends in "
        f"/{signal_path.rstrip('/')}, the path pywats_otel adds itself; using "
        "http://collector:4318"
    )


def test_insecure_from_the_scheme_unless_set_per_signal() -> None:
    settings = load_settings(
        environ={
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317",
            "OTEL_EXPORTER_OTLP_LOGS_INSECURE": "false",
        }
    )
    assert otlp_options(settings, "traces").insecure is True
    assert otlp_options(settings, "traces").sources["insecure"] == "the endpoint's scheme"
    assert otlp_options(settings, "logs").insecure is False


def test_client_certificate_and_key_go_together(tmp_path: Path) -> None:
    key, cert = tmp_path / "client.key", tmp_path / "client.pem"
    key.write_text("k")
    cert.write_text("c")
    settings = load_settings(
        environ={
            "OTEL_EXPORTER_OTLP_CLIENT_KEY": str(key),
            "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE": str(cert),
        }
    )
    traces = otlp_options(settings, "traces")
    assert (traces.client_key, traces.client_certificate) == (key, cert)
    with pytest.raises(TelemetryConfigError) as caught:
        load_settings(environ={"OTEL_EXPORTER_OTLP_CLIENT_KEY": str(key)})
    assert caught.value.setting == "otlp_client_certificate"
    assert "go together" in str(caught.value)
    with pytest.raises(TelemetryConfigError) as caught:
        load_settings(environ={"OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY": str(tmp_path / "nope")})
    assert caught.value.setting == "otlp_traces_client_key"
    assert caught.value.source == "environment variable OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY"


def test_a_bad_per_signal_value_is_refused_naming_it() -> None:
    with pytest.raises(TelemetryConfigError) as caught:
        load_settings(environ={"OTEL_EXPORTER_OTLP_METRICS_TIMEOUT": "0"})
    assert str(caught.value) == (
        "invalid telemetry setting otlp_metrics_timeout from environment variable "
        "OTEL_EXPORTER_OTLP_METRICS_TIMEOUT: out of range, got '0' (accepted: an integer from "
        "1 to 600000 (milliseconds))"
    )


def test_a_misspelt_variable_of_our_prefix_is_a_note_with_the_closest() -> None:
    settings = load_settings(environ={"PYWATS_OTEL_PROMETHEUS_PROT": "9464"})
    assert settings.notes == (
        "environment variable PYWATS_OTEL_PROMETHEUS_PROT is not a setting of pywats_otel; "
        "did you mean PYWATS_OTEL_PROMETHEUS_PORT?",
    )
    assert settings.prometheus_port == 9090
    assert load_settings(environ={"OTEL_SOMETHING_ELSE": "x"}).notes == ()


def test_an_unknown_toml_key_names_the_closest_not_every_setting(tmp_path: Path) -> None:
    config = tmp_path / "otel.toml"
    config.write_text("prometheus_prot = 9464\n")
    with pytest.raises(TelemetryConfigError) as caught:
        load_settings(environ={"PYWATS_OTEL_CONFIG_FILE": str(config)})
    assert str(caught.value) == (
        f"invalid telemetry setting prometheus_prot from config file {config}: unknown setting "
        "(accepted: did you mean prometheus_port? (every setting: pywats-otel settings, or "
        "docs/configuration.md))"
    )


def test_settings_shows_values_in_effect_with_their_sources(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`pywats-otel settings`: no None; unset per-signal settings folded per signal; the set
    ones shown with their variable; secrets as ***."""
    from pywats_otel._tools import cli

    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://traces:4318/v1/traces")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "api-key=s3cr3t-value")
    assert cli.main(["settings"]) == 0
    out = capsys.readouterr().out
    lines = {line.split()[0]: line for line in out.splitlines()}
    assert "None" not in out
    assert "s3cr3t-value" not in out
    assert lines["otlp_traces_endpoint"].endswith(
        "http://traces:4318/v1/traces  [environment variable OTEL_EXPORTER_OTLP_TRACES_ENDPOINT]"
    )
    assert lines["otlp_traces_headers"].split()[1] == "api-key=***"
    assert lines["otlp_metrics_*"].endswith("  unset: as the general otlp_* settings  [default]")
    assert "otlp_traces_*" in lines
    assert lines["traces_exporter"].endswith("otlp  [default (an OTLP endpoint is set)]")
    assert lines["logs_exporter"].endswith("none  [default (no OTLP endpoint)]")
