"""The wrappers the pyWATS instrumentation puts on pyWATS, and the undo of each.

pyWATS's modules are patched when they are imported (wrapt's post-import hooks), so a program
that never imports ``pywats_client`` (and PySide6 with it) never loads it because of us. Every
wrapper is recorded, so that uninstrumenting puts pyWATS back exactly as it was; a hook that
fires after uninstrumenting does nothing.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from types import ModuleType
from typing import Any

import wrapt
from opentelemetry.instrumentation.utils import unwrap

__all__ = ["Patches"]

_logger = logging.getLogger("pywats_otel")

Wrapper = Callable[[Callable[..., Any], Any, tuple[Any, ...], dict[str, Any]], Any]


class Patches:
    """The patches of one ``instrument()`` call, undone together by :meth:`undo_all`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._undos: list[Callable[[], None]] = []
        self.active = True

    def when_imported(self, module: str, patch: Callable[[ModuleType], None]) -> None:
        """Run ``patch(module)`` now if ``module`` is imported, else right after its import."""

        def hook(imported: ModuleType) -> None:
            if not self.active:
                return
            try:
                patch(imported)
            except Exception:
                _logger.warning(
                    "pywats_otel: instrumenting %s failed; that part of pyWATS is not traced",
                    module,
                    exc_info=True,
                )

        wrapt.register_post_import_hook(hook, module)

    def wrap(self, owner: Any, name: str, wrapper: Wrapper) -> None:
        """Wrap ``owner.name`` (a class or module attribute) with a wrapt ``wrapper``."""
        wrapt.wrap_function_wrapper(owner, name, wrapper)
        self.on_undo(lambda: unwrap(owner, name))

    def on_undo(self, undo: Callable[[], None]) -> None:
        with self._lock:
            self._undos.append(undo)

    def undo_all(self) -> None:
        """Undo every patch, newest first; a failing undo is logged and the others still run."""
        self.active = False
        with self._lock:
            undos, self._undos = self._undos, []
        for undo in reversed(undos):
            try:
                undo()
            except Exception:
                _logger.warning("pywats_otel: undoing a pyWATS patch failed", exc_info=True)
