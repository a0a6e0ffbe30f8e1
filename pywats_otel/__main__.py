"""``python -m pywats_otel`` is the ``pywats-otel`` command."""

from pywats_otel._tools.cli import main

raise SystemExit(main())
