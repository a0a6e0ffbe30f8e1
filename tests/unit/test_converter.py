"""pywats_otel.converter: the convert span, its file attributes, statuses and metrics."""

from __future__ import annotations

import asyncio
import enum
import logging
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.trace import SpanKind, StatusCode

from pywats_otel import converter, queue, semconv
from pywats_otel._base.ratelimit import reset_warnings
from pywats_otel.testing import capture_telemetry

CSV = "step,value,low,high\nvoltage,3.31,3.2,3.4\ncurrent,0.12,0.1,0.2\n"


class ConversionStatus(enum.Enum):
    """Like pyWATS's converter status enum."""

    SUCCESS = "success"
    SKIPPED = "skipped"
    SUSPENDED = "suspended"


@dataclass
class ConverterResult:
    """Like pyWATS's ConverterResult: a status and what was converted."""

    status: ConversionStatus
    records: int


class ParseError(Exception):
    pass


@pytest.fixture
def tester_file(tmp_path: Path) -> Path:
    path = tmp_path / "ICT-0001.CSV"
    path.write_text(CSV)
    return path


@pytest.fixture(autouse=True)
def fresh_warnings() -> None:
    reset_warnings()


def test_conversion_span_carries_the_file_and_records(tester_file: Path) -> None:
    """An INTERNAL span with the converter, file name, extension, size and records; no path."""
    with capture_telemetry() as captured:
        with converter.conversion("teradyne-ict", source=tester_file) as run:
            run.records = 2
        [span] = captured.spans("convert teradyne-ict")
        executions = captured.metric_value(
            semconv.CONVERTER_EXECUTIONS,
            {semconv.CONVERTER_NAME: "teradyne-ict", semconv.CONVERTER_STATUS: "success"},
        )
        duration_count, duration_sum = captured.metric_value(semconv.CONVERTER_DURATION)
    assert span.kind is SpanKind.INTERNAL
    assert dict(span.attributes or {}) == {
        "pywats.converter.name": "teradyne-ict",
        "pywats.converter.file.name": "ICT-0001.CSV",
        "pywats.converter.file.extension": "csv",
        "pywats.converter.file.size": len(CSV),
        "pywats.converter.status": "success",
        "pywats.converter.records": 2,
    }
    assert span.status.status_code is StatusCode.UNSET
    assert run.status == "success"
    assert executions == 1
    assert duration_count == 1
    assert 0 <= duration_sum < 5


