"""Log records carry the trace ID as correlation ID: the record factory, the filter, JSON lines."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import logging.handlers
import math
import queue
import re
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import Any

import pytest
from opentelemetry import trace

from pywats_otel import correlation, init_telemetry
from pywats_otel.instrumentation._logging import CorrelationRecordFactory
from pywats_otel.testing import capture_telemetry

FIELDS = ("trace_id", "span_id", "correlation_id", "trace_flags")


class ListHandler(logging.Handler):
    """Keeps the records (and, with a formatter, the formatted lines) it handles."""

    def __init__(self, formatter: logging.Formatter | None = None) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.lines: list[str] = []
        self._lock = threading.Lock()
        if formatter is not None:
            self.setFormatter(formatter)

    def emit(self, record: logging.LogRecord) -> None:
        line = self.format(record) if self.formatter is not None else ""
        with self._lock:
            self.records.append(record)
            self.lines.append(line)

    def by_message(self) -> dict[str, logging.LogRecord]:
        return {record.getMessage(): record for record in self.records}


@pytest.fixture
def station_log() -> Iterator[tuple[logging.Logger, ListHandler]]:
    """A logger of its own that does not propagate, with a handler that keeps its records."""
    logger = logging.getLogger("tests.station")
    handler = ListHandler()
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger, handler
    logger.removeHandler(handler)
    logger.propagate = True


def ids(span: trace.Span) -> dict[str, str]:
    context = span.get_span_context()
    trace_id = format(context.trace_id, "032x")
    return {
        "trace_id": trace_id,
        "span_id": format(context.span_id, "016x"),
        "correlation_id": trace_id,
        "trace_flags": format(context.trace_flags, "02x"),
    }


def fields(record: logging.LogRecord) -> dict[str, Any]:
    return {name: getattr(record, name, "<missing>") for name in FIELDS}


EMPTY = dict.fromkeys(FIELDS, "")


# -- the record factory -----------------------------------------------------------------------


def test_a_record_made_in_a_span_carries_that_spans_ids(
    station_log: tuple[logging.Logger, ListHandler],
) -> None:
    """trace_id, span_id and correlation_id are the active span's; trace_flags its W3C flags."""
    logger, handler = station_log
    with capture_telemetry():
        with trace.get_tracer("test").start_as_current_span("convert") as span:
            logger.info("converted")
        [record] = handler.records
    expected = ids(span)
    assert fields(record) == expected
    assert re.fullmatch(r"[0-9a-f]{32}", expected["trace_id"])
    assert expected["trace_flags"] in ("01", "03")  # sampled, possibly with random-trace-id
    assert correlation.LOG_FIELDS == FIELDS


def test_outside_a_span_the_fields_are_empty_strings_and_a_format_using_them_works(
    station_log: tuple[logging.Logger, ListHandler],
) -> None:
    """Outside a span every field is present and empty, so a %(trace_id)s format never fails."""
    logger, handler = station_log
    handler.setFormatter(logging.Formatter("[%(correlation_id)s|%(span_id)s] %(message)s"))
    with capture_telemetry():
        logger.warning("no span here")
    [record] = handler.records
    assert fields(record) == EMPTY
    assert handler.lines == ["[|] no span here"]


def test_a_text_format_shows_the_exact_ids_of_the_span(
    station_log: tuple[logging.Logger, ListHandler],
) -> None:
    """The documented text format prints the span's trace ID and span ID as they are."""
    logger, handler = station_log
    handler.setFormatter(
        logging.Formatter("%(levelname)s trace_id=%(trace_id)s span_id=%(span_id)s %(message)s")
    )
    with capture_telemetry(), trace.get_tracer("test").start_as_current_span("upload") as span:
        logger.info("uploaded %s", "r-1")
    expected = ids(span)
    assert handler.lines == [
        f"INFO trace_id={expected['trace_id']} span_id={expected['span_id']} uploaded r-1"
    ]


def test_records_of_every_logger_carry_the_fields_including_third_party_ones() -> None:
    """A library's logger, a non-propagating logger and the root logger all get the fields."""
    handler = ListHandler()
    library = logging.getLogger("urllib3.connectionpool")
    private = logging.getLogger("vendor.private")
    private.propagate = False
    for logger in (library, private, logging.getLogger()):
        logger.addHandler(handler)
    previous_level = library.level
    library.setLevel(logging.DEBUG)
    private.setLevel(logging.DEBUG)
    try:
        with (
            capture_telemetry(),
            trace.get_tracer("test").start_as_current_span("work") as span,
        ):
            library.debug("connection pool")
            private.info("vendor")
            logging.getLogger().warning("root")
    finally:
        for logger in (library, private, logging.getLogger()):
            logger.removeHandler(handler)
        private.propagate = True
        private.setLevel(logging.NOTSET)
        library.setLevel(previous_level)
    expected = ids(span)
    got = {message: fields(record) for message, record in handler.by_message().items()}
    assert got == {"connection pool": expected, "vendor": expected, "root": expected}


