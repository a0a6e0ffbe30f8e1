"""Settings: one declaration, four sources in a fixed precedence, errors that say where."""

from __future__ import annotations

from pathlib import Path

import pytest

from pywats_otel import TelemetryConfigError
from pywats_otel._config.loader import load_settings
from pywats_otel._config.settings import setting_infos


def test_defaults_without_any_source() -> None:
    """With nothing set, the documented defaults apply: prometheus on :9090, nothing else."""
    settings = load_settings({}, environ={})
    assert settings.enabled is True
    assert settings.service_name == "pywats"
    assert settings.prometheus_host == "localhost"
    assert settings.prometheus_port == 9090
    assert settings.otlp_protocol == "grpc"
    assert settings.otlp_timeout == 10000
    assert settings.sampler == "parentbased_always_on"
    assert settings.exporters("traces") == ()
    assert settings.exporters("metrics") == ("prometheus",)
    assert settings.exporters("logs") == ()
    assert settings.correlation_header == "X-Correlation-ID"
    assert settings.source_of("prometheus_port") == "default"


def test_an_otlp_endpoint_turns_on_otlp_for_every_signal() -> None:
    """Setting only the endpoint sends traces, metrics (beside prometheus) and logs to it."""
    settings = load_settings({}, environ={"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317"})
    assert settings.exporters("traces") == ("otlp",)
    assert settings.exporters("metrics") == ("prometheus", "otlp")
    assert settings.exporters("logs") == ("otlp",)


def test_precedence_keyword_then_pywats_env_then_otel_env_then_file_then_default(
    tmp_path: Path,
) -> None:
    """Each source wins over the ones after it, and the source is remembered."""
    config = tmp_path / "otel.toml"
    config.write_text('service_name = "from-file"\nprometheus_port = 9300\nenvironment = "lab"\n')
    environ = {
        "PYWATS_OTEL_CONFIG_FILE": str(config),
        "OTEL_SERVICE_NAME": "from-otel-env",
        "PYWATS_OTEL_SERVICE_NAME": "from-pywats-env",
        "OTEL_EXPORTER_PROMETHEUS_PORT": "9400",
    }
    settings = load_settings({"service_name": "from-kwarg"}, environ=environ)
    assert settings.service_name == "from-kwarg"
    assert settings.source_of("service_name") == "keyword argument service_name"
    assert settings.prometheus_port == 9400
    assert (
        settings.source_of("prometheus_port")
        == "environment variable OTEL_EXPORTER_PROMETHEUS_PORT"
    )
    assert settings.environment == "lab"
    assert settings.source_of("environment") == f"config file {config} (key environment)"

    settings = load_settings({}, environ=environ)
    assert settings.service_name == "from-pywats-env"
    assert settings.source_of("service_name") == "environment variable PYWATS_OTEL_SERVICE_NAME"
    del environ["PYWATS_OTEL_SERVICE_NAME"]
    assert load_settings({}, environ=environ).service_name == "from-otel-env"
    del environ["OTEL_SERVICE_NAME"]
    assert load_settings({}, environ=environ).service_name == "from-file"


def test_none_keyword_means_not_given() -> None:
    """A keyword argument of None leaves the environment's value in place."""
    settings = load_settings({"service_name": None}, environ={"OTEL_SERVICE_NAME": "env"})
    assert settings.service_name == "env"


def test_empty_environment_variable_counts_as_unset() -> None:
    """The OpenTelemetry spec treats an empty variable as unset; so do we."""
    settings = load_settings({}, environ={"PYWATS_OTEL_SERVICE_NAME": "", "OTEL_SERVICE_NAME": "b"})
    assert settings.service_name == "b"


@pytest.mark.parametrize(
    ("value", "enabled"), [("true", False), ("TRUE", False), ("false", True), ("False", True)]
)
def test_otel_sdk_disabled_is_the_inverse_of_enabled(value: str, enabled: bool) -> None:
    """OTEL_SDK_DISABLED=true turns telemetry off; PYWATS_OTEL_ENABLED wins over it."""
    assert load_settings({}, environ={"OTEL_SDK_DISABLED": value}).enabled is enabled
    both = {"OTEL_SDK_DISABLED": "true", "PYWATS_OTEL_ENABLED": "true"}
    assert load_settings({}, environ=both).enabled is True


