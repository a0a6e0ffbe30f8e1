"""The tools around the SDK: the ``pywats-otel`` command (``demo``, ``check``, ``settings``), the
demo station and the generator of the docs' tables."""
