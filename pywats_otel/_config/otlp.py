"""The OTLP options of each signal as the specification has them, and what is wrong when a
collector does not take an export.

:func:`otlp_options` resolves, per signal, every option from its per-signal setting
(``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` ...) over the general one (``OTEL_EXPORTER_OTLP_...``)
over the default, remembering where each came from. Endpoints follow the OTLP exporter
specification: a per-signal HTTP endpoint is used as is, the general one gets ``/v1/<signal>``
appended; a general endpoint that already ends in a signal path (``.../v1/traces``, which would
become ``.../v1/traces/v1/traces``) has it taken off, and :attr:`OTLPOptions.note` says so.

:func:`diagnose` looks at the destination the way a person would: does the name resolve, does
each address accept a connection (IPv4 and IPv6 told apart), does it speak TLS, HTTP/1.1 or
HTTP/2 (gRPC); ``pywats-otel check`` and the first export failure of each exporter quote it.

:func:`import_grpc` imports grpc with its C core's own logging (``Handshake failed`` every
second on stderr) kept to errors, unless the user set ``GRPC_VERBOSITY``; the variable is
read once, when grpc is first imported.
"""

from __future__ import annotations

import errno
import os
import socket
import ssl
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from pywats_otel._base.redact import redact_url

if TYPE_CHECKING:
    from pywats_otel._config.settings import Signal, TelemetrySettings

__all__ = ["OTLPOptions", "diagnose", "import_grpc", "otlp_options"]

SIGNAL_PATHS = {"traces": "v1/traces", "metrics": "v1/metrics", "logs": "v1/logs"}
DEFAULT_ENDPOINTS = {"grpc": "http://localhost:4317", "http/protobuf": "http://localhost:4318"}
_DEFAULT_PORTS = {"grpc": 4317, "http/protobuf": 4318}


def import_grpc() -> Any:
    """``import grpc``, the first time with ``GRPC_VERBOSITY=ERROR`` unless the user chose."""
    if "grpc" in sys.modules or "GRPC_VERBOSITY" in os.environ:
        import grpc

        return grpc
    os.environ["GRPC_VERBOSITY"] = "ERROR"
    try:
        import grpc
    finally:
        # grpc read it at import; the program's child processes get the environment as it was.
        os.environ.pop("GRPC_VERBOSITY", None)
    return grpc


@dataclass(frozen=True)
class OTLPOptions:
    """What the OTLP exporter of one signal is built with."""

    signal: Signal
    protocol: str
    #: The URL the exporter sends to (HTTP: with the signal path).
    endpoint: str
    headers: dict[str, str]
    timeout_ms: int
    compression: str
    certificate: Path | None
    client_key: Path | None
    client_certificate: Path | None
    #: gRPC without TLS (from the setting, else the endpoint's scheme).
    insecure: bool
    #: Option -> where its value came from (setting and its source, or "default").
    sources: dict[str, str] = field(default_factory=dict)
    #: A correction made to the endpoint (a signal path taken off), to warn about once.
    note: str | None = None

    @property
    def shown_endpoint(self) -> str:
        return redact_url(self.endpoint)

    @property
    def uses_tls(self) -> bool:
        if self.protocol == "grpc":
            return not self.insecure
        return self.endpoint.startswith("https://")


def _pick(settings: TelemetrySettings, signal: Signal, option: str) -> tuple[Any, str]:
    """(value, source) of an option: the per-signal setting if given, else the general one."""
    specific = f"otlp_{signal}_{option}"
    value = getattr(settings, specific)
    if value is not None:
        return value, f"{specific} ({settings.source_of(specific)})"
    general = f"otlp_{option}"
    return getattr(settings, general), f"{general} ({settings.source_of(general)})"


def _strip_signal_path(endpoint: str) -> tuple[str, str | None]:
    """The general endpoint without a trailing /v1/<signal>, and what was taken off."""
    parts = urlsplit(endpoint)
    path = parts.path.rstrip("/")
    for signal_path in SIGNAL_PATHS.values():
        if path.endswith("/" + signal_path):
            base = parts._replace(path=path[: -len(signal_path) - 1]).geturl()
            return base, "/" + signal_path
    return endpoint, None


