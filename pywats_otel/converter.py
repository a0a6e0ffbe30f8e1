"""Converter instrumentation: one INTERNAL span ``convert <converter>`` per conversion of a tester
file into a report, and the converter metrics (executions and duration, by status).

::

    from pywats_otel import converter

    with converter.conversion("teradyne-ict", source=path) as run:
        report = parse(path)
        run.records = len(report.steps)   # run.status = "skipped" | "suspended" | "rejected" ...

    @converter.traced_converter("csv")    # the status is read from the result or the exception
    def convert(path): ...

The span carries the input file's name, extension and size (its full path only with the setting
``converter_record_path``). Nothing here raises because of telemetry; user exceptions pass
unchanged.
"""

from __future__ import annotations

import contextlib
import enum
import os
import time
from collections.abc import Callable, Mapping
from contextvars import ContextVar, Token
from typing import Any, Literal, TypeVar

from opentelemetry import context as otel_context
from opentelemetry import metrics, trace
from opentelemetry.trace import INVALID_SPAN, Span

from pywats_otel import semconv
from pywats_otel._base import state
from pywats_otel._base.otel import PerMeterProvider, create_instrument, tracer
from pywats_otel._base.ratelimit import warn_once
from pywats_otel._base.scope import (
    NameCache,
    final_value,
    mark_failed,
    normalise,
    record_exception,
    reset_quietly,
    traced_calls,
)
from pywats_otel._base.values import safe_int, safe_str

__all__ = ["ConversionStatus", "Run", "conversion", "current_run", "traced_converter"]

F = TypeVar("F", bound=Callable[..., Any])

ConversionStatus = Literal["success", "failed", "skipped", "suspended", "rejected"]

_STATUSES = frozenset(semconv.CONVERTER_STATUSES)


class _Instruments:
    def __init__(self, meter: metrics.Meter) -> None:
        self.executions = create_instrument(meter, semconv.CONVERTER_EXECUTIONS)
        self.duration = create_instrument(meter, semconv.CONVERTER_DURATION)


_instruments = PerMeterProvider(_Instruments)


class _Names:
    """Span name and attribute sets of one converter name, built once."""

    __slots__ = ("attributes", "span", "statuses")

    def __init__(self, name: str) -> None:
        self.span = semconv.SPAN_CONVERT.format(converter=name)
        self.attributes = {semconv.CONVERTER_NAME: name}
        self.statuses = {
            status: {semconv.CONVERTER_NAME: name, semconv.CONVERTER_STATUS: status}
            for status in semconv.CONVERTER_STATUSES
        }


_names = NameCache(_Names).get


def _record_path() -> bool:
    settings = state.settings()
    return settings is not None and settings.converter_record_path


def _add_file_attributes(attributes: dict[str, Any], source: object) -> None:
    """The input file's name, extension, size (and path when allowed); odd sources add none."""
    if type(source) is str:
        path = source
    elif isinstance(source, (str, bytes, os.PathLike)):
        path = os.fsdecode(os.fspath(source))
    else:
        return
    name = os.path.basename(path)
    attributes[semconv.CONVERTER_FILE_NAME] = name
    extension = os.path.splitext(name)[1]
    if extension:
        attributes[semconv.CONVERTER_FILE_EXTENSION] = extension[1:].lower()
    with contextlib.suppress(OSError, ValueError):  # gone already, or a NUL in the name
        attributes[semconv.CONVERTER_FILE_SIZE] = os.stat(path).st_size
    if _record_path():
        attributes[semconv.CONVERTER_FILE_PATH] = os.path.abspath(path)


def _from_result(result: object) -> tuple[object, object]:
    """(status, records) as a converter's result tells them, each None when it does not."""
    if result is None:
        return None, None
    if isinstance(result, (str, enum.Enum)):
        return result, None
    if isinstance(result, Mapping):
        return result.get("status"), result.get("records")
    return getattr(result, "status", None), getattr(result, "records", None)


class Run:
    """One conversion: set ``records`` when known and ``status`` to say how it ended.

    ``status`` reads ``"success"`` until set; an exception out of the block makes it
    ``"failed"`` unless it was set explicitly.
    """

    __slots__ = ("_status", "converter", "records", "source", "span")

    def __init__(self, converter: str, source: object, span: Span) -> None:
        self.converter = converter
        self.source = source
        self.span = span
        self.records: int | None = None
        self._status: object = None

    @property
    def status(self) -> str:
        explicit = self._status
        if explicit is None:
            return "success"
        return normalise(explicit, _STATUSES) or str(explicit)

    @status.setter
    def status(self, value: ConversionStatus | str) -> None:
        # Any value is accepted; an unknown one is reported once and counted as failed.
        self._status = value


_current_run: ContextVar[Run | None] = ContextVar("pywats_otel_converter_run", default=None)


def current_run() -> Run | None:
    """The :class:`Run` of the innermost ``conversion`` block or decorated call, if any."""
    return _current_run.get()


