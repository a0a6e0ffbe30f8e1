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
import functools
import inspect
import os
import time
from collections.abc import Callable, Mapping
from contextvars import ContextVar, Token
from typing import Any, Literal, TypeVar, cast

from opentelemetry import context as otel_context
from opentelemetry import metrics, trace
from opentelemetry.trace import INVALID_SPAN, Span, Status, StatusCode

from pywats_otel import semconv
from pywats_otel._bootstrap import get_telemetry
from pywats_otel._otel import PerMeterProvider, tracer
from pywats_otel._support import counter, histogram, safe_int, safe_str, warn_once

__all__ = ["ConversionStatus", "Run", "conversion", "current_run", "traced_converter"]

F = TypeVar("F", bound=Callable[..., Any])

ConversionStatus = Literal["success", "failed", "skipped", "suspended", "rejected"]

_STATUSES = frozenset(semconv.CONVERTER_STATUSES)


class _Instruments:
    def __init__(self, meter: metrics.Meter) -> None:
        self.executions = counter(meter, semconv.CONVERTER_EXECUTIONS)
        self.duration = histogram(meter, semconv.CONVERTER_DURATION)


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


_MAX_NAMES = 256
_names_cache: dict[object, _Names] = {}


def _names(converter_name: object) -> _Names:
    try:
        return _names_cache[converter_name]
    except (KeyError, TypeError):
        pass
    names = _Names(safe_str(converter_name) or "unknown")
    try:
        if len(_names_cache) >= _MAX_NAMES:
            _names_cache.clear()
        _names_cache[converter_name] = names
    except TypeError:  # an unhashable name: used, not cached
        pass
    return names


def _record_path() -> bool:
    telemetry = get_telemetry()
    return telemetry is not None and telemetry.settings.converter_record_path


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


def _normalise(value: object) -> str | None:
    """A status given as text or an Enum (pyWATS's ConversionStatus) as a known status."""
    if isinstance(value, enum.Enum):
        value = value.value if isinstance(value.value, str) else value.name
    if isinstance(value, str):
        lowered = value.lower()
        if lowered in _STATUSES:
            return lowered
    return None


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
        return _normalise(explicit) or str(explicit)

    @status.setter
    def status(self, value: ConversionStatus | str) -> None:
        # Any value is accepted; an unknown one is reported once and counted as failed.
        self._status = value


_current_run: ContextVar[Run | None] = ContextVar("pywats_otel_converter_run", default=None)


def current_run() -> Run | None:
    """The :class:`Run` of the innermost ``conversion`` block or decorated call, if any."""
    return _current_run.get()


def _final_status(explicit: object, result_status: object, exc: BaseException | None) -> str:
    for given in (explicit, result_status):
        if given is None:
            continue
        status = _normalise(given)
        if status is not None:
            return status
        warn_once(
            ("converter-status", safe_str(given)),
            "pywats_otel: unknown converter status %r (known: %s); counted as failed",
            given,
            ", ".join(semconv.CONVERTER_STATUSES),
        )
        return "failed"
    return "success" if exc is None else "failed"


class _Conversion:
    """The context manager of :func:`conversion`."""

    __slots__ = (
        "_converter",
        "_names",
        "_result",
        "_run",
        "_run_token",
        "_source",
        "_started",
        "_token",
    )

    def __init__(self, converter_name: object, source: object) -> None:
        self._converter = converter_name
        self._source = source
        self._names: _Names | None = None
        self._run: Run | None = None
        self._token: Token[otel_context.Context] | None = None
        self._run_token: Token[Run | None] | None = None
        self._result: object = None
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
        try:
            if self._run_token is not None:
                _current_run.reset(self._run_token)
        except (ValueError, RuntimeError):
            pass
        if self._token is not None:
            otel_context.detach(self._token)  # logs, never raises, on a foreign token
        try:
            result_status: object = None
            records: object = run.records
            if exc is None and self._result is not None:
                result_status, result_records = _from_result(self._result)
                if records is None:
                    records = result_records
            if run._status is None and result_status is None:
                status = "success" if exc is None else "failed"
            else:
                status = _final_status(run._status, result_status, exc)
            if records is not None and type(records) is not int:
                records = safe_int(records)
            attributes: dict[str, Any] = {semconv.CONVERTER_STATUS: status}
            if records is not None:
                attributes[semconv.CONVERTER_RECORDS] = records
            span.set_attributes(attributes)
            if exc is not None:
                error_type = type(exc).__qualname__
                span.set_attribute(semconv.ERROR_TYPE, error_type)
                span.record_exception(exc)
                message = safe_str(exc)
                span.set_status(
                    Status(StatusCode.ERROR, f"{error_type}: {message}" if message else error_type)
                )
            elif status == "failed":
                span.set_attribute(semconv.ERROR_TYPE, "_OTHER")
                span.set_status(Status(StatusCode.ERROR, "status failed"))
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

    def decorate(function: F) -> F:
        if inspect.iscoroutinefunction(function):

            @functools.wraps(function)
            async def run_async(*args: Any, **kwargs: Any) -> Any:
                scope = _Conversion(converter_name, source_of(args, kwargs))
                with scope:
                    result = await function(*args, **kwargs)
                    scope._result = result
                return result

            return cast(F, run_async)

        @functools.wraps(function)
        def run(*args: Any, **kwargs: Any) -> Any:
            scope = _Conversion(converter_name, source_of(args, kwargs))
            with scope:
                result = function(*args, **kwargs)
                scope._result = result
            return result

        return cast(F, run)

    return decorate
