"""Export failures reported right: one warning per exporter per minute however successes and
failures alternate, the recovery line counting every failure since the last success, the
cause taken from the export call (never hidden by the SDK's DuplicateFilter), no control
characters."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk._shared_internal import DuplicateFilter
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from pywats_otel._config import exporters as _exporters
from pywats_otel._pipeline import export
from pywats_otel._pipeline.export import CountingSpanExporter, ExportStats
from pywats_otel.exporters import ExporterSpec
from pywats_otel.testing import capture_telemetry


def _lines(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.name == "pywats_otel.export" and record.levelno == level
    ]


def test_alternating_failures_give_one_warning_a_minute(
    clock: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """A collector that rejects every other batch: 1 warning in the first minute, not 7."""
    caplog.set_level(logging.INFO, logger="pywats_otel.export")
    stats = ExportStats("traces", "otlp", "otlp grpc http://collector:4317")
    for _ in range(7):
        stats.record_failure(10, "UNAVAILABLE: connection refused")
        clock.now += 3
        stats.record_success(10)
        clock.now += 3
    warnings = _lines(caplog, logging.WARNING)
    assert warnings == [
        "pywats_otel: traces export to otlp grpc http://collector:4317 failed: "
        "UNAVAILABLE: connection refused (1 failed export so far, 10 items lost in all); "
        "the next report of this comes in a minute at most"
    ]
    # One recovery line, after the failure that was reported; later ones were not reported.
    assert _lines(caplog, logging.INFO) == [
        "pywats_otel: traces export to otlp grpc http://collector:4317 recovered after "
        "1 failed export since the last success"
    ]
    clock.now += 60
    stats.record_failure(10, "UNAVAILABLE: connection refused")
    assert _lines(caplog, logging.WARNING)[-1] == (
        "pywats_otel: traces export to otlp grpc http://collector:4317 failed: "
        "UNAVAILABLE: connection refused (7 failed exports since the last report of this, "
        "80 items lost in all); the next report of this comes in a minute at most"
    )


def test_the_recovery_line_counts_every_failure_since_the_last_success(
    clock: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Failures over three minutes: three warnings, and the recovery counts all of them."""
    caplog.set_level(logging.INFO, logger="pywats_otel.export")
    stats = ExportStats("logs", "otlp", "sink")
    for _ in range(12):
        stats.record_failure(1, "DEADLINE_EXCEEDED: no answer")
        clock.now += 15
    stats.record_success(1)
    assert len(_lines(caplog, logging.WARNING)) == 3
    assert _lines(caplog, logging.INFO) == [
        "pywats_otel: logs export to sink recovered after 12 failed exports since the last success"
    ]
    assert stats.snapshot()["consecutive_failures"] == 0


def test_control_characters_never_reach_the_log_or_status(clock: Any) -> None:
    """An HTTP/2 frame read as an HTTP/1.1 status line: its bytes are stripped."""
    stats = ExportStats("traces", "otlp", "sink")
    stats.record_failure(1, "BadStatusLine('\x00\x00\x06\x04\x00\x00\x00\x00\x00\x1b[2J')\r\nend")
    assert stats.snapshot()["last_error"] == "BadStatusLine('[2J') end"


def test_a_diagnosis_is_added_to_the_first_failure_only(clock: Any) -> None:
    """The destination is probed once, at the first failure; later ones carry only the cause."""
    stats = ExportStats("traces", "otlp", "sink")
    probes: list[int] = []

    def diagnose() -> str:
        probes.append(1)
        return "127.0.0.1:4318 answers without TLS: use http://"

    stats.diagnose = diagnose
    stats.record_failure(1, "SSLError: wrong version number")
    first = stats.snapshot()["last_error"]
    stats.record_failure(1, "SSLError: wrong version number")
    assert (
        first == "SSLError: wrong version number; 127.0.0.1:4318 answers without TLS: use http://"
    )
    assert stats.snapshot()["last_error"] == "SSLError: wrong version number"
    assert probes == [1]


# -- the cause of each failure, from the export call -----------------------------------------

# Named like the SDK's exporter loggers, so that install_sdk_log_filter() covers it.
_sdk_logger = logging.getLogger("opentelemetry.exporter.fake_for_tests")
_sdk_logger.addFilter(DuplicateFilter())


