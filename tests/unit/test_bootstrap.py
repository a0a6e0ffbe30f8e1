"""init_telemetry(): resource, providers, exporters by name, the handle, flush and shutdown."""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Sequence
from typing import Any

import pytest
from opentelemetry import metrics, trace
from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY, attach, detach, set_value
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

import pywats_otel
from pywats_otel import (
    TelemetryConfigError,
    get_telemetry,
    init_telemetry,
    semconv,
)
from pywats_otel._base.redact import set_secrets
from pywats_otel._config import exporters as _exporters
from pywats_otel._config.loader import load_settings
from pywats_otel._pipeline import bootstrap as _bootstrap
from pywats_otel._pipeline import export as _pipeline
from pywats_otel.exporters import ExporterSpec
from pywats_otel.testing import capture_telemetry


def test_public_api_is_small_and_sorted() -> None:
    """The package exports exactly the documented names, sorted."""
    assert pywats_otel.__all__ == sorted(pywats_otel.__all__)
    assert set(pywats_otel.__all__) == {
        "SettingsKwargs",
        "Telemetry",
        "TelemetryConfigError",
        "TelemetrySettings",
        "__version__",
        "converter",
        "correlation",
        "get_telemetry",
        "health",
        "init_telemetry",
        "instrumentation",
        "queue",
        "semconv",
        "shutdown_telemetry",
        "testing",
    }


def test_resource_carries_service_host_process_and_sdk(monkeypatch: pytest.MonkeyPatch) -> None:
    """Spans carry the settings' resource; named settings win over OTEL_RESOURCE_ATTRIBUTES."""
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "site=lab-2,service.name=ignored")
    with capture_telemetry(
        service_name="station-7", service_version="2.1.0", environment="production"
    ) as captured:
        with trace.get_tracer("test").start_as_current_span("work"):
            pass
        [span] = captured.spans("work")
    resource = dict(span.resource.attributes)
    assert resource["service.name"] == "station-7"
    assert resource["service.version"] == "2.1.0"
    assert resource["deployment.environment.name"] == "production"
    assert resource["site"] == "lab-2"
    assert resource["host.name"] == socket.gethostname()
    assert resource["process.pid"] == os.getpid()
    assert resource["telemetry.sdk.language"] == "python"
    assert resource["telemetry.sdk.name"] == "opentelemetry"
    assert isinstance(resource["telemetry.sdk.version"], str)


def test_spans_flow_through_the_batch_processor_with_parents() -> None:
    """A child span has its parent's span ID and the same trace ID; status counts the export."""
    with capture_telemetry() as captured:
        tracer = trace.get_tracer("test")
        with (
            tracer.start_as_current_span("parent") as parent,
            tracer.start_as_current_span("child"),
        ):
            pass
        spans = {span.name: span for span in captured.spans()}
        status = captured.telemetry.status()
    assert spans["child"].parent is not None
    assert spans["child"].parent.span_id == parent.get_span_context().span_id
    assert spans["child"].context.trace_id == spans["parent"].context.trace_id
    [traces] = status["traces"]
    assert traces["name"] == "memory"
    assert traces["exported"] == 2
    assert traces["failed"] == 0
    assert traces["last_success"] is not None


def test_duration_histograms_use_the_semconv_buckets() -> None:
    """The views give every pywats duration histogram its documented boundaries in seconds."""
    with capture_telemetry() as captured:
        meter = metrics.get_meter("test")
        meter.create_histogram(semconv.CONVERTER_DURATION, unit="s").record(0.3)
        meter.create_histogram(semconv.QUEUE_WAIT_DURATION, unit="s").record(7200)
        [(_, converter)] = captured.metric_points(semconv.CONVERTER_DURATION)
        [(_, wait)] = captured.metric_points(semconv.QUEUE_WAIT_DURATION)
    assert tuple(converter.explicit_bounds) == semconv.CONVERTER_BUCKETS
    assert tuple(wait.explicit_bounds) == semconv.QUEUE_WAIT_BUCKETS
    assert wait.sum == 7200