def test_asyncio_tasks_made_in_a_span_carry_its_ids(
    station_log: tuple[logging.Logger, ListHandler],
) -> None:
    """Tasks inherit the context: each task logs the IDs of the span it was created in."""
    logger, handler = station_log
    tracer = trace.get_tracer("test")

    async def step(name: str) -> None:
        await asyncio.sleep(0)
        logger.info(name)

    async def main() -> tuple[trace.Span, trace.Span]:
        with tracer.start_as_current_span("first") as first:
            task_a = asyncio.create_task(step("a"))
        with tracer.start_as_current_span("second") as second:
            task_b = asyncio.create_task(step("b"))
        outside = asyncio.create_task(step("outside"))
        await asyncio.gather(task_a, task_b, outside)
        return first, second

    with capture_telemetry():
        first, second = asyncio.run(main())
    records = handler.by_message()
    assert fields(records["a"]) == ids(first)
    assert fields(records["b"]) == ids(second)
    assert fields(records["outside"]) == EMPTY
    assert ids(first)["trace_id"] != ids(second)["trace_id"]


def _log_from_threads(logger: logging.Logger) -> None:
    thread = threading.Thread(target=lambda: logger.info("thread"))
    thread.start()
    thread.join()
    timer = threading.Timer(0.0, lambda: logger.info("timer"))
    timer.start()
    timer.join()
    with ThreadPoolExecutor(max_workers=2) as pool:
        pool.submit(logger.info, "pool submit").result()
        list(pool.map(logger.info, ["pool map"]))


def test_threads_timers_and_pool_workers_started_in_a_span_carry_its_ids(
    station_log: tuple[logging.Logger, ListHandler],
) -> None:
    """Through the threading instrumentation init_telemetry() turns on, threads log the span."""
    logger, handler = station_log
    with capture_telemetry() as captured:
        assert {"logging", "threading"} <= set(captured.telemetry.instrumentations)
        with trace.get_tracer("test").start_as_current_span("batch") as span:
            _log_from_threads(logger)
    records = handler.by_message()
    assert set(records) == {"thread", "timer", "pool submit", "pool map"}
    for message, record in records.items():
        assert fields(record) == ids(span), message
        assert record.threadName != threading.main_thread().name


def test_without_the_threading_instrumentation_threads_log_empty_ids(
    station_log: tuple[logging.Logger, ListHandler],
) -> None:
    """It is the threading instrumentation that carries the span: without it threads log ""."""
    logger, handler = station_log
    with (
        capture_telemetry(instrumentations="logging"),
        trace.get_tracer("test").start_as_current_span("batch"),
    ):
        _log_from_threads(logger)
    assert [fields(record) for record in handler.records] == [EMPTY] * 4


def test_shutdown_restores_the_previous_record_factory_exactly() -> None:
    """init_telemetry() wraps the factory it finds; shutdown puts that very one back."""
    original = logging.getLogRecordFactory()
    with capture_telemetry():
        installed = logging.getLogRecordFactory()
        assert isinstance(installed, CorrelationRecordFactory)
        assert installed.previous is original
    assert logging.getLogRecordFactory() is original
    record = logging.getLogger("tests.after").makeRecord("x", logging.INFO, "f", 1, "m", (), None)
    assert not hasattr(record, "trace_id")


