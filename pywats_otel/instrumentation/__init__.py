"""Adapters that turn on third-party instrumentations (httpx, threading) for init_telemetry()."""
