"""The bottom layer: helpers every other part of pywats_otel uses, importing none of them.

Process-wide state (``state``), rate-limited warnings, URL and secret redaction, timestamps,
safe attribute values, the tracer and instruments built from ``semconv``, the shared span
scope of the queue and converter APIs, trace IDs and the configuration error.
"""