@pytest.mark.parametrize(
    ("sampler", "arg", "sampled"),
    [
        ("always_on", None, True),
        ("always_off", None, False),
        ("traceidratio", 0.0, False),
        ("traceidratio", 1.0, True),
        ("parentbased_always_off", None, False),
        ("parentbased_traceidratio", 0.0, False),
    ],
)
def test_sampler_setting_decides_what_is_sampled(
    sampler: str, arg: float | None, sampled: bool
) -> None:
    """OTEL_TRACES_SAMPLER's values pick the sampler; unsampled spans are not exported."""
    with capture_telemetry(sampler=sampler, sampler_arg=arg) as captured:
        with trace.get_tracer("test").start_as_current_span("root") as span:
            assert span.get_span_context().trace_flags.sampled is sampled
        assert len(captured.spans("root")) == (1 if sampled else 0)


def test_second_init_returns_the_same_handle_and_warns_on_change(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """init_telemetry() is idempotent; different settings on a later call are named in a warning."""
    with capture_telemetry(service_name="a") as captured:
        assert init_telemetry() is captured.telemetry
        with caplog.at_level(logging.WARNING, logger="pywats_otel"):
            again = init_telemetry(service_name="b")
        assert again is captured.telemetry
        assert get_telemetry() is captured.telemetry
        assert again.settings.service_name == "a"
    assert "different settings (service_name)" in caplog.text


def test_disabled_starts_no_thread_and_opens_no_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    """OTEL_SDK_DISABLED=true: nothing starts, every call returns at once."""
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    started: list[str] = []
    opened: list[Any] = []
    real_start, real_socket_init = threading.Thread.start, socket.socket.__init__

    def record_start(self: threading.Thread) -> None:
        started.append(self.name)
        real_start(self)

    def record_socket(self: socket.socket, *args: Any, **kwargs: Any) -> None:
        opened.append(args)
        real_socket_init(self, *args, **kwargs)

    monkeypatch.setattr(threading.Thread, "start", record_start)
    monkeypatch.setattr(socket.socket, "__init__", record_socket)
    telemetry = init_telemetry(service_name="off", prometheus_port=0)
    with trace.get_tracer("test").start_as_current_span("nothing") as span:
        assert not span.get_span_context().is_valid
    assert telemetry.status() == {
        "enabled": False,
        "active": False,
        "shut_down": False,
        # The default version is pywats-api's, where it is installed (as in CI).
        "service": {
            "name": "off",
            "version": load_settings({}, environ={}).service_version,
            "environment": None,
        },
        "pywats_otel_version": pywats_otel.__version__,
        "started_at": telemetry.status()["started_at"],
    }
    assert telemetry.force_flush(timeout_s=1) is True
    assert telemetry.shutdown(timeout_s=1) is True
    assert telemetry.shutdown(timeout_s=1) is True
    assert started == []
    assert opened == []
    assert init_telemetry() is telemetry


def test_shutdown_is_idempotent_and_flushes() -> None:
    """shutdown() exports what is buffered and a second call returns True at once."""
    with capture_telemetry() as captured:
        with trace.get_tracer("test").start_as_current_span("last"):
            pass
        assert captured.telemetry.shutdown(timeout_s=2) is True
        assert captured.telemetry.shutdown(timeout_s=2) is True
        assert captured.telemetry.status()["shut_down"] is True
        assert [s.name for s in captured.span_exporter.get_finished_spans()] == ["last"]


def test_start_up_line_says_where_each_signal_goes(caplog: pytest.LogCaptureFixture) -> None:
    """One INFO line names the service and each signal's destinations."""
    with (
        caplog.at_level(logging.INFO, logger="pywats_otel"),
        capture_telemetry(
            service_name="station-7", service_version="1.2", metrics_exporter="memory,console"
        ),
    ):
        pass
    [line] = [r.getMessage() for r in caplog.records if "telemetry for" in r.getMessage()]
    assert "telemetry for station-7 1.2" in line
    assert "traces -> memory (pywats_otel.testing)" in line
    assert "metrics -> memory (pywats_otel.testing), console (stdout)" in line
    assert "logs -> memory (pywats_otel.testing)" in line


def test_log_records_carry_the_span_and_severity() -> None:
    """A record logged inside a span reaches the logs exporter with that span's IDs."""
    with capture_telemetry() as captured:
        logging.getLogger().setLevel(logging.INFO)
        with trace.get_tracer("test").start_as_current_span("work") as span:
            logging.getLogger("station.upload").warning("upload %s failed", "r-1")
        [record] = [r for r in captured.log_records() if r.log_record.body == "upload r-1 failed"]
    context = span.get_span_context()
    assert record.log_record.trace_id == context.trace_id
    assert record.log_record.span_id == context.span_id
    assert record.log_record.severity_text == "WARN"
    assert record.instrumentation_scope is not None
    assert record.instrumentation_scope.name == "station.upload"


def test_sdk_and_export_time_records_never_feed_back() -> None:
    """Records of the SDK's loggers and records logged during export are not exported."""
    with capture_telemetry() as captured:
        logging.getLogger().setLevel(logging.INFO)
        logging.getLogger("opentelemetry.sdk.trace").warning("sdk talks")
        logging.getLogger("grpc._channel").warning("grpc talks")
        token = attach(set_value(_SUPPRESS_INSTRUMENTATION_KEY, True))
        try:
            logging.getLogger("station").warning("during export")
        finally:
            detach(token)
        logging.getLogger("station").warning("kept")
        bodies = [r.log_record.body for r in captured.log_records()]
    assert bodies == ["kept"]


# The real exporter module's logger must exist before init_telemetry(), as it does when the
# otlp exporter is configured.
import opentelemetry.exporter.otlp.proto.grpc.exporter  # noqa: E402, F401


class _FailingExporter(SpanExporter):
    def __init__(self, raise_error: bool = False) -> None:
        self.calls = 0
        self.raise_error = raise_error

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.calls += 1
        if self.raise_error:
            raise ConnectionError("collector exploded")
        logging.getLogger("opentelemetry.exporter.otlp.proto.grpc.exporter").error(
            "Failed to export traces to collector:4317, error code: StatusCode.UNAVAILABLE"
        )
        return SpanExportResult.FAILURE

    def shutdown(self) -> None:
        pass


@pytest.fixture
def failing_exporter() -> Any:
    exporter = _FailingExporter()
    _exporters.register_builtin(
        "failing",
        ExporterSpec(
            span_exporter=lambda context: exporter, describe=lambda context: "failing sink"
        ),
    )
    yield exporter
    _exporters.unregister_builtin("failing")


def test_export_failures_are_counted_and_logged_once_a_minute(
    failing_exporter: _FailingExporter, caplog: pytest.LogCaptureFixture
) -> None:
    """Three failed exports: counted in status(), the SDK's error kept, one warning logged."""
    with caplog.at_level(logging.WARNING), capture_telemetry(traces_exporter="failing") as captured:
        tracer = trace.get_tracer("test")
        for _ in range(3):
            with tracer.start_as_current_span("lost"):
                pass
            captured.flush()
        [traces] = captured.telemetry.status()["traces"]
    assert failing_exporter.calls == 3
    assert traces["failed"] == 3
    assert traces["exported"] == 0
    assert traces["failed_exports"] == 3
    assert "StatusCode.UNAVAILABLE" in traces["last_error"]
    warnings = [
        r.getMessage() for r in caplog.records if "export to failing sink" in r.getMessage()
    ]
    assert len(warnings) == 1
    assert "StatusCode.UNAVAILABLE" in warnings[0]
    # The SDK's own error was taken in by the exporter's status, not logged a second time.
    assert "Failed to export traces" not in [r.getMessage() for r in caplog.records]


def test_an_exporter_that_raises_is_a_counted_failure(failing_exporter: _FailingExporter) -> None:
    """An exception inside export() never reaches the program; it becomes last_error."""
    failing_exporter.raise_error = True
    with capture_telemetry(traces_exporter="failing") as captured:
        with trace.get_tracer("test").start_as_current_span("lost"):
            pass
        captured.flush()
        [traces] = captured.telemetry.status()["traces"]
    assert traces["failed"] == 1
    assert traces["last_error"] == "ConnectionError: collector exploded"


def test_spans_dropped_by_a_full_queue_are_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    """With a queue of 4 and a blocked exporter, the spans beyond the queue count as dropped."""
    monkeypatch.setenv("OTEL_BSP_MAX_QUEUE_SIZE", "4")
    monkeypatch.setenv("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "4")
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "60000")
    release = threading.Event()

    class Blocking(SpanExporter):
        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            release.wait(10)
            return SpanExportResult.SUCCESS

        def shutdown(self) -> None:
            release.set()

    _exporters.register_builtin("blocking", ExporterSpec(span_exporter=lambda context: Blocking()))
    try:
        with capture_telemetry(traces_exporter="blocking") as captured:
            tracer = trace.get_tracer("test")
            for _ in range(10):
                with tracer.start_as_current_span("burst"):
                    pass
            [traces] = captured.telemetry.status()["traces"]
            release.set()
    finally:
        _exporters.unregister_builtin("blocking")
    # The fourth span wakes the worker, which may take those four before more arrive; either
    # way at least the six beyond one full queue are dropped and counted.
    assert 2 <= traces["dropped"] <= 6


def test_exporter_registered_by_entry_point_is_usable(monkeypatch: pytest.MonkeyPatch) -> None:
    """A plug-in's entry point name works in the exporter setting like a built-in."""
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    sink = InMemorySpanExporter()
    plugin = ExporterSpec(span_exporter=lambda context: sink, describe=lambda context: "plugin")
    entry = importlib_entry_point("acme", "acme_telemetry:SPEC")
    monkeypatch.setattr(entry, "load", lambda: plugin, raising=False)
    monkeypatch.setattr(
        _exporters.importlib.metadata,
        "entry_points",
        lambda group: [entry] if group == _exporters.ENTRY_POINT_GROUP else [],
    )
    _exporters.reset_plugins()
    try:
        assert "acme" in _exporters.available_exporters("traces")
        assert "acme" not in _exporters.available_exporters("metrics")
        telemetry = init_telemetry(traces_exporter="acme", metrics_exporter="none")
        with trace.get_tracer("test").start_as_current_span("via-plugin"):
            pass
        telemetry.force_flush(timeout_s=2)
        assert [span.name for span in sink.get_finished_spans()] == ["via-plugin"]
        with pytest.raises(TelemetryConfigError, match="unknown metrics exporter 'acme'"):
            load_settings({"metrics_exporter": "acme"})
    finally:
        _exporters.reset_plugins()


def importlib_entry_point(name: str, value: str) -> Any:
    import importlib.metadata

    class Entry:
        def __init__(self) -> None:
            self.name = name
            self.value = value
            self.group = _exporters.ENTRY_POINT_GROUP

        def load(self) -> Any:
            return importlib.metadata.EntryPoint(name, value, self.group).load()

    return Entry()


def test_broken_plugin_is_a_warning_not_a_crash(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A plug-in whose import fails is left out with a warning; built-ins still work."""
    entry = importlib_entry_point("broken", "no_such_module_anywhere:SPEC")
    monkeypatch.setattr(_exporters.importlib.metadata, "entry_points", lambda group: [entry])
    _exporters.reset_plugins()
    try:
        with caplog.at_level(logging.WARNING, logger="pywats_otel"):
            assert "broken" not in _exporters.available_exporters("traces")
        assert "exporter plug-in 'broken'" in caplog.text
        with pytest.raises(TelemetryConfigError, match="known: console, otlp, tree, none"):
            load_settings({"traces_exporter": "broken"})
    finally:
        _exporters.reset_plugins()


def test_missing_exporter_package_names_what_to_install() -> None:
    """An exporter whose package is missing is refused with the package's name."""

    def needs_package(context: Any) -> SpanExporter:
        import pywats_otel_no_such_exporter_package  # type: ignore[import-not-found]  # noqa: F401

        raise AssertionError("unreachable")

    _exporters.register_builtin("needy", ExporterSpec(span_exporter=needs_package))
    try:
        with pytest.raises(TelemetryConfigError) as caught:
            init_telemetry(traces_exporter="needy", metrics_exporter="none")
    finally:
        _exporters.unregister_builtin("needy")
    assert caught.value.setting == "traces_exporter"
    assert "pywats_otel_no_such_exporter_package" in str(caught.value)
    assert get_telemetry() is None


def test_otlp_arguments_convert_milliseconds_and_add_signal_paths() -> None:
    """The spec's milliseconds become the exporters' seconds; HTTP gets /v1/<signal>."""
    from pywats_otel._config.otlp import otlp_options

    grpc_settings = load_settings(
        {"otlp_endpoint": "http://collector:4317", "otlp_timeout": 2500, "otlp_headers": "a=b"},
        environ={},
    )
    kwargs = _exporters._grpc_kwargs(otlp_options(grpc_settings, "traces"))
    assert kwargs["timeout"] == 2.5
    assert kwargs["insecure"] is True
    assert kwargs["headers"] == {"a": "b"}
    assert kwargs["channel_options"] == _exporters.GRPC_CHANNEL_OPTIONS
    http_settings = load_settings(
        {"otlp_endpoint": "https://collector:4318/", "otlp_protocol": "http/protobuf"}, environ={}
    )
    assert _exporters._http_kwargs(otlp_options(http_settings, "logs"))["endpoint"] == (
        "https://collector:4318/v1/logs"
    )
    tls = otlp_options(
        load_settings({"otlp_endpoint": "https://collector:4317"}, environ={}), "traces"
    )
    assert _exporters._grpc_kwargs(tls)["insecure"] is False
    assert "credentials" in _exporters._grpc_kwargs(tls)


def test_endpoint_credentials_never_reach_descriptions() -> None:
    """A user:password in the endpoint URL is cut from what is logged and shown."""
    from opentelemetry.sdk.resources import Resource

    settings = load_settings(
        {"otlp_endpoint": "https://u:pw@collector:4318/x", "otlp_protocol": "http/protobuf"},
        environ={},
    )
    context = _exporters.ExporterContext(settings, Resource({}), "traces")
    assert _exporters.get("otlp", "traces").describe(context) == (
        "otlp http/protobuf https://REDACTED:REDACTED@collector:4318/x/v1/traces"
    )


def test_atexit_hook_shuts_down_the_running_telemetry() -> None:
    """The interpreter-exit hook flushes and shuts the current handle down."""
    with capture_telemetry() as captured:
        with trace.get_tracer("test").start_as_current_span("at-exit"):
            pass
        _bootstrap._shutdown_at_exit()
        assert captured.telemetry.is_shut_down
        assert [s.name for s in captured.span_exporter.get_finished_spans()] == ["at-exit"]


def test_secrets_are_scrubbed_from_kept_error_messages() -> None:
    """A header value echoed in an exporter's error is replaced before it is kept or logged."""
    set_secrets(["s3cr3t-token"])
    try:
        stats = _pipeline.ExportStats("traces", "otlp", "otlp grpc http://c:4317")
        stats.record_failure(1, "401 Unauthorized for token s3cr3t-token")
        assert stats.snapshot()["last_error"] == "401 Unauthorized for token ***"
    finally:
        set_secrets([])


def test_unexpected_start_up_failure_leaves_the_program_running(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A bug inside the bootstrap is logged; init_telemetry() returns a disabled handle."""

    def explode(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("bug in a setup step")

    monkeypatch.setattr(_bootstrap, "_setup_logs", explode)
    with caplog.at_level(logging.ERROR, logger="pywats_otel"):
        telemetry = init_telemetry(metrics_exporter="none")
    assert telemetry.enabled is False
    assert telemetry.shutdown(timeout_s=1) is True
    assert "telemetry could not start" in caplog.text


def test_shutdown_telemetry_shuts_the_running_handle_down() -> None:
    """shutdown_telemetry() reaches the handle of init_telemetry(); without one it is a no-op."""
    assert pywats_otel.shutdown_telemetry() is True
    with capture_telemetry() as captured:
        assert pywats_otel.shutdown_telemetry(timeout_s=2) is True
        assert captured.telemetry.is_shut_down


def test_an_exporter_whose_shutdown_raises_makes_every_shutdown_false_said_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The first shutdown() said False, the second True: the result is one, logged once; the
    exporter's spans were exported all the same, and the other signals shut down."""

    class Sink(SpanExporter):
        def __init__(self) -> None:
            self.spans: list[str] = []

        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            self.spans += [span.name for span in spans]
            return SpanExportResult.SUCCESS

        def shutdown(self) -> None:
            raise OSError("socket already closed")

    sink = Sink()
    _exporters.register_builtin("raising", ExporterSpec(span_exporter=lambda context: sink))
    try:
        with (
            caplog.at_level(logging.WARNING, logger="pywats_otel"),
            capture_telemetry(traces_exporter="memory,raising") as captured,
        ):
            with trace.get_tracer("test").start_as_current_span("last"):
                pass
            results = [captured.telemetry.shutdown(timeout_s=2) for _ in range(3)]
            status = captured.telemetry.status()
    finally:
        _exporters.unregister_builtin("raising")
    assert results == [False, False, False]
    assert sink.spans == ["last"]
    assert [s.name for s in captured.span_exporter.get_finished_spans()] == ["last"]
    warnings = [
        r.getMessage() for r in caplog.records if r.getMessage().startswith("pywats_otel: shutdown")
    ]
    assert warnings == [
        "pywats_otel: shutdown within 2.0 s was not clean: the traces exporter raising failed "
        "to shut down: OSError: socket already closed; what was left behind is lost (status() "
        "counts it as left_behind and dropped)"
    ]
    assert status["shutdown"]["clean"] is False
    assert [t["exported"] for t in status["traces"]] == [1, 1]


def test_init_after_shutdown_says_telemetry_is_off_and_counts_what_it_drops(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """init_telemetry() after shutdown() returns the old handle, whose status() said
    enabled: True while every later span was dropped unseen."""
    with capture_telemetry() as captured:
        assert captured.telemetry.shutdown(timeout_s=2) is True
        with caplog.at_level(logging.WARNING, logger="pywats_otel"):
            again = init_telemetry()
        tracer = trace.get_tracer("test")
        for _ in range(2):
            with tracer.start_as_current_span("after"):
                pass
        status = again.status()
    assert again is captured.telemetry
    assert (status["enabled"], status["active"], status["shut_down"]) == (True, False, True)
    assert status["shutdown"]["clean"] is True
    assert "telemetry is off for the rest of this process" in status["shutdown"]["note"]
    [traces] = status["traces"]
    assert (traces["dropped"], traces["dropped_after_shutdown"], traces["exported"]) == (2, 2, 0)
    assert "spans and log records from now on are dropped" in caplog.text


def test_the_resource_hashes_and_compares_as_the_sdk_s_does() -> None:
    """build_resource()'s Resource keeps the SDK's hash and equality (the OTLP encoders group
    spans by it), computing the hash once."""
    from opentelemetry.sdk.resources import Resource

    from pywats_otel._config.loader import load_settings
    from pywats_otel._pipeline.bootstrap import build_resource

    resource = build_resource(load_settings({"service_name": "hash-test"}))
    plain = Resource(dict(resource.attributes), resource.schema_url)
    assert hash(resource) == hash(plain) == hash(resource)
    assert resource == plain
    assert plain == resource
    grouped = {plain: "spans"}
    assert grouped[resource] == "spans"
    assert resource.attributes["service.name"] == "hash-test"
