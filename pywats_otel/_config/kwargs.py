"""The keyword arguments of ``init_telemetry()``: one per setting, typed.

Generated from the declarations of ``TelemetrySettings`` by
``python -m pywats_otel._tools.docs --write``; do not edit by hand.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Literal, TypedDict

from pydantic import SecretStr

__all__ = ["SettingsKwargs"]


class SettingsKwargs(TypedDict, total=False):
    """Every setting as a keyword argument; ``None`` means "not given".

    See ``TelemetrySettings`` and docs/configuration.md for what each one means.
    """

    enabled: bool | None
    service_name: str | None
    service_version: str | None
    environment: str | None
    resource_attributes: str | Mapping[str, str] | None
    traces_exporter: str | Sequence[str] | None
    metrics_exporter: str | Sequence[str] | None
    logs_exporter: str | Sequence[str] | None
    otlp_protocol: Literal["grpc", "http/protobuf"] | None
    otlp_endpoint: str | None
    otlp_headers: str | Mapping[str, str] | None
    otlp_timeout: int | None
    otlp_compression: Literal["none", "gzip"] | None
    otlp_certificate: str | os.PathLike[str] | None
    otlp_client_key: str | os.PathLike[str] | None
    otlp_client_certificate: str | os.PathLike[str] | None
    otlp_insecure: bool | None
    otlp_traces_endpoint: str | None
    otlp_traces_protocol: Literal["grpc", "http/protobuf"] | None
    otlp_traces_headers: str | Mapping[str, str] | None
    otlp_traces_timeout: int | None
    otlp_traces_compression: Literal["none", "gzip"] | None
    otlp_traces_certificate: str | os.PathLike[str] | None
    otlp_traces_client_key: str | os.PathLike[str] | None
    otlp_traces_client_certificate: str | os.PathLike[str] | None
    otlp_traces_insecure: bool | None
    otlp_metrics_endpoint: str | None
    otlp_metrics_protocol: Literal["grpc", "http/protobuf"] | None
    otlp_metrics_headers: str | Mapping[str, str] | None
    otlp_metrics_timeout: int | None
    otlp_metrics_compression: Literal["none", "gzip"] | None
    otlp_metrics_certificate: str | os.PathLike[str] | None
    otlp_metrics_client_key: str | os.PathLike[str] | None
    otlp_metrics_client_certificate: str | os.PathLike[str] | None
    otlp_metrics_insecure: bool | None
    otlp_logs_endpoint: str | None
    otlp_logs_protocol: Literal["grpc", "http/protobuf"] | None
    otlp_logs_headers: str | Mapping[str, str] | None
    otlp_logs_timeout: int | None
    otlp_logs_compression: Literal["none", "gzip"] | None
    otlp_logs_certificate: str | os.PathLike[str] | None
    otlp_logs_client_key: str | os.PathLike[str] | None
    otlp_logs_client_certificate: str | os.PathLike[str] | None
    otlp_logs_insecure: bool | None
    prometheus_host: str | None
    prometheus_port: int | None
    endpoint_username: str | None
    endpoint_password: str | SecretStr | None
    endpoint_tls_cert: str | os.PathLike[str] | None
    endpoint_tls_key: str | os.PathLike[str] | None
    recent_traces: int | None
    recent_failed_traces: int | None
    recent_trace_spans: int | None
    sampler: str | None
    sampler_arg: float | None
    metric_export_interval: int | None
    metric_export_timeout: int | None
    metric_cardinality_limit: int | None
    instrumentations: str | Sequence[str] | None
    disabled_instrumentations: str | Sequence[str] | None
    httpx_instrumentation: Literal["pywats_otel", "stock"] | None
    log_correlation: bool | None
    correlation_header: str | None
    pywats_legacy_metrics: bool | None
    converter_record_path: bool | None
    logs_level: str | int | None
    shutdown_timeout_s: float | None
    disk_paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None
    disk_warn_percent: float | None
    disk_fail_percent: float | None
    health_check_url: str | None
    health_check_timeout_s: float | None
    health_cache_s: float | None
    config_file: str | os.PathLike[str] | None