def otlp_options(settings: TelemetrySettings, signal: Signal) -> OTLPOptions:
    """The OTLP exporter options of ``signal`` (see the module)."""
    sources: dict[str, str] = {}
    protocol, sources["protocol"] = _pick(settings, signal, "protocol")
    note = None
    specific = getattr(settings, f"otlp_{signal}_endpoint")
    if specific is not None:
        endpoint = specific
        source = f"otlp_{signal}_endpoint ({settings.source_of(f'otlp_{signal}_endpoint')})"
    elif settings.otlp_endpoint is not None:
        base, stripped = _strip_signal_path(settings.otlp_endpoint)
        source = f"otlp_endpoint ({settings.source_of('otlp_endpoint')})"
        if stripped is not None:
            where = settings.source_of("otlp_endpoint")
            note = (
                f"otlp_endpoint from {where} ends in {stripped}, the path pywats_otel adds itself; "
                f"using {redact_url(base)} (a full URL for one signal goes in "
                "OTEL_EXPORTER_OTLP_<SIGNAL>_ENDPOINT)"
            )
        if protocol == "grpc":
            endpoint = base
        else:
            endpoint = base.rstrip("/") + "/" + SIGNAL_PATHS[signal]
            source += f" + /{SIGNAL_PATHS[signal]}"
    else:
        endpoint = DEFAULT_ENDPOINTS[protocol]
        source = "default"
        if protocol != "grpc":
            endpoint += "/" + SIGNAL_PATHS[signal]
    sources["endpoint"] = source
    headers_value, sources["headers"] = _pick(settings, signal, "headers")
    timeout, sources["timeout"] = _pick(settings, signal, "timeout")
    compression, sources["compression"] = _pick(settings, signal, "compression")
    certificate, sources["certificate"] = _pick(settings, signal, "certificate")
    client_key, sources["client_key"] = _pick(settings, signal, "client_key")
    client_certificate, sources["client_certificate"] = _pick(
        settings, signal, "client_certificate"
    )
    insecure, sources["insecure"] = _pick(settings, signal, "insecure")
    if insecure is None:
        insecure = urlsplit(endpoint).scheme == "http"
        sources["insecure"] = "the endpoint's scheme"
    if (client_key is None) != (client_certificate is None):
        # The general pair is validated together; a per-signal half completes it.
        client_key = client_key or settings.otlp_client_key
        client_certificate = client_certificate or settings.otlp_client_certificate
    return OTLPOptions(
        signal=signal,
        protocol=protocol,
        endpoint=endpoint,
        headers={name: value.get_secret_value() for name, value in (headers_value or {}).items()},
        timeout_ms=int(timeout),
        compression=compression,
        certificate=certificate,
        client_key=client_key,
        client_certificate=client_certificate,
        insecure=bool(insecure),
        sources=sources,
        note=note,
    )


# -- diagnosis ----------------------------------------------------------------------------

