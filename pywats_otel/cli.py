"""The ``pywats-otel`` command; it lives in ``pywats_otel._tools.cli``, this path keeps working."""

from __future__ import annotations

from pywats_otel._tools.cli import main

__all__ = ["main"]

if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