def test_lists_and_key_values_parse_from_environment_text() -> None:
    """Comma lists and key=value lists (percent-encoded) become tuples and dicts."""
    settings = load_settings(
        {},
        environ={
            "OTEL_TRACES_EXPORTER": " OTLP , console,otlp",
            "OTEL_RESOURCE_ATTRIBUTES": "site=Oslo%20lab,line=7",
            "OTEL_EXPORTER_OTLP_HEADERS": "api-key=abc%3D%3D,x-tenant=t1",
            "PYWATS_OTEL_INSTRUMENTATIONS": "httpx,logging",
            "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "logging,flask",
        },
    )
    assert settings.exporters("traces") == ("otlp", "console")
    assert settings.resource_attributes == {"site": "Oslo lab", "line": "7"}
    assert {k: v.get_secret_value() for k, v in settings.otlp_headers.items()} == {
        "api-key": "abc==",
        "x-tenant": "t1",
    }
    assert settings.active_instrumentations() == ("httpx",)


def test_none_exporter_means_no_exporter() -> None:
    """traces_exporter=none switches the signal's export off, even with an endpoint."""
    settings = load_settings(
        {"metrics_exporter": "none"}, environ={"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317"}
    )
    assert settings.exporters("metrics") == ()


def _refused(overrides: dict[str, object], environ: dict[str, str]) -> TelemetryConfigError:
    with pytest.raises(TelemetryConfigError) as caught:
        load_settings(overrides, environ=environ)
    return caught.value


@pytest.mark.parametrize(
    ("variable", "value", "setting", "accepted"),
    [
        ("PYWATS_OTEL_PROMETHEUS_PORT", "abc", "prometheus_port", "an integer from 0 to 65535"),
        ("PYWATS_OTEL_PROMETHEUS_PORT", "70000", "prometheus_port", "an integer from 0 to 65535"),
        ("OTEL_EXPORTER_PROMETHEUS_PORT", "-1", "prometheus_port", "an integer from 0 to 65535"),
        ("OTEL_TRACES_SAMPLER", "foo", "sampler", "parentbased_traceidratio"),
        ("OTEL_TRACES_SAMPLER_ARG", "2", "sampler_arg", "a number from 0 to 1"),
        ("OTEL_TRACES_EXPORTER", "zipkin", "traces_exporter", "otlp, console"),
        ("OTEL_METRICS_EXPORTER", "otlp,none", "metrics_exporter", "prometheus"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json", "otlp_protocol", "grpc or http/protobuf"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4317", "otlp_endpoint", "http:// or https://"),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "0", "otlp_timeout", "milliseconds"),
        ("OTEL_EXPORTER_OTLP_CERTIFICATE", "/nonexistent/ca.pem", "otlp_certificate", "file"),
        ("OTEL_METRIC_EXPORT_INTERVAL", "soon", "metric_export_interval", "milliseconds"),
        ("PYWATS_OTEL_ENABLED", "maybe", "enabled", "true or false"),
        ("OTEL_SDK_DISABLED", "maybe", "enabled", "true or false"),
        ("PYWATS_OTEL_INSTRUMENTATIONS", "httpx,django", "instrumentations", "httpx, logging"),
        ("PYWATS_OTEL_CORRELATION_HEADER", "X Bad", "correlation_header", "header name"),
        ("OTEL_RESOURCE_ATTRIBUTES", "site", "resource_attributes", "key=value"),
        ("PYWATS_OTEL_LOGS_LEVEL", "LOUD", "logs_level", "INFO"),
    ],
)
def test_invalid_value_names_setting_source_and_accepted(
    variable: str, value: str, setting: str, accepted: str
) -> None:
    """A refused value raises TelemetryConfigError naming the setting, variable and accepted."""
    error = _refused({}, {variable: value})
    assert isinstance(error, ValueError)
    assert error.setting == setting
    assert error.source == f"environment variable {variable}"
    message = str(error)
    assert setting in message
    assert variable in message
    assert accepted in message


def test_unknown_exporter_lists_the_known_ones() -> None:
    """The message for an unknown exporter names every exporter that would work."""
    message = str(_refused({"traces_exporter": "jaeger"}, {}))
    assert "unknown traces exporter 'jaeger'" in message
    assert "known: console, otlp, tree, none" in message
    assert "keyword argument traces_exporter" in message


