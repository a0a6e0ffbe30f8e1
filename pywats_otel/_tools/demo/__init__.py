"""The demo test station of ``pywats-otel demo``: a fake WATS server, tester files, converters,
an on-disk report queue and an httpx uploader, instrumented only through the public API."""
