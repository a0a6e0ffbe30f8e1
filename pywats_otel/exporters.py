"""What an exporter plug-in needs: register an ExporterSpec under ``pywats_otel.exporters``.

In the plug-in's pyproject.toml::

    [project.entry-points."pywats_otel.exporters"]
    myexporter = "my_package.telemetry:SPEC"

where ``SPEC = ExporterSpec(span_exporter=lambda context: MySpanExporter(...))``. The name then
works in ``PYWATS_OTEL_TRACES_EXPORTER=myexporter``.
"""

from __future__ import annotations

from pywats_otel._config.exporters import ENTRY_POINT_GROUP, ExporterContext, ExporterSpec

__all__ = ["ENTRY_POINT_GROUP", "ExporterContext", "ExporterSpec"]