@pytest.fixture(autouse=True)
def _filter_installed() -> Iterator[None]:
    export.install_sdk_log_filter()
    yield
    export.remove_sdk_log_filter()


class _ResultOf:
    """What the SDK's export_operation() yields: the error the exporter leaves on it."""

    def __init__(self) -> None:
        self.error: BaseException | None = None
        self.error_attrs: dict[str, object] | None = None


class _Metrics:
    def __init__(self) -> None:
        self.operations = 0

    def export_operation(self, num_items: int) -> Iterator[_ResultOf]:
        import contextlib

        @contextlib.contextmanager
        def operation() -> Iterator[_ResultOf]:
            self.operations += 1
            yield _ResultOf()

        return operation()  # type: ignore[return-value]


class _FakeRpcError(Exception):
    def __init__(self, code: str, details: str) -> None:
        super().__init__(details)
        self._code, self._details = code, details

    def code(self) -> object:
        class Code:
            name = self._code

        return Code()

    def details(self) -> str:
        return self._details


class _SDKLikeExporter(SpanExporter):
    """Fails like the SDK's OTLP exporters: one message template logged on a logger with a
    DuplicateFilter, the error left on the export_operation() result."""

    def __init__(self) -> None:
        self._metrics = _Metrics()
        self.codes: list[str] = []
        self.status: int | None = None

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        with self._metrics.export_operation(len(spans)) as result:
            if self.status is not None:
                _sdk_logger.error("Failed to export span batch code: %s", self.status)
                result.error_attrs = {"http.response.status_code": self.status}
                return SpanExportResult.FAILURE
            code = self.codes.pop(0)
            _sdk_logger.error("Failed to export traces, error code: %s", code)
            result.error = _FakeRpcError(code, f"the collector says {code.lower()}")
            return SpanExportResult.FAILURE

    def shutdown(self) -> None:
        pass


def test_each_failure_names_its_own_code_despite_the_duplicate_filter(clock: Any) -> None:
    """PERMISSION_DENIED after UNAUTHENTICATED is reported as PERMISSION_DENIED."""
    delegate = _SDKLikeExporter()
    delegate.codes = ["UNAUTHENTICATED", "PERMISSION_DENIED", "INVALID_ARGUMENT"]
    stats = ExportStats("traces", "otlp", "sink")
    exporter = CountingSpanExporter(delegate, stats)
    seen = []
    for _ in range(3):
        exporter.export([])
        seen.append(stats.snapshot()["last_error"])
    assert seen == [
        "UNAUTHENTICATED: the collector says unauthenticated",
        "PERMISSION_DENIED: the collector says permission_denied",
        "INVALID_ARGUMENT: the collector says invalid_argument",
    ]
    # The SDK's self-observability still ran for each export, through the hook.
    assert delegate._metrics.inner.operations == 3  # type: ignore[attr-defined]


def test_an_http_status_failure_names_the_status_and_the_sdk_message(clock: Any) -> None:
    delegate = _SDKLikeExporter()
    delegate.status = 400
    stats = ExportStats("traces", "otlp", "sink")
    CountingSpanExporter(delegate, stats).export([])
    assert stats.snapshot()["last_error"] == ("HTTP 400 (Failed to export span batch code: 400)")


class _Quiet(SpanExporter):
    """Fails without a word."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.FAILURE

    def shutdown(self) -> None:
        pass


def test_a_failure_without_a_cause_says_so(clock: Any) -> None:
    stats = ExportStats("traces", "quiet", "sink")
    CountingSpanExporter(_Quiet(), stats).export([])
    assert stats.snapshot()["last_error"] == "the exporter reported no cause"


def test_the_filter_sits_before_the_sdk_duplicate_filter() -> None:
    """After init_telemetry() the OTLP exporters' loggers have pywats_otel's filter first."""
    _exporters.register_builtin("sdk-like", ExporterSpec(span_exporter=lambda c: _Quiet()))
    try:
        from opentelemetry.exporter.otlp.proto.grpc import exporter as grpc_exporter

        with capture_telemetry(traces_exporter="sdk-like", instrumentations="none"):
            with trace.get_tracer("test").start_as_current_span("x"):
                pass
            filters = grpc_exporter.logger.filters
            assert filters[0] is export._sdk_filter
            assert any(isinstance(f, DuplicateFilter) for f in filters[1:])
    finally:
        _exporters.unregister_builtin("sdk-like")