class _Conversion:
    """The context manager of :func:`conversion`."""

    __slots__ = (
        "_converter",
        "_names",
        "_run",
        "_run_token",
        "_source",
        "_started",
        "_token",
        "result",
    )

    def __init__(self, converter_name: object, source: object) -> None:
        self._converter = converter_name
        self._source = source
        self._names: _Names | None = None
        self._run: Run | None = None
        self._token: Token[otel_context.Context] | None = None
        self._run_token: Token[Run | None] | None = None
        #: What the decorated converter returned (its status and records are read from it).
        self.result: object = None
        self._started = 0.0

    def __enter__(self) -> Run:
        try:
            names = _names(self._converter)
            attributes: dict[str, Any] = dict(names.attributes)
            _add_file_attributes(attributes, self._source)
            span = tracer().start_span(names.span, attributes=attributes)
            run = Run(names.attributes[semconv.CONVERTER_NAME], self._source, span)
            self._names, self._run = names, run
            # Attached last: nothing after this can fail and leave the context attached.
            self._token = otel_context.attach(trace.set_span_in_context(span))
            self._run_token = _current_run.set(run)
            self._started = time.perf_counter()
        except Exception:
            warn_once("converter", "pywats_otel: converter telemetry failed", exc_info=True)
            return Run(safe_str(self._converter) or "unknown", self._source, INVALID_SPAN)
        return run

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> Literal[False]:
        run, names = self._run, self._names
        if run is None or names is None:
            return False
        elapsed = time.perf_counter() - self._started
        span = run.span
        # A token of another context cannot be reset; the span must end all the same.
        reset_quietly(_current_run, self._run_token)
        if self._token is not None:
            otel_context.detach(self._token)  # logs, never raises, on a foreign token
        try:
            result_status: object = None
            records: object = run.records
            if exc is None and self.result is not None:
                result_status, result_records = _from_result(self.result)
                if records is None:
                    records = result_records
            if run._status is None and result_status is None:
                status = "success" if exc is None else "failed"
            else:
                status = final_value(
                    (run._status, result_status),
                    exc,
                    _STATUSES,
                    "converter status",
                    semconv.CONVERTER_STATUSES,
                )
            if records is not None and type(records) is not int:
                records = safe_int(records)
            attributes: dict[str, Any] = {semconv.CONVERTER_STATUS: status}
            if records is not None:
                attributes[semconv.CONVERTER_RECORDS] = records
            span.set_attributes(attributes)
            if exc is not None:
                record_exception(span, exc)
            elif status == "failed":
                mark_failed(span, "status failed")
            metric_attributes = names.statuses[status]
            instruments = _instruments.get()
            instruments.executions.add(1, metric_attributes)
            instruments.duration.record(elapsed, metric_attributes)
        except Exception:
            warn_once("converter", "pywats_otel: converter telemetry failed", exc_info=True)
        finally:
            span.end()
        return False


def conversion(converter_name: str, source: str | os.PathLike[str] | None = None) -> _Conversion:
    """A span ``convert <converter>`` and the converter metrics around one conversion.

    Yields a :class:`Run`. The status is what the block sets (``run.status = "skipped"``),
    ``failed`` when an exception leaves the block (recorded, re-raised unchanged), else
    ``success``. ``source`` is the input file; its name, extension and size go on the span.
    """
    return _Conversion(converter_name, source)


def _first_path(args: tuple[Any, ...], kwargs: dict[str, Any]) -> object:
    for value in (*args, *kwargs.values()):
        if isinstance(value, (str, os.PathLike)):
            return value
    return None


def traced_converter(
    converter_name: str, *, source: Callable[..., object] | None = None
) -> Callable[[F], F]:
    """Decorate a converter function (sync or async) so each call is one :func:`conversion`.

    The status comes from an explicit ``current_run().status``, else from the result (a status
    string or Enum, or a result with a ``status`` attribute or key, as pyWATS's
    ``ConverterResult`` has), else ``success``; an exception gives ``failed`` and passes
    unchanged. ``records`` is read the same way. The input file is ``source(*args, **kwargs)``
    when given, else the first argument that is a ``str`` or ``os.PathLike``.
    """

    def source_of(args: tuple[Any, ...], kwargs: dict[str, Any]) -> object:
        if source is None:
            return _first_path(args, kwargs)
        try:
            return source(*args, **kwargs)
        except Exception:
            warn_once(
                ("converter-source", converter_name),
                "pywats_otel: the source callable of converter %s raised; no file attributes",
                converter_name,
                exc_info=True,
            )
            return None

    def scope_for(args: tuple[Any, ...], kwargs: dict[str, Any]) -> _Conversion:
        return _Conversion(converter_name, source_of(args, kwargs))

    def decorate(function: F) -> F:
        return traced_calls(function, scope_for)

    return decorate