def test_malformed_headers_never_show_a_value() -> None:
    """A malformed header list is refused without echoing any part of it."""
    error = _refused({}, {"OTEL_EXPORTER_OTLP_HEADERS": "authorization=Bearer s3cr3t,garbage"})
    message = str(error)
    assert error.setting == "otlp_headers"
    assert "OTEL_EXPORTER_OTLP_HEADERS" in message
    assert "entry 2 is not key=value" in message
    assert "s3cr3t" not in message
    assert "garbage" not in message
    assert "Bearer" not in message


def test_headers_are_hidden_in_repr_and_redacted_dump() -> None:
    """Header values never show in repr() or in the redacted settings."""
    settings = load_settings({"otlp_headers": {"authorization": "Bearer s3cr3t"}}, environ={})
    assert "s3cr3t" not in repr(settings)
    assert settings.redacted()["otlp_headers"] == {"authorization": "***"}


def test_several_bad_values_are_reported_together() -> None:
    """All refused settings are named in one error, so one fix round is enough."""
    error = _refused({}, {"PYWATS_OTEL_PROMETHEUS_PORT": "abc", "OTEL_TRACES_SAMPLER": "foo"})
    assert {problem.setting for problem in error.problems} == {"prometheus_port", "sampler"}


def test_unknown_keyword_is_refused() -> None:
    """A misspelt keyword argument is an error, not silently ignored."""
    error = _refused({"servce_name": "x"}, {})
    assert error.setting == "servce_name"
    assert "unknown setting" in str(error)


def test_config_file_that_does_not_parse(tmp_path: Path) -> None:
    """A TOML syntax error names the file and the variable that pointed to it."""
    config = tmp_path / "bad.toml"
    config.write_text("service_name = 'unterminated\n")
    error = _refused({}, {"PYWATS_OTEL_CONFIG_FILE": str(config)})
    assert error.setting == "config_file"
    assert error.source == "environment variable PYWATS_OTEL_CONFIG_FILE"
    assert "is not valid TOML" in str(error)
    assert str(config) in str(error)


def test_config_file_that_does_not_exist() -> None:
    """A missing config file is refused at start-up."""
    error = _refused({"config_file": "/nonexistent/otel.toml"}, {})
    assert error.setting == "config_file"
    assert error.source == "keyword argument config_file"


def test_config_file_with_unknown_key_and_bad_value(tmp_path: Path) -> None:
    """Unknown keys in the file are refused; a bad value names the file and key."""
    config = tmp_path / "otel.toml"
    config.write_text("prometheus_prot = 9091\n")
    assert "unknown setting" in str(_refused({"config_file": config}, {}))
    config.write_text('prometheus_port = "high"\n')
    error = _refused({"config_file": config}, {})
    assert error.setting == "prometheus_port"
    assert error.source == f"config file {config} (key prometheus_port)"


def test_config_file_typed_values(tmp_path: Path) -> None:
    """TOML values of the natural types work: arrays, tables, booleans, numbers."""
    config = tmp_path / "otel.toml"
    config.write_text(
        "enabled = true\n"
        'traces_exporter = ["console"]\n'
        "sampler_arg = 0.25\n"
        'sampler = "traceidratio"\n'
        "[resource_attributes]\n"
        'site = "lab"\n'
    )
    settings = load_settings({"config_file": str(config)}, environ={})
    assert settings.exporters("traces") == ("console",)
    assert settings.effective_sampler_arg == 0.25
    assert settings.resource_attributes == {"site": "lab"}


def test_every_setting_is_declared_with_env_doc_and_accepted() -> None:
    """Each setting has at least one variable, a one-line doc and an accepted-values text."""
    infos = list(setting_infos())
    assert len(infos) >= 25
    for info in infos:
        assert info.env or info.inverse_env, info.name
        assert info.doc, info.name
        assert "\n" not in info.doc, info.name
        assert info.accepted, info.name
    variables = [name for info in infos for name in (*info.env, *info.inverse_env)]
    assert len(variables) == len(set(variables)), "a variable feeds two settings"