@pytest.mark.parametrize("how", ["keyword", "environment"])
def test_the_full_path_is_recorded_only_when_the_setting_allows(
    tester_file: Path, how: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """converter_record_path (PYWATS_OTEL_CONVERTER_RECORD_PATH) adds the absolute path."""
    settings: dict[str, Any] = {}
    if how == "keyword":
        settings["converter_record_path"] = True
    else:
        monkeypatch.setenv("PYWATS_OTEL_CONVERTER_RECORD_PATH", "true")
    with capture_telemetry(**settings) as captured:
        with converter.conversion("csv", source=str(tester_file)):
            pass
        [span] = captured.spans("convert csv")
    assert span.attributes is not None
    assert span.attributes["pywats.converter.file.path"] == str(tester_file.resolve())


@pytest.mark.parametrize("status", ["skipped", "suspended", "rejected", "failed", "SKIPPED"])
def test_an_explicit_status_is_what_span_and_metrics_say(tester_file: Path, status: str) -> None:
    """run.status set in the block is the span's status attribute and the metric's label."""
    expected = status.lower()
    with capture_telemetry() as captured:
        with converter.conversion("csv", source=tester_file) as run:
            run.status = status
        [span] = captured.spans("convert csv")
        executions = captured.metric_value(
            semconv.CONVERTER_EXECUTIONS, {semconv.CONVERTER_STATUS: expected}
        )
        duration = captured.metric_value(
            semconv.CONVERTER_DURATION, {semconv.CONVERTER_STATUS: expected}
        )
    assert span.attributes is not None
    assert span.attributes["pywats.converter.status"] == expected
    assert executions == 1
    assert duration[0] == 1
    failed = expected == "failed"
    assert span.status.status_code is (StatusCode.ERROR if failed else StatusCode.UNSET)


def test_an_exception_is_failed_recorded_and_passes_unchanged(tester_file: Path) -> None:
    """The converter's own exception object leaves the block; the span records it."""
    raised = ParseError("line 3: no value")
    with capture_telemetry() as captured:
        with pytest.raises(ParseError) as caught, converter.conversion("csv", source=tester_file):
            raise raised
        [span] = captured.spans("convert csv")
        failed = captured.metric_value(
            semconv.CONVERTER_EXECUTIONS, {semconv.CONVERTER_STATUS: "failed"}
        )
    assert caught.value is raised
    assert traceback.extract_tb(caught.value.__traceback__)[-1].line == "raise raised"
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == "ParseError: line 3: no value"
    assert span.attributes is not None
    assert span.attributes["error.type"] == "ParseError"
    assert span.attributes["pywats.converter.status"] == "failed"
    assert [event.name for event in span.events] == ["exception"]
    assert failed == 1


@pytest.mark.parametrize(
    ("result", "status", "records"),
    [
        (ConverterResult(ConversionStatus.SUSPENDED, 4), "suspended", 4),
        ({"status": "rejected", "records": 0}, "rejected", 0),
        (ConversionStatus.SKIPPED, "skipped", None),
        ("success", "success", None),
        ({"report": "no status here"}, "success", None),
        (None, "success", None),
    ],
    ids=["result-object", "mapping", "enum", "text", "no-status", "none"],
)
def test_traced_converter_reads_the_status_from_the_result(
    tester_file: Path, result: object, status: str, records: int | None
) -> None:
    """The decorator takes status and records from a pyWATS-like result, a mapping or an Enum."""

    @converter.traced_converter("csv")
    def convert(path: Path) -> object:
        return result

    with capture_telemetry() as captured:
        assert convert(tester_file) is result
        [span] = captured.spans("convert csv")
        executions = captured.metric_value(
            semconv.CONVERTER_EXECUTIONS, {semconv.CONVERTER_STATUS: status}
        )
    assert span.attributes is not None
    assert span.attributes["pywats.converter.status"] == status
    assert span.attributes.get("pywats.converter.records") == records
    assert span.attributes["pywats.converter.file.name"] == "ICT-0001.CSV"
    assert executions == 1


def test_traced_converter_wraps_async_functions_and_explicit_status_wins(
    tester_file: Path,
) -> None:
    """An async converter is traced; current_run().status set inside beats the result."""

    @converter.traced_converter("xml", source=lambda job: job["file"])
    async def convert(job: dict[str, Path]) -> ConverterResult:
        await asyncio.sleep(0)
        run = converter.current_run()
        assert run is not None
        run.status = "suspended"
        return ConverterResult(ConversionStatus.SUCCESS, 7)

    raised = ParseError("bad xml")

    @converter.traced_converter("xml")
    async def broken(path: Path) -> None:
        raise raised

    with capture_telemetry() as captured:
        result = asyncio.run(convert({"file": tester_file}))
        with pytest.raises(ParseError) as caught:
            asyncio.run(broken(tester_file))
        first, second = captured.spans("convert xml")
    assert result.records == 7
    assert caught.value is raised
    assert first.attributes is not None
    assert first.attributes["pywats.converter.status"] == "suspended"
    assert first.attributes["pywats.converter.records"] == 7
    assert first.attributes["pywats.converter.file.name"] == "ICT-0001.CSV"
    assert second.attributes is not None
    assert second.attributes["pywats.converter.status"] == "failed"
    assert converter.current_run() is None


def test_a_conversion_inside_a_queue_consumer_is_its_child(tester_file: Path) -> None:
    """convert under process under send: one trace."""
    with capture_telemetry() as captured:
        carrier: dict[str, str] = {}
        with queue.enqueue("files", carrier):
            pass
        with queue.process("files", carrier), converter.conversion("csv", source=tester_file):
            pass
        spans = {span.name: span for span in captured.spans()}
    send, process, convert = spans["send files"], spans["process files"], spans["convert csv"]
    assert convert.parent is not None
    assert convert.parent.span_id == process.context.span_id
    assert process.parent is not None
    assert process.parent.span_id == send.context.span_id
    assert convert.context.trace_id == send.context.trace_id


def test_odd_values_never_raise(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A missing file, a numeric source, text records and an unknown status are absorbed."""
    with caplog.at_level(logging.WARNING, logger="pywats_otel"), capture_telemetry() as captured:
        with converter.conversion("csv", source=tmp_path / "gone.csv") as run:
            run.records = "many"  # type: ignore[assignment]
        with converter.conversion(None, source=12345) as run:  # type: ignore[arg-type]
            run.status = "exploded"
        with converter.conversion("csv", source=b"/tmp/raw.txt") as run:  # type: ignore[arg-type]
            run.records = 3.0  # type: ignore[assignment]
        gone, numeric, raw = captured.spans()
        unknown = captured.metric_value(
            semconv.CONVERTER_EXECUTIONS,
            {semconv.CONVERTER_NAME: "unknown", semconv.CONVERTER_STATUS: "failed"},
        )
    assert dict(gone.attributes or {}) == {
        "pywats.converter.name": "csv",
        "pywats.converter.file.name": "gone.csv",
        "pywats.converter.file.extension": "csv",
        "pywats.converter.status": "success",
    }
    assert numeric.name == "convert unknown"
    assert numeric.attributes is not None
    assert "pywats.converter.file.name" not in numeric.attributes
    assert raw.attributes is not None
    assert raw.attributes["pywats.converter.file.name"] == "raw.txt"
    assert raw.attributes["pywats.converter.records"] == 3
    assert unknown == 1
    assert "unknown converter status 'exploded'" in caplog.text


def test_the_api_works_without_telemetry(tester_file: Path) -> None:
    """Before init_telemetry() conversions run and report their status, with no span."""

    @converter.traced_converter("csv")
    def convert(path: Path) -> str:
        return "skipped"

    with converter.conversion("csv", source=tester_file) as run:
        run.status = "rejected"
    assert run.status == "rejected"
    assert not run.span.get_span_context().is_valid
    assert convert(tester_file) == "skipped"
