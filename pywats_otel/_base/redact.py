"""What must never be shown: URL credentials, sensitive query values and registered secrets.

``redact_url()`` is the one function every URL goes through before a setting, a log line, an
error, a span, ``status()`` or ``/health`` shows it; ``redact_text()`` applies it to every URL
inside a text (an exception's message, an exported log record). ``scrub()`` does that and takes
registered secret values (OTLP header values, the endpoint password, the secrets of configured
URLs) out of any text pywats_otel keeps, such as an export error.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable
from urllib.parse import unquote, unquote_plus, urlsplit, urlunsplit

__all__ = [
    "may_need_redaction",
    "printable",
    "redact_text",
    "redact_url",
    "register_secrets",
    "scrub",
    "sensitive_query_keys",
    "set_secrets",
    "split_credentials",
    "url_secrets",
]

REDACTED = "REDACTED"
_CREDENTIALS = f"{REDACTED}:{REDACTED}@"

_OUR_KEYS = (
    "token",
    "access_token",
    "api_key",
    "apikey",
    "password",
    "secret",
    "key",
    "sig",
    "signature",
)
# client_secret, refresh_token, x-api-key, x-goog-signature and the like.
_SENSITIVE_SUFFIXES = (
    "_token",
    "-token",
    "_secret",
    "-secret",
    "_password",
    "-password",
    "_key",
    "-key",
    "-signature",
)
# The userinfo of a URL's authority (up to its last "@"), with or without "scheme://": the
# fallback for what urllib cannot parse (a bad port, a broken IPv6 address, no scheme).
_USERINFO = re.compile(r"^(?P<head>(?:[A-Za-z][A-Za-z0-9+.\-]*:)?//)?[^/?#]*@")
# A URL inside free text: up to a blank, a quote or an angle bracket.
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^\s\"'<>]+")


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
        rb"%|(?:token|secret|password|sig|key|"
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


def _without_credentials(url: str) -> str:
    url = _rules()[2](url)  # the semantic conventions' helper, for every URL it can parse
    if "@" in url:
        found = _USERINFO.match(url)
        if found is not None:
            url = f"{found['head'] or ''}{_CREDENTIALS}{url[found.end() :]}"
    return url


def redact_url(url: str) -> str:
    """``url`` without credentials (``REDACTED:REDACTED@``, as semconv says) and with the
    values of sensitive query keys replaced by ``REDACTED``; other characters unchanged.

    Text that is not a valid URL (a bad port, no scheme) loses its userinfo all the same."""
    url = _without_credentials(url)
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


def redact_text(text: str) -> str:
    """``text`` with every URL in it redacted (see :func:`redact_url`)."""
    if "://" not in text:
        return text
    return _URL_IN_TEXT.sub(lambda found: redact_url(found.group(0)), text)


def split_credentials(url: str) -> tuple[str, str | None]:
    """(``url`` without its userinfo, the userinfo percent-decoded) or (``url``, None)."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url, None
    userinfo, _, host = parts.netloc.rpartition("@")
    return urlunsplit(parts._replace(netloc=host)), unquote(userinfo)


def url_secrets(url: str | None) -> list[str]:
    """What :func:`redact_url` hides in ``url``: its password and sensitive query values, as
    written and percent-decoded, for :func:`register_secrets`."""
    if not url:
        return []
    found: list[str] = []
    match = _USERINFO.match(url)
    if match is not None:
        userinfo = url[len(match["head"] or "") : match.end() - 1]
        _, colon, password = userinfo.partition(":")
        if colon:
            found += [password, unquote(password)]
    _, _, query = url.partition("?")
    for piece in query.partition("#")[0].split("&"):
        key, equals, value = piece.partition("=")
        if equals and value and _is_sensitive(key):
            found += [value, unquote_plus(value)]
    return [value for value in dict.fromkeys(found) if value]


_ERROR_TEXT_LIMIT = 300
_secrets: tuple[str, ...] = ()


#: Shorter values cannot be told from ordinary text: scrubbing "a" or "7" would garble every
#: message (they are still never shown as settings).
_MIN_SECRET_LENGTH = 4


def set_secrets(values: Iterable[str]) -> None:
    """Make ``values`` the secrets to scrub, forgetting the others (for tests)."""
    global _secrets  # noqa: PLW0603 - one process-wide list
    kept = {value for value in values if len(value) >= _MIN_SECRET_LENGTH}
    _secrets = tuple(sorted(kept, key=len, reverse=True))


def register_secrets(values: Iterable[str]) -> None:
    """Add values (OTLP header values, passwords) that must never appear in kept text.

    The settings loader registers every secret it resolves, so whatever loaded them (the
    bootstrap, ``pywats-otel check``) scrubs them; the list only grows.
    """
    set_secrets((*_secrets, *values))


def scrub(text: str, limit: int = _ERROR_TEXT_LIMIT) -> str:
    """``text`` with its URLs redacted, every registered secret replaced by ``***``, and cut
    to ``limit`` characters (at a word boundary, ``...`` marking the cut)."""
    text = redact_text(text)
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