def test_a_factory_installed_after_ours_survives_shutdown_and_ours_steps_aside() -> None:
    """When another library wrapped our factory, shutdown keeps theirs and ours passes through."""
    original = logging.getLogRecordFactory()
    with capture_telemetry():
        ours = logging.getLogRecordFactory()

        def theirs(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = ours(*args, **kwargs)
            record.tenant = "acme"
            return record

        logging.setLogRecordFactory(theirs)
        with trace.get_tracer("test").start_as_current_span("work") as span:
            made = logging.getLogRecordFactory()("x", logging.INFO, "f", 1, "m", (), None)
    try:
        assert logging.getLogRecordFactory() is theirs
        after = logging.getLogRecordFactory()("x", logging.INFO, "f", 1, "m", (), None)
        assert made.correlation_id == ids(span)["trace_id"]
        assert after.tenant == "acme"
        assert not hasattr(after, "correlation_id")
    finally:
        logging.setLogRecordFactory(original)


def test_a_second_init_after_reset_installs_exactly_one_factory() -> None:
    """Repeated init and reset (as tests do) never stack factories."""
    original = logging.getLogRecordFactory()
    for _ in range(3):
        with capture_telemetry():
            installed = logging.getLogRecordFactory()
            assert isinstance(installed, CorrelationRecordFactory)
            assert installed.previous is original
    assert logging.getLogRecordFactory() is original


@pytest.mark.parametrize(
    ("settings", "env"),
    [
        ({"log_correlation": False}, {}),
        ({"instrumentations": "threading"}, {}),
        ({}, {"OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "logging"}),
        ({}, {"PYWATS_OTEL_LOG_CORRELATION": "false"}),
    ],
)
def test_log_correlation_needs_both_the_setting_and_the_logging_instrumentation(
    settings: dict[str, Any], env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """log_correlation=false, or the logging instrumentation left out, installs no factory."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    original = logging.getLogRecordFactory()
    with capture_telemetry(**settings) as captured:
        assert logging.getLogRecordFactory() is original
        assert "logging" not in captured.telemetry.instrumentations
        assert "logging" not in captured.telemetry.status()["instrumentations"]


def test_disabled_telemetry_installs_no_factory() -> None:
    """enabled=false starts nothing, the record factory included."""
    original = logging.getLogRecordFactory()
    init_telemetry(enabled=False)
    assert logging.getLogRecordFactory() is original


# -- CorrelationFilter ----------------------------------------------------------------------


def test_correlation_filter_adds_the_fields_without_the_record_factory(
    station_log: tuple[logging.Logger, ListHandler],
) -> None:
    """On a handler, the filter adds the span's IDs where the factory is off; "" outside."""
    logger, handler = station_log
    handler.addFilter(correlation.CorrelationFilter())
    with capture_telemetry(log_correlation=False):
        with trace.get_tracer("test").start_as_current_span("work") as span:
            logger.info("inside")
        logger.info("outside")
    records = handler.by_message()
    assert fields(records["inside"]) == ids(span)
    assert fields(records["outside"]) == EMPTY


def test_correlation_filter_works_without_telemetry(
    station_log: tuple[logging.Logger, ListHandler],
) -> None:
    """Before init_telemetry() the filter gives empty fields and keeps every record."""
    logger, handler = station_log
    handler.addFilter(correlation.CorrelationFilter())
    handler.setFormatter(logging.Formatter("%(correlation_id)s|%(message)s"))
    with trace.get_tracer("test").start_as_current_span("no sdk"):
        logger.info("kept")
    assert handler.lines == ["|kept"]
    assert correlation.current_correlation_id() == ""


def test_fields_set_where_the_record_was_made_survive_a_queue_listener() -> None:
    """Behind a QueueHandler the listener thread formats; the IDs stay those of the span."""
    sink = ListHandler(logging.Formatter("%(correlation_id)s %(span_id)s %(message)s"))
    sink.addFilter(correlation.CorrelationFilter())
    records: queue.Queue[logging.LogRecord] = queue.Queue()
    listener = logging.handlers.QueueListener(records, sink)
    logger = logging.getLogger("tests.queued")
    logger.addHandler(logging.handlers.QueueHandler(records))
    logger.propagate = False
    try:
        with capture_telemetry():
            listener.start()
            with trace.get_tracer("test").start_as_current_span("queued") as span:
                logger.warning("through the queue")
            listener.stop()
    finally:
        logger.handlers.clear()
        logger.propagate = True
    expected = ids(span)
    assert sink.lines == [f"{expected['trace_id']} {expected['span_id']} through the queue"]


def test_otlp_log_records_have_the_span_ids_and_no_duplicate_attributes() -> None:
    """Exported records hold the IDs in their own fields, not again as attributes."""
    with capture_telemetry(logs_level="INFO") as captured:
        logging.getLogger().setLevel(logging.INFO)
        with trace.get_tracer("test").start_as_current_span("work") as span:
            logging.getLogger("station").info("with ids", extra={"report_id": "r-1"})
        [exported] = [item for item in captured.log_records() if item.log_record.body == "with ids"]
    record = exported.log_record
    context = span.get_span_context()
    assert record.trace_id == context.trace_id
    assert record.span_id == context.span_id
    assert dict(record.attributes or {}) == {"report_id": "r-1"}


# -- JsonFormatter ----------------------------------------------------------------------------


def json_lines(
    emit: Callable[[logging.Logger], None], formatter: logging.Formatter | None = None
) -> list[str]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter or correlation.JsonFormatter())
    logger = logging.getLogger("tests.json")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    try:
        emit(logger)
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    return stream.getvalue().splitlines()


def test_json_line_holds_time_level_logger_message_ids_and_service_name() -> None:
    """One object per line with the span's exact IDs and the telemetry's service.name."""
    with (
        capture_telemetry(service_name="station-7"),
        trace.get_tracer("test").start_as_current_span("upload") as span,
    ):
        lines = json_lines(lambda logger: logger.warning("uploaded %d reports", 3))
    [line] = lines
    entry = json.loads(line)
    expected = ids(span)
    assert {key: entry[key] for key in FIELDS} == expected
    assert entry["level"] == "WARNING"
    assert entry["logger"] == "tests.json"
    assert entry["message"] == "uploaded 3 reports"
    assert entry["service.name"] == "station-7"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", entry["time"])
    logged_at = datetime.strptime(entry["time"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=timezone.utc
    )
    assert abs(logged_at.timestamp() - datetime.now(timezone.utc).timestamp()) < 60
    assert list(entry)[:9] == [
        "time",
        "level",
        "logger",
        "message",
        *FIELDS,
        "service.name",
    ]


def test_json_time_is_utc_with_milliseconds_of_the_record() -> None:
    """The time is the record's creation time in UTC, milliseconds included."""
    formatter = correlation.JsonFormatter(service_name="s")
    record = logging.LogRecord("x", logging.INFO, "f", 1, "m", (), None)
    record.created = 1_700_000_000.25
    record.msecs = 250.0
    assert json.loads(formatter.format(record))["time"] == "2023-11-14T22:13:20.250Z"


def test_a_message_with_newlines_and_terminal_controls_gives_one_json_line() -> None:
    """Newlines, ANSI escapes, U+2028/U+2029, C1 and bidi controls are escaped, not written."""
    message = (
        'first\nsecond\r\n{"level": "CRITICAL", "message": "forged"}'
        "\x1b[2J\x1b]0;title\x07 \u2028\u2029 \x85 \x9b31m \u202e \udcff Ø µ Ω"
    )
    lines = json_lines(lambda logger: logger.error(message))
    [line] = lines
    for raw in ("\n", "\r", "\x1b", "\x07", "\u2028", "\u2029", "\x85", "\x9b", "\u202e"):
        assert raw not in line
    line.encode("utf-8")  # a lone surrogate would make this raise
    assert "Ø µ Ω" in line  # readable text stays readable
    entry = json.loads(line)
    assert entry["message"] == message
    assert entry["level"] == "ERROR"


def test_json_exception_has_type_message_and_stack() -> None:
    """A logged exception gives exception.type, .message and the full .stacktrace."""

    def fail_to_parse() -> None:
        raise ValueError("bad step 7\nin file x")

    def emit(logger: logging.Logger) -> None:
        try:
            fail_to_parse()
        except ValueError:
            logger.exception("conversion failed")

    [line] = json_lines(emit)
    entry = json.loads(line)
    assert entry["exception.type"] == "ValueError"
    assert entry["exception.message"] == "bad step 7\nin file x"
    stack = entry["exception.stacktrace"]
    assert stack.startswith("Traceback (most recent call last):")
    assert "in fail_to_parse" in stack
    assert stack.rstrip().endswith("in file x")


def test_json_exception_type_of_a_non_builtin_is_qualified() -> None:
    """exception.type names the module of exceptions that are not builtins."""

    def emit(logger: logging.Logger) -> None:
        try:
            json.loads("{")
        except json.JSONDecodeError:
            logger.exception("bad json")

    [line] = json_lines(emit)
    assert json.loads(line)["exception.type"] == "json.decoder.JSONDecodeError"


def test_json_stack_info_is_included() -> None:
    """stack_info=True adds the caller's stack."""
    [line] = json_lines(lambda logger: logger.info("where", stack_info=True))
    assert json.loads(line)["stack_info"].startswith("Stack (most recent call last):")


class Unprintable:
    def __repr__(self) -> str:
        raise RuntimeError("no repr")


def test_json_extra_fields_are_written_and_unserialisable_values_become_repr() -> None:
    """extra={...} values JSON holds stay as they are; others become their repr."""
    circular: list[Any] = []
    circular.append(circular)
    extra = {
        "report_id": "r-1",
        "steps": 1000,
        "ratio": 0.5,
        "ok": True,
        "nothing": None,
        "tags": ["a", "b"],
        "meta": {"line": 7},
        "path": object(),
        "raw": b"\x00\xff",
        "nan": math.nan,
        "circular": circular,
        "broken": Unprintable(),
        "level": "shadowed",
    }
    [line] = json_lines(lambda logger: logger.info("extras", extra=extra))
    entry = json.loads(line)
    assert entry["report_id"] == "r-1"
    assert entry["steps"] == 1000
    assert entry["ratio"] == 0.5
    assert entry["ok"] is True
    assert entry["nothing"] is None
    assert entry["tags"] == ["a", "b"]
    assert entry["meta"] == {"line": 7}
    assert entry["path"].startswith("<object object at 0x")
    assert entry["raw"] == repr(b"\x00\xff")
    assert entry["nan"] == "nan"
    assert entry["circular"] == "[[...]]"
    assert entry["broken"] == "<Unprintable without a usable repr>"
    assert entry["level"] == "INFO"
    assert entry["extra.level"] == "shadowed"


def test_json_extra_fields_can_be_left_out() -> None:
    """extra_fields=False writes the fixed keys only."""
    formatter = correlation.JsonFormatter(extra_fields=False)
    [line] = json_lines(lambda logger: logger.info("x", extra={"report_id": "r"}), formatter)
    assert "report_id" not in json.loads(line)


def test_json_formatter_keeps_a_line_when_the_arguments_do_not_fit() -> None:
    """A message whose arguments do not fit its format still gives a line holding both."""
    [line] = json_lines(lambda logger: logger.info("%d steps", "many"))
    assert json.loads(line)["message"] == "'%d steps' with arguments ('many',)"


def test_json_outside_a_span_and_before_init_has_empty_ids_and_service_name() -> None:
    """Without telemetry the ID fields and service.name are empty strings, never missing."""
    [line] = json_lines(lambda logger: logger.info("early"))
    entry = json.loads(line)
    assert {key: entry[key] for key in FIELDS} == EMPTY
    assert entry["service.name"] == ""


def test_json_service_name_argument_wins() -> None:
    """service_name= names the service whatever the telemetry says."""
    with capture_telemetry(service_name="station-7"):
        [line] = json_lines(
            lambda logger: logger.info("x"), correlation.JsonFormatter(service_name="converter")
        )
    assert json.loads(line)["service.name"] == "converter"


def test_json_formatter_reads_the_span_itself_when_no_one_set_the_fields() -> None:
    """Without the record factory and filter, the formatter reads the active span."""
    with (
        capture_telemetry(log_correlation=False),
        trace.get_tracer("test").start_as_current_span("work") as span,
    ):
        [line] = json_lines(lambda logger: logger.info("x"))
    entry = json.loads(line)
    assert {key: entry[key] for key in FIELDS} == ids(span)


# -- structlog ------------------------------------------------------------------------------


def test_structlog_processor_adds_the_span_ids() -> None:
    """add_correlation_fields puts the active span's IDs into the event dict."""
    structlog = pytest.importorskip("structlog")
    logger = structlog.wrap_logger(
        structlog.ReturnLogger(),
        processors=[correlation.add_correlation_fields, structlog.processors.JSONRenderer()],
    )
    with capture_telemetry():
        with trace.get_tracer("test").start_as_current_span("work") as span:
            inside = json.loads(logger.info("converted", steps=3))
        outside = json.loads(logger.info("idle"))
    assert {key: inside[key] for key in FIELDS} == ids(span)
    assert inside["steps"] == 3
    assert {key: outside[key] for key in FIELDS} == EMPTY


def test_structlog_processor_keeps_explicitly_bound_values() -> None:
    """A value bound by the caller is not replaced."""
    structlog = pytest.importorskip("structlog")
    logger = structlog.wrap_logger(
        structlog.ReturnLogger(), processors=[correlation.add_correlation_fields]
    ).bind(correlation_id="legacy-1")
    with capture_telemetry(), trace.get_tracer("test").start_as_current_span("work") as span:
        _, kwargs = logger.info("x")
    assert kwargs["correlation_id"] == "legacy-1"
    assert kwargs["trace_id"] == ids(span)["trace_id"]


def test_structlog_processor_formatter_uses_the_fields_of_stdlib_records() -> None:
    """Under ProcessorFormatter a stdlib record keeps the IDs it got where it was made."""
    structlog = pytest.importorskip("structlog")
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[correlation.add_correlation_fields],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.JSONRenderer(),
        ],
    )
    with capture_telemetry(), trace.get_tracer("test").start_as_current_span("work") as span:
        record = logging.getLogger("x").makeRecord("x", logging.INFO, "f", 1, "m", (), None)
    line = formatter.format(record)  # outside the span, as a queue listener would
    entry = json.loads(line)
    assert {key: entry[key] for key in FIELDS} == ids(span)
