"""What the queue and converter APIs share: a span scope per item or run, its name cache, the
status or outcome it ends with, how a failure is recorded, and the sync/async decorator.

A scope is a context manager around one unit of work (processing a queued item, converting a
file). It ends with one of a few known values (``success``, ``failed``, ...); a value given
as text or an Enum (pyWATS's own status enums) is normalised, an unknown one is reported once
and counted as ``failed``, so that setting it can never raise into the caller.
"""

from __future__ import annotations

import contextlib
import enum
import functools
import inspect
from collections.abc import Callable, Iterable
from contextvars import ContextVar, Token
from typing import Any, Generic, Protocol, TypeVar, cast

from opentelemetry.trace import Span, Status, StatusCode

from pywats_otel import semconv
from pywats_otel._base.ratelimit import warn_once
from pywats_otel._base.values import safe_str

__all__ = [
    "NameCache",
    "Scope",
    "final_value",
    "mark_failed",
    "normalise",
    "record_exception",
    "reset_quietly",
    "traced_calls",
]

T = TypeVar("T")
V = TypeVar("V")
F = TypeVar("F", bound=Callable[..., Any])

_MAX_NAMES = 256


class NameCache(Generic[T]):
    """Span names and attribute sets per queue or converter name, built once instead of per
    item. Bounded: a caller passing unbounded names gets them rebuilt, not a growing dict."""

    def __init__(self, build: Callable[[str], T]) -> None:
        self._build = build
        self._cache: dict[object, T] = {}

    def get(self, name: object) -> T:
        try:
            return self._cache[name]
        except (KeyError, TypeError):
            pass
        built = self._build(safe_str(name) or "unknown")
        try:
            if len(self._cache) >= _MAX_NAMES:
                self._cache.clear()
            self._cache[name] = built
        except TypeError:  # an unhashable name: used, not cached
            pass
        return built


def normalise(value: object, known: frozenset[str]) -> str | None:
    """``value`` (text, or an Enum by its text value or name) as one of ``known``, else None."""
    if isinstance(value, enum.Enum):
        value = value.value if isinstance(value.value, str) else value.name
    if isinstance(value, str):
        lowered = value.lower()
        if lowered in known:
            return lowered
    return None


def final_value(
    candidates: Iterable[object],
    exc: BaseException | None,
    known: frozenset[str],
    what: str,
    listed: tuple[str, ...],
) -> str:
    """The first given candidate, normalised; else ``success``, or ``failed`` after ``exc``.

    An unknown candidate is warned about once (``what`` names it, e.g. "queue outcome") and
    counts as ``failed``.
    """
    for given in candidates:
        if given is None:
            continue
        value = normalise(given, known)
        if value is not None:
            return value
        warn_once(
            (what, safe_str(given)),
            "pywats_otel: unknown %s %r (known: %s); counted as failed",
            what,
            given,
            ", ".join(listed),
        )
        return "failed"
    return "success" if exc is None else "failed"


def record_exception(span: Span, exc: BaseException) -> None:
    """Mark ``span`` failed by ``exc``: ``error.type``, the exception event, status ERROR."""
    error_type = type(exc).__qualname__
    span.set_attribute(semconv.ERROR_TYPE, error_type)
    span.record_exception(exc)
    message = safe_str(exc)
    span.set_status(Status(StatusCode.ERROR, f"{error_type}: {message}" if message else error_type))


def mark_failed(span: Span, description: str) -> None:
    """Mark ``span`` failed without an exception (a status or outcome said ``failed``)."""
    span.set_attribute(semconv.ERROR_TYPE, "_OTHER")
    span.set_status(Status(StatusCode.ERROR, description))


def reset_quietly(variable: ContextVar[V], token: Token[V] | None) -> None:
    """Reset a ContextVar; a token of another context cannot be, and the scope ends anyway."""
    if token is not None:
        with contextlib.suppress(ValueError, RuntimeError):
            variable.reset(token)


class Scope(Protocol):
    """A scope the decorator can run a call in; ``result`` receives the call's return value."""

    result: object

    def __enter__(self) -> object: ...

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> bool: ...


def traced_calls(function: F, scope_for: Callable[[tuple[Any, ...], dict[str, Any]], Scope]) -> F:
    """``function`` (sync or async) with each call run inside ``scope_for(args, kwargs)``."""
    if inspect.iscoroutinefunction(function):

        @functools.wraps(function)
        async def run_async(*args: Any, **kwargs: Any) -> Any:
            scope = scope_for(args, kwargs)
            with scope:
                result = await function(*args, **kwargs)
                scope.result = result
            return result

        return cast(F, run_async)

    @functools.wraps(function)
    def run(*args: Any, **kwargs: Any) -> Any:
        scope = scope_for(args, kwargs)
        with scope:
            result = function(*args, **kwargs)
            scope.result = result
        return result

    return cast(F, run)
