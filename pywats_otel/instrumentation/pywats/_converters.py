"""pyWATS's converters: a ``convert <converter>`` span and the converter metrics per run.

``FileConverter.convert`` and ``ConverterBase.convert_file`` are abstract: every converter
class defines its own, so each class is wrapped, those that exist and (through
``__init_subclass__``) those defined later. A ``super().convert()`` inside a converter stays
one span. The status comes from the ``ConverterResult`` (pyWATS's converters return a failed
result rather than raise). The report a conversion made remembers its span, so that queueing
it continues the trace.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Iterable
from contextvars import ContextVar
from types import ModuleType
from typing import Any

import wrapt

from pywats_otel import converter
from pywats_otel._base.ratelimit import warn_once
from pywats_otel._base.values import safe_int, safe_str
from pywats_otel.instrumentation.pywats._patches import Patches
from pywats_otel.instrumentation.pywats._queues import ProducedBy

__all__ = ["instrument_converters"]

# The converter objects whose run is under way here: a super() call makes no second span.
_running: ContextVar[frozenset[int]] = ContextVar(
    "pywats_otel_pywats_converting", default=frozenset()
)


def _name_of(instance: object) -> str:
    try:
        name = safe_str(getattr(instance, "name", None))
    except Exception:  # noqa: BLE001 - a name property that raises
        name = None
    return name or type(instance).__name__


def _source_path(value: object) -> object:
    """The file a converter reads: a ConverterSource's path, or the path given."""
    path = getattr(value, "path", None)
    return path if path is not None else value


def _remember(produced: ProducedBy, result: object, run: converter.Run) -> None:
    span_context = run.span.get_span_context()
    produced.remember(result, span_context)
    produced.remember(getattr(result, "report", None), span_context)
    reports = getattr(result, "reports", None)
    if isinstance(reports, (list, tuple)):
        for report in reports:
            produced.remember(report, span_context)


def _apply_result(run: converter.Run, result: object) -> None:
    status = getattr(result, "status", None)
    if status is not None:
        run.status = status
    records = safe_int(getattr(result, "records_processed", None))
    if records is None:
        reports = getattr(result, "reports", None)
        if isinstance(reports, (list, tuple)):
            records = len(reports)
    if records is not None:
        run.records = records


@contextlib.contextmanager
def _guard(instance: object) -> Any:
    running = _running.get()
    token = _running.set(running | {id(instance)})
    try:
        yield id(instance) in running
    finally:
        _running.reset(token)


