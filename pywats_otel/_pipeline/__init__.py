"""The telemetry pipeline: the bootstrap behind ``init_telemetry()``, the handle it returns, the
exporters' bookkeeping, the log handler, the HTTP endpoint and the built-in health checks."""