def test_the_keyword_arguments_are_the_settings_and_are_generated_from_them() -> None:
    """SettingsKwargs has one key per setting, and its source is what the generator makes."""
    import typing

    from pywats_otel import SettingsKwargs, TelemetrySettings
    from pywats_otel._tools import docs

    hints = typing.get_type_hints(SettingsKwargs)
    assert list(hints) == list(TelemetrySettings.model_fields)
    assert docs.KWARGS_PATH.read_text(encoding="utf-8") == docs.settings_kwargs_source()
    # None means "not given" for every one of them.
    assert all(type(None) in typing.get_args(hint) for hint in hints.values())


def test_a_range_is_declared_once_and_its_accepted_text_derived() -> None:
    """Bounded numbers carry pydantic's ge/le; the accepted text and the refusal come from it."""
    infos = {info.name: info for info in setting_infos()}
    assert infos["prometheus_port"].accepted == "an integer from 0 to 65535"
    assert infos["otlp_timeout"].accepted == "an integer from 1 to 600000 (milliseconds)"
    assert infos["health_check_timeout_s"].accepted == "a number from 0.1 to 60 (seconds)"
    assert infos["disk_fail_percent"].accepted == (
        "a number from 1 to 100 (percent), not below disk_warn_percent"
    )
    with pytest.raises(TelemetryConfigError) as refused:
        load_settings({"prometheus_port": 70000}, environ={})
    assert str(refused.value) == (
        "invalid telemetry setting prometheus_port from keyword argument prometheus_port: "
        "out of range, got 70000 (accepted: an integer from 0 to 65535)"
    )


@pytest.mark.parametrize(
    ("variable", "value", "setting"),
    [
        ("OTEL_EXPORTER_OTLP_INSECURE", "yes", "otlp_insecure"),
        ("OTEL_EXPORTER_OTLP_INSECURE", "1", "otlp_insecure"),
        ("OTEL_EXPORTER_OTLP_INSECURE", "on", "otlp_insecure"),
        ("PYWATS_OTEL_ENABLED", "0", "enabled"),
        ("PYWATS_OTEL_LOG_CORRELATION", "off", "log_correlation"),
        ("PYWATS_OTEL_CONVERTER_RECORD_PATH", "t", "converter_record_path"),
        ("OTEL_SDK_DISABLED", "yes", "enabled"),
    ],
)
def test_a_boolean_from_the_environment_is_true_or_false_only(
    variable: str, value: str, setting: str
) -> None:
    """yes, 1, on and t are refused as OTEL_SDK_DISABLED=yes always was, not taken as true."""
    error = _refused({}, {variable: value})
    assert error.setting == setting
    assert str(error) == (
        f"invalid telemetry setting {setting} from environment variable {variable}: "
        f"expected true or false, got {value!r} (accepted: true or false)"
    )


@pytest.mark.parametrize("text", ['"yes"', "1", '"on"'])
def test_a_boolean_in_the_config_file_is_true_or_false_only(tmp_path: Path, text: str) -> None:
    """TOML enabled = "yes" (or 1) is refused naming the file and key; "TRUE" is taken."""
    config = tmp_path / "otel.toml"
    config.write_text(f"enabled = {text}\n")
    error = _refused({}, {"PYWATS_OTEL_CONFIG_FILE": str(config)})
    assert error.setting == "enabled"
    assert error.source == f"config file {config} (key enabled)"
    assert "expected true or false" in str(error)
    config.write_text('enabled = "TRUE"\nconverter_record_path = " False "\n')
    settings = load_settings({}, environ={"PYWATS_OTEL_CONFIG_FILE": str(config)})
    assert (settings.enabled, settings.converter_record_path) == (True, False)
    assert load_settings({"otlp_insecure": "false"}).otlp_insecure is False


