"""The ``tree`` trace exporter: each local trace printed as an indented tree when its root ends.

One line per span (name, duration, status and error, the attributes that matter), children
under their parent, colour only on a terminal (``NO_COLOR`` turns it off, ``FORCE_COLOR``
on). ``console``
keeps the SDK's JSON. A local root is a span without a parent or whose parent came from
elsewhere (a queue item's ``process`` span continues a trace of another process or run): its
tree is printed when it ends, its children having ended before it. Spans still waiting for
their root are bounded; shutdown prints what is left.
"""

from __future__ import annotations

import os
import sys
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import TYPE_CHECKING, TextIO

from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from pywats_otel._base import span_tree

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan

__all__ = ["TreeSpanExporter"]

#: Traces whose root has not ended yet, and spans per such trace, that are kept waiting.
_MAX_WAITING_TRACES = 1000
_MAX_WAITING_SPANS = 1000


def _is_local_root(span: ReadableSpan) -> bool:
    parent = span.parent
    return parent is None or parent.is_remote


def _wants_color(stream: TextIO) -> bool:
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except (OSError, ValueError):
        return False


class TreeSpanExporter(SpanExporter):
    """Prints trees of spans to ``out`` (standard output when None, looked up at each print)."""

    def __init__(self, out: TextIO | None = None, *, color: bool | None = None) -> None:
        self._out = out
        self._color = color
        self._lock = threading.Lock()
        self._waiting: OrderedDict[int, list[ReadableSpan]] = OrderedDict()

    def _stream(self) -> TextIO:
        return self._out if self._out is not None else sys.stdout

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        blocks: list[list[str]] = []
        with self._lock:
            for span in spans:
                context = span.context
                if context is None:
                    continue
                waiting = self._waiting.setdefault(context.trace_id, [])
                if len(waiting) < _MAX_WAITING_SPANS:
                    waiting.append(span)
                if _is_local_root(span):
                    blocks.append(self._take(context.trace_id, context.span_id))
            while len(self._waiting) > _MAX_WAITING_TRACES:
                self._waiting.popitem(last=False)
        return self._print(blocks)

    def _take(self, trace_id: int, root_id: int) -> list[str]:
        """The lines of root ``root_id``'s tree; its spans leave the waiting list."""
        waiting = self._waiting.get(trace_id, [])
        trees = span_tree.build_trees(waiting)
        root = next(
            tree
            for tree in trees
            if tree.span.context is not None and tree.span.context.span_id == root_id
        )
        taken = {id(node.span) for _, node in root.depth_first}
        rest = [span for span in waiting if id(span) not in taken]
        if rest:
            self._waiting[trace_id] = rest
        else:
            self._waiting.pop(trace_id, None)
        return self._lines([root], trace_id)

    def _lines(self, roots: list[span_tree.SpanNode], trace_id: int, note: str = "") -> list[str]:
        color = _wants_color(self._stream()) if self._color is None else self._color
        service = roots[0].span.resource.attributes.get("service.name") if roots else None
        header = f"trace {trace_id:032x}" + (f"  {service}" if service else "") + note
        return span_tree.render_text(roots, color=color, header=header)

    def _print(self, blocks: list[list[str]]) -> SpanExportResult:
        if not blocks:
            return SpanExportResult.SUCCESS
        try:
            stream = self._stream()
            stream.write("".join("\n".join(block) + "\n" for block in blocks))
            stream.flush()
        except (OSError, ValueError):
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        """Print the spans that still wait for their root, as partial trees."""
        with self._lock:
            waiting, self._waiting = self._waiting, OrderedDict()
            blocks = [
                self._lines(span_tree.build_trees(spans), trace_id, "  (its root did not end)")
                for trace_id, spans in waiting.items()
            ]
        self._print(blocks)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True
