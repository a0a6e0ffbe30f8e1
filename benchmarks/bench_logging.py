"""The cost of the correlation fields on one log record, beside plain logging.

Variants, interleaved in one process, each logging one INFO record inside an active, sampled
span to a handler whose stream discards what it gets:
- ``plain logging``: the stock LogRecordFactory and a text format (the baseline);
- ``factory + text with IDs``: the logging instrumentation's record factory and a text format
  that shows trace_id and span_id;
- ``factory + JsonFormatter``: the record factory and one JSON object per line;
- ``JsonFormatter, no factory``: the formatter reading the active span itself.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from opentelemetry import trace

from benchmarks._harness import CaseResult, interleave
from pywats_otel import correlation, init_telemetry
from pywats_otel.instrumentation._logging import CorrelationRecordFactory
from pywats_otel.testing import reset_telemetry

TEXT = "%(asctime)s %(levelname)s [%(name)s] %(message)s"
TEXT_WITH_IDS = (
    "%(asctime)s %(levelname)s [%(name)s] [trace_id=%(trace_id)s span_id=%(span_id)s] %(message)s"
)


class Discard:
    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass


def _logger(name: str, formatter: logging.Formatter) -> logging.Logger:
    handler = logging.StreamHandler(Discard())  # type: ignore[arg-type]
    handler.setFormatter(formatter)
    logger = logging.getLogger(f"bench.{name}")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return logger


def _variant(
    logger: logging.Logger, factory: Callable[..., logging.LogRecord]
) -> Callable[[], None]:
    def operation() -> None:
        # Every variant pays this identity check; it puts its own factory in place once per
        # round, since the factory is process-wide.
        if logging.getLogRecordFactory() is not factory:
            logging.setLogRecordFactory(factory)
        logger.info("converted %s: %d steps", "report-7.xml", 1000)

    return operation


def one_record(rounds: int, ops: int) -> CaseResult:
    reset_telemetry()
    telemetry = init_telemetry(
        traces_exporter="none", metrics_exporter="none", instrumentations="none"
    )
    plain = logging.getLogRecordFactory()
    with_ids = CorrelationRecordFactory(plain)
    variants = {
        "plain logging": _variant(_logger("plain", logging.Formatter(TEXT)), plain),
        "factory + text with IDs": _variant(
            _logger("text", logging.Formatter(TEXT_WITH_IDS)), with_ids
        ),
        "factory + JsonFormatter": _variant(_logger("json", correlation.JsonFormatter()), with_ids),
        "JsonFormatter, no factory": _variant(
            _logger("json-only", correlation.JsonFormatter()), plain
        ),
    }
    try:
        with trace.get_tracer("bench").start_as_current_span("work"):
            return interleave(
                "one log record in a span",
                variants,
                baseline="plain logging",
                ops=ops,
                rounds=rounds,
                notes="a record of 1 argument to a discarding stream; the factory adds the IDs",
            )
    finally:
        logging.setLogRecordFactory(plain)
        telemetry.shutdown(timeout_s=2)
        reset_telemetry()


def run(rounds: int, quick: bool) -> list[CaseResult]:
    return [one_record(rounds, 500 if quick else 5000)]
