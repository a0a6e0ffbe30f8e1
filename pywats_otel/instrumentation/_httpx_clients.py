"""What both httpx instrumentations (``_httpx_own``, ``_httpx_stock``) need to instrument one
client and undo it exactly: which transports httpx's global instrumentation already covers, and
snapshots of the attributes set on objects."""

from __future__ import annotations

from typing import Any

import httpx

__all__ = ["Snapshot", "attribute_state", "covered_by_global", "restore", "transports_of"]

#: (object, attribute, was it in the object's __dict__, its value there) for each attribute an
#: instrumentation may set, so that undoing restores the objects exactly.
Snapshot = list[tuple[Any, str, bool, Any]]


def transports_of(client: httpx.Client | httpx.AsyncClient) -> list[Any]:
    """The client's own transport and its mounts' (None for a mount that blocks its URLs)."""
    return [client._transport, *client._mounts.values()]


def covered_by_global(transport: object) -> bool:
    """True when httpx's instrumented transport method is what this transport runs."""
    if transport is None:
        return True
    for base, method in (
        (httpx.HTTPTransport, "handle_request"),
        (httpx.AsyncHTTPTransport, "handle_async_request"),
    ):
        if isinstance(transport, base):
            if method in vars(transport):
                return False
            owner = next(cls for cls in type(transport).__mro__ if method in vars(cls))
            return owner is base
    return False


def attribute_state(target: Any, attribute: str) -> tuple[Any, str, bool, Any]:
    namespace = getattr(target, "__dict__", {})
    return (target, attribute, attribute in namespace, namespace.get(attribute))


def restore(snapshot: Snapshot) -> None:
    for target, attribute, present, value in snapshot:
        namespace = getattr(target, "__dict__", None)
        if namespace is None:
            continue
        if present:
            namespace[attribute] = value
        else:
            namespace.pop(attribute, None)
