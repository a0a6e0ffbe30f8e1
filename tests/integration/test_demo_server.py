"""The demo's fake WATS server on 127.0.0.1: answers without Nagle delays, keeps what it got."""

from __future__ import annotations

import socket
from typing import Any

import httpx
import pytest

from pywats_otel._tools.demo import server as demo_server


def test_the_fake_server_answers_uploads_without_waiting_for_delayed_acks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each connection it serves has TCP_NODELAY; kept-alive uploads are all stored."""
    seen: list[int] = []
    original = demo_server.FakeWATSServer._handler_class

    def recording_class(owner: Any, correlation_header: str) -> Any:
        handler = original(owner, correlation_header)
        setup = handler.setup

        def recording_setup(self: Any) -> None:
            setup(self)
            seen.append(self.connection.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))

        handler.setup = recording_setup
        return handler

    monkeypatch.setattr(demo_server.FakeWATSServer, "_handler_class", recording_class)
    server = demo_server.FakeWATSServer()
    try:
        with httpx.Client(base_url=server.url, timeout=5) as client:
            statuses = [
                client.post("/api/reports", json={"id": f"r-{n}", "serial": "SN1"}).status_code
                for n in range(3)
            ]
    finally:
        server.stop()
    assert statuses == [201, 201, 201]
    assert [report.report_id for report in server.reports] == ["r-0", "r-1", "r-2"]
    assert len(seen) == 1  # one kept-alive connection
    assert seen[0] != 0
