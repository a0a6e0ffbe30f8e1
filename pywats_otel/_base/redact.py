"""What must never be shown: URL credentials, sensitive query values and registered secrets.

``redact_url()`` is the one function every URL goes through before a log line, an error, a span,
``status()`` or ``/health`` shows it. ``scrub()`` takes registered secret values (OTLP header
values, the endpoint password) out of any text pywats_otel keeps, such as an export error.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import unquote_plus

from opentelemetry.util.http import PARAMS_TO_REDACT, remove_url_credentials

__all__ = [
    "SENSITIVE_QUERY_KEYS",
    "may_need_redaction",
    "redact_url",
    "scrub",
    "set_secrets",
]

REDACTED = "REDACTED"

#: Query keys whose values are never shown: ours and the semantic conventions' list.
SENSITIVE_QUERY_KEYS = frozenset(
    key.lower()
    for key in (
        "token",
        "api_key",
        "apikey",
        "password",
        "secret",
        "sig",
        "signature",
        *PARAMS_TO_REDACT,
    )
)
# access_token, client_secret, x-goog-signature and the like.
_SENSITIVE_SUFFIXES = ("_token", "-token", "_secret", "-secret", "_password", "-signature")


def _is_sensitive(key: str) -> bool:
    lowered = unquote_plus(key).lower()
    return lowered in SENSITIVE_QUERY_KEYS or lowered.endswith(_SENSITIVE_SUFFIXES)


# A quick test run on every request's query: most have no sensitive key, and only those that
# may have one (or are percent-encoded, which the test cannot read) are redacted key by key.
_MAYBE_SENSITIVE = re.compile(
    rb"%|(?:token|secret|password|sig|apikey|api_key|"
    + "|".join(re.escape(key.lower()) for key in PARAMS_TO_REDACT).encode()
    + rb")[^&=]*=",
    re.IGNORECASE,
)


def may_need_redaction(query: bytes) -> bool:
    """False when a raw query surely holds no sensitive key (the common case, tested fast)."""
    return bool(query) and _MAYBE_SENSITIVE.search(query) is not None


def redact_url(url: str) -> str:
    """``url`` without credentials (``REDACTED:REDACTED@``, as semconv says) and with the
    values of sensitive query keys replaced by ``REDACTED``; other characters unchanged."""
    url = remove_url_credentials(url)
    base, question, rest = url.partition("?")
    if not question:
        return url
    query, hash_sign, fragment = rest.partition("#")
    pieces = query.split("&")
    changed = False
    for index, piece in enumerate(pieces):
        key, equals, _ = piece.partition("=")
        if equals and _is_sensitive(key):
            pieces[index] = f"{key}={REDACTED}"
            changed = True
    if not changed:
        return url
    return f"{base}?{'&'.join(pieces)}{hash_sign}{fragment}"


_ERROR_TEXT_LIMIT = 300
_secrets: tuple[str, ...] = ()


def set_secrets(values: Iterable[str]) -> None:
    """Register values (OTLP header values, passwords) that must never appear in kept text."""
    global _secrets  # noqa: PLW0603 - one process-wide list, set at start-up
    _secrets = tuple(sorted({v for v in values if v}, key=len, reverse=True))


def scrub(text: str) -> str:
    """``text`` with every registered secret replaced by ``***`` and cut to a sane length."""
    for secret in _secrets:
        text = text.replace(secret, "***")
    if len(text) > _ERROR_TEXT_LIMIT:
        text = text[: _ERROR_TEXT_LIMIT - 3] + "..."
    return text
