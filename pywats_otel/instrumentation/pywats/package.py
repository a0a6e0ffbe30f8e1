"""What the pyWATS instrumentation instruments: pywats-api 0.6 (its release candidates too)."""

from __future__ import annotations

_instruments = ("pywats-api >= 0.6.0rc1, < 0.7",)