@pytest.mark.parametrize(
    ("headers", "protocol", "said"),
    [
        ("a=Sekr1t%0D%0AX-Injected: 1", "grpc", "a line break or another control character"),
        ("a=Sekr1t%0AX-Injected: 1", "http/protobuf", "a line break or another control character"),
        ("x-tenant=Sekr1t-caf%C3%A9", "http/protobuf", "non-ASCII"),
        ("c=Sekr1t%ZZ", "grpc", "bad percent-escape"),
        ("c=Sekr1t100%", "http/protobuf", "bad percent-escape"),
        ("grpc-timeout=Sekr1t", "grpc", "cannot be gRPC metadata"),
        ("x-token-bin=Sekr1t", "grpc", "cannot be gRPC metadata"),
        ("x~y=Sekr1t", "grpc", "cannot be gRPC metadata"),
        ("a=Sekr1t,A=Sekr1t", "grpc", "given twice"),
    ],
)
def test_headers_the_wire_cannot_carry_are_refused_at_start_without_the_value(
    headers: str, protocol: str, said: str
) -> None:
    """Refused at start (not every export failing late with Invalid metadata); value hidden."""
    error = _refused(
        {}, {"OTEL_EXPORTER_OTLP_HEADERS": headers, "OTEL_EXPORTER_OTLP_PROTOCOL": protocol}
    )
    message = str(error)
    assert error.setting == "otlp_headers"
    assert error.source == "environment variable OTEL_EXPORTER_OTLP_HEADERS"
    assert said in message
    assert "Sekr1t" not in message


def test_header_names_are_lower_case_and_reserved_grpc_names_pass_over_http() -> None:
    """HTTP names are case-insensitive, gRPC metadata lower case: names are kept lower case."""
    settings = load_settings(
        {},
        environ={
            "OTEL_EXPORTER_OTLP_HEADERS": "Authorization=Bearer%20t,X-Tenant=a",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
        },
    )
    assert list(settings.otlp_headers) == ["authorization", "x-tenant"]
    settings = load_settings({"otlp_protocol": "http/protobuf", "otlp_headers": "X-Foo-Bin=1"})
    assert list(settings.otlp_headers) == ["x-foo-bin"]


def test_a_bad_percent_escape_in_resource_attributes_is_refused_and_shown() -> None:
    """Not secret, so the entry is quoted: site=Oslo%2 would otherwise be kept literally."""
    error = _refused({}, {"OTEL_RESOURCE_ATTRIBUTES": "line=7,site=Oslo%2"})
    assert error.setting == "resource_attributes"
    assert "entry 2 has a bad percent-escape" in str(error)
    assert "'site=Oslo%2'" in str(error)


def test_a_config_file_that_is_not_utf8_names_the_file(tmp_path: Path) -> None:
    """A bare UnicodeDecodeError named neither file nor setting; now TelemetryConfigError."""
    config = tmp_path / "otel.toml"
    config.write_bytes(b'service_name = "station-\xe9"\n')
    error = _refused({}, {"PYWATS_OTEL_CONFIG_FILE": str(config)})
    assert error.setting == "config_file"
    assert error.source == "environment variable PYWATS_OTEL_CONFIG_FILE"
    assert f"{config} is not UTF-8 text (byte 0xe9 at offset 24)" in str(error)


@pytest.mark.parametrize("host", ["not a host!", "-station", "a..b", "st_ation", "x" * 64])
def test_the_prometheus_host_must_be_a_host_name_or_ip_address(host: str) -> None:
    """A host that cannot be bound is refused at start instead of starting without /metrics."""
    error = _refused({}, {"OTEL_EXPORTER_PROMETHEUS_HOST": host})
    assert error.setting == "prometheus_host"
    assert "is neither an IP address nor a host name" in str(error)
    assert "accepted: a host name or IP address" in str(error)


@pytest.mark.parametrize(
    ("host", "kept"),
    [
        ("localhost", "localhost"),
        ("[::1]", "::1"),
        ("0.0.0.0", "0.0.0.0"),
        ("st-7.lab.", "st-7.lab."),
    ],
)
def test_host_names_and_addresses_are_taken(host: str, kept: str) -> None:
    assert load_settings({"prometheus_host": host}).prometheus_host == kept


def test_text_that_is_not_utf8_is_refused_for_resource_settings() -> None:
    """A non-UTF-8 byte in the environment arrives as a lone surrogate: OTLP cannot send it."""
    error = _refused({}, {"OTEL_SERVICE_NAME": "station-\udce9"})
    assert error.setting == "service_name"
    assert "is not UTF-8 text" in str(error)
    error = _refused({}, {"OTEL_RESOURCE_ATTRIBUTES": "site=oslo-\udce9"})
    assert error.setting == "resource_attributes"
