"""What must never be shown: URL credentials, sensitive query values and registered secrets.

``redact_url()`` is the one function every URL goes through before a log line, an error, a span,
``status()`` or ``/health`` shows it. ``scrub()`` takes registered secret values (OTLP header
values, the endpoint password) out of any text pywats_otel keeps, such as an export error.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable
from urllib.parse import unquote_plus

__all__ = [
    "may_need_redaction",
    "printable",
    "redact_url",
    "register_secrets",
    "scrub",
    "sensitive_query_keys",
    "set_secrets",
]

REDACTED = "REDACTED"

_OUR_KEYS = ("token", "api_key", "apikey", "password", "secret", "sig", "signature")
# access_token, client_secret, x-goog-signature and the like.
_SENSITIVE_SUFFIXES = ("_token", "-token", "_secret", "-secret", "_password", "-signature")


@functools.cache
def _rules() -> tuple[frozenset[str], re.Pattern[bytes], Callable[[str], str]]:
    """The semantic conventions' list and credential remover, ours added: imported on first
    use, so that ``import pywats_otel`` does not load the contrib HTTP helpers."""
    from opentelemetry.util.http import PARAMS_TO_REDACT, remove_url_credentials

    keys = frozenset(key.lower() for key in (*_OUR_KEYS, *PARAMS_TO_REDACT))
    # A quick test run on every request's query: most have no sensitive key, and only those
    # that may have one (or are percent-encoded, which the test cannot read) are redacted key
    # by key.
    maybe = re.compile(
        rb"%|(?:token|secret|password|sig|apikey|api_key|"
        + "|".join(re.escape(key.lower()) for key in PARAMS_TO_REDACT).encode()
        + rb")[^&=]*=",
        re.IGNORECASE,
    )
    return keys, maybe, remove_url_credentials


def sensitive_query_keys() -> frozenset[str]:
    """Query keys whose values are never shown: ours and the semantic conventions' list."""
    return _rules()[0]


def _is_sensitive(key: str) -> bool:
    lowered = unquote_plus(key).lower()
    return lowered in _rules()[0] or lowered.endswith(_SENSITIVE_SUFFIXES)


def may_need_redaction(query: bytes) -> bool:
    """False when a raw query surely holds no sensitive key (the common case, tested fast)."""
    return bool(query) and _rules()[1].search(query) is not None


def redact_url(url: str) -> str:
    """``url`` without credentials (``REDACTED:REDACTED@``, as semconv says) and with the
    values of sensitive query keys replaced by ``REDACTED``; other characters unchanged."""
    url = _rules()[2](url)
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
    """Make ``values`` the secrets to scrub, forgetting the others (for tests)."""
    global _secrets  # noqa: PLW0603 - one process-wide list
    _secrets = tuple(sorted({v for v in values if v}, key=len, reverse=True))


def register_secrets(values: Iterable[str]) -> None:
    """Add values (OTLP header values, passwords) that must never appear in kept text.

    The settings loader registers every secret it resolves, so whatever loaded them (the
    bootstrap, ``pywats-otel check``) scrubs them; the list only grows.
    """
    set_secrets((*_secrets, *values))


def scrub(text: str, limit: int = _ERROR_TEXT_LIMIT) -> str:
    """``text`` with every registered secret replaced by ``***`` and cut to ``limit``
    characters (at a word boundary, ``...`` marking the cut)."""
    for secret in _secrets:
        text = text.replace(secret, "***")
    if len(text) > limit:
        cut = text[: limit - 3]
        space = cut.rfind(" ")
        text = (cut[:space] if space > limit // 2 else cut) + "..."
    return text


# Control characters (C0 but tab, DEL, C1): a terminal would act on them, a log line
# would carry them raw (an HTTP/2 frame read as an HTTP/1.1 status line, say).
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """``text`` without control characters: line breaks become spaces, the others go."""
    text = text.replace("\r\n", " ").replace("\n", " ").replace("\r", " ")
    return _CONTROL.sub("", text)
