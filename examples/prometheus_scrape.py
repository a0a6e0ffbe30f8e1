"""Record pyWATS metrics and read them back the way Prometheus does, from /metrics.

Run: python examples/prometheus_scrape.py   (PYWATS_OTEL_PROMETHEUS_PORT picks the port)
"""

from __future__ import annotations

import urllib.request

from opentelemetry import metrics

from pywats_otel import init_telemetry, semconv


def main() -> None:
    telemetry = init_telemetry(service_name="example-station", prometheus_port=0)
    meter = metrics.get_meter("example")
    executions = meter.create_counter(
        semconv.CONVERTER_EXECUTIONS, unit="{execution}", description="Converter runs."
    )
    executions.add(3, {semconv.CONVERTER_NAME: "csv", semconv.CONVERTER_STATUS: "success"})
    executions.add(1, {semconv.CONVERTER_NAME: "csv", semconv.CONVERTER_STATUS: "failed"})

    # What a Prometheus server scraping this station receives:
    print(f"scraping {telemetry.metrics_url}")
    with urllib.request.urlopen(telemetry.metrics_url, timeout=5) as response:
        for line in response.read().decode().splitlines():
            if line.startswith("pywats_converter_executions_total{"):
                print(line)
    telemetry.shutdown(timeout_s=5)


if __name__ == "__main__":
    main()
