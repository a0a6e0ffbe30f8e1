"""pywats_otel's benchmarks: run with ``nox -s bench`` (or ``python -m benchmarks``)."""
