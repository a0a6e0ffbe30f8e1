"""Micro: one log record with the correlation fields, to a discarding stream."""

from __future__ import annotations

import logging
from collections.abc import Callable

from opentelemetry import trace

from benchmarks._harness import CaseResult, Comparison, Operation, interleave
from benchmarks.micro import SECTION, Context
from benchmarks.micro._common import BARE, GOAL_SDK, OURS, PLAN, STOCK
from pywats_otel import correlation

ORDER = 60
USES = ("providers",)


def run(context: Context) -> list[CaseResult]:
    return [one_log_record(context.rounds, context.ops)]


TEXT = "%(asctime)s %(levelname)s [%(name)s] %(message)s"
TEXT_WITH_IDS = (
    "%(asctime)s %(levelname)s [%(name)s] [trace_id=%(trace_id)s span_id=%(span_id)s] %(message)s"
)
TEXT_STOCK = (
    "%(asctime)s %(levelname)s [%(name)s] [trace_id=%(otelTraceID)s span_id=%(otelSpanID)s] "
    "%(message)s"
)


class _Discard:
    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass


class _ByHandFilter(logging.Filter):
    """What a developer writes by hand: the active span's IDs on each record."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            record.trace_id = format(context.trace_id, "032x")
            record.span_id = format(context.span_id, "016x")
        else:
            record.trace_id = record.span_id = ""
        return True


def _logger(name: str, formatter: logging.Formatter, *filters: logging.Filter) -> logging.Logger:
    handler = logging.StreamHandler(_Discard())
    handler.setFormatter(formatter)
    for item in filters:
        handler.addFilter(item)
    logger = logging.getLogger(f"bench.{name}")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return logger


def _log_variant(
    logger: logging.Logger, factory: Callable[..., logging.LogRecord]
) -> Callable[[], None]:
    def operation() -> None:
        # Every variant pays this identity check; it puts its own factory in place once per
        # round, since the factory is process-wide.
        if logging.getLogRecordFactory() is not factory:
            logging.setLogRecordFactory(factory)
        logger.info("converted %s: %d steps", "report-7.xml", 1000)

    return operation


def _stock_factory() -> Callable[..., logging.LogRecord]:
    """The contrib LoggingInstrumentor's record factory (trace context injected, no handler)."""
    from opentelemetry.instrumentation.logging import LoggingInstrumentor

    instrumentor = LoggingInstrumentor()
    before = logging.getLogRecordFactory()
    instrumentor.instrument(inject_trace_context=True, enable_log_auto_instrumentation=False)
    factory = logging.getLogRecordFactory()
    # Taken out again at once: each variant puts its factory in place for its own round.
    instrumentor.uninstrument()
    logging.setLogRecordFactory(before)
    return factory


def one_log_record(rounds: int, ops: int) -> CaseResult:
    from pywats_otel.instrumentation._logging import CorrelationRecordFactory

    plain = logging.getLogRecordFactory()
    with_ids = CorrelationRecordFactory(plain)
    variants: dict[str, Operation] = {
        "plain logging": _log_variant(_logger("plain", logging.Formatter(TEXT)), plain),
        BARE: _log_variant(
            _logger("by-hand", logging.Formatter(TEXT_WITH_IDS), _ByHandFilter()), plain
        ),
        STOCK: _log_variant(_logger("stock", logging.Formatter(TEXT_STOCK)), _stock_factory()),
        OURS: _log_variant(_logger("text", logging.Formatter(TEXT_WITH_IDS)), with_ids),
        "pywats_otel + JsonFormatter": _log_variant(
            _logger("json", correlation.JsonFormatter()), with_ids
        ),
    }
    try:
        with trace.get_tracer("bench.logs").start_as_current_span("work"):
            case = interleave(
                SECTION,
                "one log record with correlation fields",
                variants,
                baseline="plain logging",
                ops=ops,
                rounds=rounds,
            )
    finally:
        logging.setLogRecordFactory(plain)
    case.notes.append(
        "one INFO record with one argument, in an active span, to a discarding stream; each "
        "variant's text format shows the trace and span IDs (plain logging shows none); "
        "pywats_otel is the `logging` instrumentation's record factory; its cache of the last "
        "span's hex IDs pays off because records come in runs from one span, as here"
    )
    case.not_applicable[PLAN] = "prometheus_client has no log correlation"
    case.comparisons += [
        Comparison(
            "log record: pywats_otel's cost / the bare SDK's by hand",
            OURS,
            BARE,
            kind="overhead ratio",
            base="plain logging",
            goal=GOAL_SDK,
            goal_text="<= 1.10",
        ),
        Comparison(
            "log record: pywats_otel's cost / the stock instrumentor's",
            OURS,
            STOCK,
            kind="overhead ratio",
            base="plain logging",
        ),
    ]
    return case
