"""Configuration: every setting declared once, the loader that resolves them (keyword argument,
``PYWATS_OTEL_*``, ``OTEL_*``, TOML file, default), and the exporters selectable by name."""