def _sync_wrapper(produced: ProducedBy, source_index: int) -> Callable[..., Any]:
    def wrapper(
        wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        with _guard(instance) as nested:
            if nested:
                return wrapped(*args, **kwargs)
            source = args[source_index] if len(args) > source_index else None
            path: Any = _source_path(source)
            with converter.conversion(_name_of(instance), path) as run:
                result = wrapped(*args, **kwargs)
                try:
                    _apply_result(run, result)
                    _remember(produced, result, run)
                except Exception:  # noqa: BLE001 - the result is returned all the same
                    warn_once("pywats-convert", "pywats_otel: tracing a converter failed")
            return result

    return wrapper


def _scheduled_run(
    wrapped: Callable[..., Awaitable[Any]],
    instance: Any,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Awaitable[Any]:
    async def run() -> Any:
        with _guard(instance) as nested:
            if nested:
                return await wrapped(*args, **kwargs)
            with converter.conversion(_name_of(instance)) as conversion:
                results = await wrapped(*args, **kwargs)
                try:
                    if isinstance(results, (list, tuple)):
                        conversion.records = len(results)
                        failed = [r for r in results if _status(r) == "failed"]
                        if failed:
                            conversion.status = "failed"
                except Exception:  # noqa: BLE001 - the results are returned all the same
                    warn_once("pywats-convert", "pywats_otel: tracing a converter failed")
            return results

    return run()


def _status(result: object) -> str | None:
    status = getattr(result, "status", None)
    value = getattr(status, "value", status)
    return value.lower() if isinstance(value, str) else None


def _sandbox_run(
    wrapped: Callable[..., Awaitable[Any]],
    instance: Any,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Awaitable[Any]:
    async def run() -> Any:
        converter_class = args[1] if len(args) > 1 else kwargs.get("converter_class")
        input_path = args[2] if len(args) > 2 else kwargs.get("input_path")
        with converter.conversion(safe_str(converter_class) or "sandbox", input_path) as run:
            result = await wrapped(*args, **kwargs)
            try:
                if isinstance(result, dict) and result.get("status") is not None:
                    run.status = result["status"]
            except Exception:  # noqa: BLE001 - the result is returned all the same
                warn_once("pywats-convert", "pywats_otel: tracing a converter failed")
        return result

    return run()


class _ClassHooks:
    """Wraps ``method`` on every class below ``base`` that defines it, now and later."""

    def __init__(self, patches: Patches, base: type, method: str, wrapper: Any) -> None:
        self._patches = patches
        self._base = base
        self._method = method
        self._wrapper = wrapper

    def install(self) -> None:
        for cls in _subclasses(self._base):
            self.wrap(cls)
        base = self._base
        had_own = "__init_subclass__" in vars(base)
        previous = vars(base).get("__init_subclass__")
        hooks = self

        def init_subclass(cls: Any, /, **kwargs: Any) -> None:
            if previous is not None:
                previous.__get__(None, cls)(**kwargs)
            else:
                next_in_line: Any = super(base, cls)
                next_in_line.__init_subclass__(**kwargs)
            if hooks._patches.active:
                hooks.wrap(cls)

        setattr(base, "__init_subclass__", classmethod(init_subclass))  # noqa: B010

        def undo() -> None:
            if had_own:
                setattr(base, "__init_subclass__", previous)  # noqa: B010
            else:
                with contextlib.suppress(AttributeError):
                    del base.__init_subclass__

        self._patches.on_undo(undo)

    def wrap(self, cls: type) -> None:
        function = vars(cls).get(self._method)
        if function is None or getattr(function, "__isabstractmethod__", False):
            return
        if isinstance(function, wrapt.FunctionWrapper) and getattr(
            function, "_self_pywats_otel", False
        ):
            return  # ours already
        try:
            self._patches.wrap(cls, self._method, self._wrapper)
            # A _self_ attribute lives on the wrapper itself, not on the wrapped function.
            vars(cls)[self._method]._self_pywats_otel = True
        except Exception:  # noqa: BLE001 - that converter runs untraced
            warn_once(
                ("pywats-convert-wrap", cls.__qualname__),
                "pywats_otel: converter %s could not be traced",
                cls.__qualname__,
                exc_info=True,
            )


def _subclasses(base: type) -> Iterable[type]:
    seen: set[type] = set()
    pending: list[type] = list(base.__subclasses__())
    while pending:
        cls = pending.pop()
        if cls in seen:
            continue
        seen.add(cls)
        yield cls
        pending.extend(cls.__subclasses__())


def instrument_converters(patches: Patches, produced: ProducedBy) -> None:
    def file_converter(module: ModuleType) -> None:
        # convert(self, source, context)
        _ClassHooks(patches, module.FileConverter, "convert", _sync_wrapper(produced, 0)).install()

    def converter_base(module: ModuleType) -> None:
        # convert_file(self, file_path, args)
        _ClassHooks(
            patches, module.ConverterBase, "convert_file", _sync_wrapper(produced, 0)
        ).install()

    def scheduled(module: ModuleType) -> None:
        _ClassHooks(patches, module.ScheduledConverter, "run", _scheduled_run).install()

    def sandbox(module: ModuleType) -> None:
        patches.wrap(module.ConverterSandbox, "run_converter", _sandbox_run)

    patches.when_imported("pywats_client.converters.file_converter", file_converter)
    patches.when_imported("pywats_client.converters.base", converter_base)
    patches.when_imported("pywats_client.converters.scheduled_converter", scheduled)
    patches.when_imported("pywats_client.converters.sandbox", sandbox)