#: OpenSSL's reasons when the peer answers a TLS hello with something else (plain HTTP).
_NOT_TLS = ("WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "HTTP_REQUEST", "UNEXPECTED_RECORD")
_H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"


def _target(options: OTLPOptions) -> tuple[str, int]:
    parts = urlsplit(options.endpoint)
    host = parts.hostname or parts.netloc or options.endpoint
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is None:
        port = 443 if parts.scheme == "https" else 80 if parts.scheme == "http" else 4317
    return host, port


def _first_answer(
    sock: socket.socket | ssl.SSLSocket, payload: bytes, timeout_s: float
) -> bytes | str:
    """The peer's first bytes after ``payload``, or ``silent`` or ``closed``."""
    sock.settimeout(timeout_s)
    try:
        sock.sendall(payload)
        first = sock.recv(64)
    except TimeoutError:
        return "silent"
    except OSError:
        return "closed"
    return first or "closed"


def _speaks(sock: socket.socket | ssl.SSLSocket, host: str, timeout_s: float) -> str:
    """``http/1.1``, ``http/2``, ``silent`` or ``closed``: how the peer answers a request."""
    request = f"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    first = _first_answer(sock, request.encode("ascii", "replace"), timeout_s)
    if isinstance(first, str):
        return first
    if first.startswith(b"HTTP/1."):
        return "http/1.1"
    # An HTTP/2 server answers an HTTP/1.1 request with binary frames (SETTINGS, GOAWAY).
    return "http/2" if len(first) >= 9 and first[3] in (0x04, 0x07) else "unknown"


def _speaks_h2(sock: socket.socket | ssl.SSLSocket, timeout_s: float) -> str:
    first = _first_answer(sock, _H2_PREFACE, timeout_s)
    if isinstance(first, str):
        return first
    if first.startswith(b"HTTP/1.") or _textual(first):
        # An HTTP/1.x server answers the preface with a status line, or with an error page
        # only (Python's http.server takes it for HTTP/0.9).
        return "http/1.1"
    return "http/2" if len(first) >= 9 and first[3] == 0x04 else "unknown"


def _textual(data: bytes) -> bool:
    head = data[:16]
    return bool(head) and all(byte in (9, 10, 13) or 32 <= byte < 127 for byte in head)


def _connect(host: str, port: int, timeout_s: float) -> tuple[socket.socket | None, str]:
    """A connection to the first address that accepts, or None and what each address said."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        return None, f"the name {host} does not resolve ({exc.strerror})"
    # IPv4 first: a service on 127.0.0.1 only is told apart from nothing on ::1.
    infos.sort(key=lambda info: info[0] != socket.AF_INET)
    outcomes: list[str] = []
    for family, kind, proto, _, address in infos:
        shown = f"[{address[0]}]:{port}" if family == socket.AF_INET6 else f"{address[0]}:{port}"
        sock = socket.socket(family, kind, proto)
        sock.settimeout(timeout_s)
        try:
            sock.connect(address)
        except TimeoutError:
            outcomes.append(f"{shown} does not answer within {timeout_s:g} s (a firewall?)")
        except OSError as exc:
            reason = (
                "refuses the connection"
                if exc.errno == errno.ECONNREFUSED
                else f"cannot be reached ({exc.strerror or exc})"
            )
            outcomes.append(f"{shown} {reason}")
        else:
            return sock, shown
        sock.close()
    return None, "; ".join(dict.fromkeys(outcomes)) or f"no address for {host}"


def diagnose(options: OTLPOptions, timeout_s: float = 2.0) -> str | None:
    """What is at the destination, in one sentence with what to change (see the module);
    None when it answers as the exporter expects (the error itself says the rest). Never
    raises: a probe that fails says so."""
    try:
        return _diagnose(options, timeout_s)
    except Exception as exc:  # noqa: BLE001 - a diagnosis is a help, never a new failure
        return f"diagnosis: the probe of {options.shown_endpoint} failed ({type(exc).__name__})"


def _diagnose(options: OTLPOptions, timeout_s: float) -> str | None:
    host, port = _target(options)
    expected = "gRPC" if options.protocol == "grpc" else "OTLP/HTTP"
    grpc = options.protocol == "grpc"
    usual = _DEFAULT_PORTS[options.protocol]
    sock, shown = _connect(host, port, timeout_s)
    if sock is None:
        port_hint = (
            f"listening on {port}"
            if port == usual
            else f"is {port} its {expected} port ({usual} by default)"
        )
        return f"diagnosis: {shown}; is the collector running, and {port_hint}?"
    try:
        if options.uses_tls:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            if grpc:
                context.set_alpn_protocols(["h2"])
            if options.client_certificate is not None and options.client_key is not None:
                context.load_cert_chain(str(options.client_certificate), str(options.client_key))
            try:
                sock = context.wrap_socket(sock, server_hostname=host)
            except ssl.SSLError as exc:
                reason = str(getattr(exc, "reason", None) or exc)
                if any(mark in reason for mark in _NOT_TLS):
                    scheme_hint = "otlp_insecure=true" if grpc else "an http:// endpoint"
                    return (
                        f"diagnosis: {shown} accepts connections but does not speak TLS "
                        f"({reason}): the collector listens without TLS there; use {scheme_hint}"
                    )
                if "CERTIFICATE_REQUIRED" in reason and options.client_certificate is None:
                    return (
                        f"diagnosis: {shown} asks for a client certificate (mTLS): set "
                        "otlp_client_certificate and otlp_client_key"
                    )
                return f"diagnosis: the TLS handshake with {shown} failed ({reason})"
            except OSError as exc:
                return f"diagnosis: {shown} closed the connection during the TLS handshake ({exc})"
            trust = _verify(options, host, port, timeout_s)
            if trust is not None:
                return f"diagnosis: {shown} speaks TLS, but {trust}"
        spoken = _speaks_h2(sock, timeout_s) if grpc else _speaks(sock, host, timeout_s)
    finally:
        sock.close()
    if grpc and spoken == "http/1.1":
        return (
            f"diagnosis: {shown} answers in HTTP/1.1, not gRPC (HTTP/2): it looks like an "
            "OTLP/HTTP port (4318); use otlp_protocol=http/protobuf, or the gRPC port (4317)"
        )
    if not grpc and spoken == "http/2":
        return (
            f"diagnosis: {shown} answers in HTTP/2 frames, not HTTP/1.1: it looks like an "
            "OTLP/gRPC port (4317); use otlp_protocol=grpc, or the HTTP port (4318)"
        )
    if spoken == "silent":
        return f"diagnosis: {shown} accepts connections but does not answer a request"
    if spoken == "closed" and options.uses_tls and options.client_certificate is None:
        return (
            f"diagnosis: {shown} closed the connection after the TLS handshake: it may ask "
            "for a client certificate (mTLS: otlp_client_certificate and otlp_client_key)"
        )
    if spoken in ("closed", "unknown"):
        return f"diagnosis: {shown} accepts connections but does not answer as {expected} does"
    return None  # it answers as expected: the error itself says what went wrong


def _verify(options: OTLPOptions, host: str, port: int, timeout_s: float) -> str | None:
    """None when the certificate verifies against the configured CA (or the system's)."""
    cafile = str(options.certificate) if options.certificate else None
    context = ssl.create_default_context(cafile=cafile)
    try:
        if options.client_certificate is not None and options.client_key is not None:
            context.load_cert_chain(str(options.client_certificate), str(options.client_key))
        with (
            socket.create_connection((host, port), timeout=timeout_s) as raw,
            context.wrap_socket(raw, server_hostname=host),
        ):
            return None
    except ssl.SSLCertVerificationError as exc:
        what = "otlp_certificate" if cafile is None else f"the CA file {cafile}"
        return (
            f"its certificate is not trusted ({exc.verify_message}); check {what} (the PEM "
            "file of the CA that signed the collector's certificate)"
        )
    except (ssl.SSLError, OSError):
        return None
