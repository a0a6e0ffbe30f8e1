"""The endpoint under abuse: clients that reset or trickle, a burst of connections, too many
connections. Probes and scrapes keep answering; nothing reaches stderr."""

from __future__ import annotations

import logging
import os
import shutil
import socket
import struct
import subprocess
import sys
import textwrap
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from pywats_otel import init_telemetry
from pywats_otel._pipeline.telemetry import Telemetry


@pytest.fixture
def station() -> Telemetry:
    return init_telemetry(prometheus_host="127.0.0.1", prometheus_port=0, instrumentations="none")


def _port(telemetry: Telemetry) -> int:
    assert telemetry.endpoint is not None
    assert telemetry.endpoint.serving
    return telemetry.endpoint.port


def _get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=30) as response:
        return int(response.status), bytes(response.read())


def _read_all(conn: socket.socket, timeout_s: float = 30.0) -> bytes:
    conn.settimeout(timeout_s)
    data = b""
    while True:
        chunk = conn.recv(65536)
        if not chunk:
            return data
        data += chunk


_STATION = textwrap.dedent(
    """
    import logging, sys
    logging.basicConfig(level=logging.DEBUG, stream=sys.stdout, format="%(name)s %(message)s")
    from pywats_otel import init_telemetry, converter
    telemetry = init_telemetry(prometheus_host="127.0.0.1", prometheus_port=0,
                               instrumentations="none")
    instruments = converter._instruments.get()
    for index in range(3000):  # a /metrics answer larger than the socket buffers
        instruments.executions.add(1, {"pywats.converter.name": f"c{index}",
                                       "pywats.converter.status": "success"})
    print("PORT", telemetry.endpoint.port, flush=True)
    sys.stdin.readline()
    """
)


def _reset(conn: socket.socket) -> None:
    """Close with RST instead of FIN."""
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


def test_clients_that_reset_or_leave_early_print_no_traceback() -> None:
    """Resets before, during and after a request, and a scrape abandoned mid-answer: no line
    on stderr, and at most one DEBUG line per kind (rate-limited); the station still answers."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "PYWATS_OTEL_"))}
    process = subprocess.Popen(
        [sys.executable, "-c", _STATION],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        assert process.stdin is not None
        line = process.stdout.readline()
        while not line.startswith("PORT"):
            line = process.stdout.readline()
        port = int(line.split()[1])
        for _ in range(5):
            # Each client waits a moment before its reset, so that the server is reading.
            conn = socket.create_connection(("127.0.0.1", port))
            time.sleep(0.1)
            _reset(conn)
            conn = socket.create_connection(("127.0.0.1", port))
            conn.sendall(b"GET /metrics HTTP/1.1\r\nHost: s")
            time.sleep(0.1)
            _reset(conn)
            conn = socket.create_connection(("127.0.0.1", port))
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            conn.sendall(b"GET /metrics HTTP/1.1\r\nHost: s\r\n\r\n")
            conn.recv(100)  # the answer has begun; leave in the middle of it
            _reset(conn)
        status, _ = _get(f"http://127.0.0.1:{port}/health/live")
        time.sleep(0.5)  # the station's handling of the resets is over before it exits
        process.stdin.write("\n")
        process.stdin.flush()
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert status == 200
    assert err == ""
    gone = [line for line in out.splitlines() if "pywats_otel endpoint:" in line]
    assert gone, out
    assert all("Traceback" not in line for line in out.splitlines()), out
    kinds = [line.split(":", 2)[1] for line in gone]
    assert len(kinds) == len(set(kinds)), gone


def test_the_listen_backlog_is_the_systems(station: Telemetry) -> None:
    """socketserver listened with a backlog of 5: a burst of probes waited for SYN retries."""
    ss = shutil.which("ss")
    if ss is None:
        message = "the ss command (iproute2) is not installed"
        if os.environ.get("PYWATS_TEST_REQUIRE_PROMETHEUS") == "1":
            pytest.fail(f"{message}; CI requires it")
        pytest.skip(message)
    port = _port(station)
    listing = subprocess.run(
        [ss, "-ltnH", f"sport = :{port}"], capture_output=True, text=True, check=True
    ).stdout.split()
    # LISTEN <queued> <backlog> <address:port> ...
    assert listing[0] == "LISTEN"
    assert int(listing[2]) >= 128


@pytest.fixture
def slow_clients(station: Telemetry) -> Iterator[list[socket.socket]]:
    """200 connections with a request begun and not finished."""
    port = _port(station)
    clients = []
    for index in range(200):
        conn = socket.create_connection(("127.0.0.1", port), timeout=30)
        conn.sendall(f"GET /metrics HTTP/1.1\r\nX-Slow: {index}\r\n".encode())
        clients.append(conn)
    yield clients
    for conn in clients:
        conn.close()


def test_200_slow_clients_take_no_threads_and_leave_probes_and_scrapes_answering(
    station: Telemetry, slow_clients: list[socket.socket]
) -> None:
    """Each slow client held a thread of its own before; now the threads stay few."""
    from pywats_otel._pipeline import http_server

    endpoint = station.endpoint
    assert endpoint is not None
    port = _port(station)
    deadline = time.monotonic() + 30
    while (
        getattr(endpoint, "open_connections", 0) < len(slow_clients) and time.monotonic() < deadline
    ):
        time.sleep(0.05)
    assert _get(f"http://127.0.0.1:{port}/health/live") == (200, b'{"status": "ok"}')
    status, body = _get(f"http://127.0.0.1:{port}/metrics")
    assert status == 200
    assert b"target_info" in body
    assert _get(f"http://127.0.0.1:{port}/health/ready")[0] == 200
    # The endpoint's loop and at most its workers, whatever the number of connections.
    endpoint_threads = [t for t in threading.enumerate() if t.name.startswith("pywats-otel-endp")]
    assert len(endpoint_threads) <= 1 + http_server.WORKERS


def test_a_request_that_trickles_in_is_cut_at_its_deadline(
    station: Telemetry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A header line every 0.2 s was never dropped (the timeout was per read): now the request
    head has a total deadline (10 s; 1 s here) and the client gets 408 and a closed socket."""
    from pywats_otel._pipeline import http_server

    monkeypatch.setattr(http_server, "HEAD_TIMEOUT_S", 1.0)
    conn = socket.create_connection(("127.0.0.1", _port(station)), timeout=30)
    conn.sendall(b"GET /metrics HTTP/1.1\r\n")
    sent = 0
    conn.settimeout(0.2)
    answer = b""
    try:
        while sent < 100:  # 20 s of header lines, unless the server ends it
            conn.sendall(f"X-Line-{sent}: slow\r\n".encode())
            sent += 1
            try:
                chunk = conn.recv(4096)
            except TimeoutError:
                continue
            answer += chunk
            if not chunk or answer.endswith(b"request timeout\n"):
                break
    except (BrokenPipeError, ConnectionResetError):
        pass
    finally:
        conn.close()
    assert answer.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
    assert sent < 100


def test_connections_beyond_the_cap_are_answered_503(
    station: Telemetry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Beyond MAX_CONNECTIONS (512; 20 here) open connections a new one gets 503 at once."""
    from pywats_otel._pipeline import http_server

    monkeypatch.setattr(http_server, "MAX_CONNECTIONS", 20)
    port = _port(station)
    held = [socket.create_connection(("127.0.0.1", port), timeout=30) for _ in range(20)]
    endpoint = station.endpoint
    assert endpoint is not None
    deadline = time.monotonic() + 30
    while endpoint.open_connections < 20 and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        extra = socket.create_connection(("127.0.0.1", port), timeout=30)
        answer = _read_all(extra)
        extra.close()
    finally:
        for conn in held:
            conn.close()
    assert answer.startswith(b"HTTP/1.1 503 Service Unavailable\r\n")
    assert answer.endswith(b"too many connections\n")
    # Once they are gone, the endpoint answers again.
    deadline = time.monotonic() + 30
    while endpoint.open_connections > 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _get(f"http://127.0.0.1:{port}/health/live")[0] == 200


def test_a_request_while_the_workers_are_gone_is_answered_503_without_a_warning(
    station: Telemetry, caplog: pytest.LogCaptureFixture
) -> None:
    """At interpreter exit concurrent.futures refuses new work before the atexit shutdown stops
    the endpoint: a scrape then gets 503, and no traceback reaches the log."""
    assert station.endpoint is not None
    server = station.endpoint._server
    assert server is not None
    server._workers.shutdown(wait=True)
    with caplog.at_level(logging.DEBUG, logger="pywats_otel"):
        try:
            _get(f"{station.endpoint.url}/metrics")
        except urllib.error.HTTPError as error:
            status, body = error.code, error.read()
        else:  # pragma: no cover - the assertion below reports it
            status, body = 200, b""
        live, _ = _get(f"{station.endpoint.url}/health/live")  # answered on the loop itself
    assert (status, body) == (503, b"the endpoint is stopping\n")
    assert live == 200
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert any("arrived while the endpoint stops" in r.getMessage() for r in caplog.records)


def _answer_on(conn: socket.socket, path: str = "/health/live") -> bytes:
    """One request on a kept-alive connection and its whole answer (head and body)."""
    conn.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    conn.settimeout(30)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(head.lower().split(b"content-length: ", 1)[1].split(b"\r\n", 1)[0])
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


def test_a_scraper_keeps_its_connection_between_scrapes(
    station: Telemetry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The next request may come later than the head deadline (10 s; 0.5 s here) on a kept-alive
    connection: Prometheus scrapes every 15 s on one connection (with TLS, one handshake), not
    one a scrape. The answer says how long the endpoint keeps it."""
    from pywats_otel._pipeline import http_server

    monkeypatch.setattr(http_server, "HEAD_TIMEOUT_S", 0.5)
    endpoint = station.endpoint
    assert endpoint is not None
    conn = socket.create_connection(("127.0.0.1", _port(station)), timeout=30)
    try:
        first = _answer_on(conn, "/metrics")
        time.sleep(1.5)
        second = _answer_on(conn, "/metrics")
        assert endpoint.open_connections == 1
    finally:
        conn.close()
    for answer in (first, second):
        assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
        assert b"\r\nKeep-Alive: timeout=150\r\n" in answer
        assert b"\ntarget_info{" in answer


def test_an_idle_connection_is_closed_after_the_keep_alive_time(
    station: Telemetry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """KEEP_ALIVE_S (150 s; 0.5 s here) after its last answer an idle connection is closed
    quietly: no 408, nothing sent."""
    from pywats_otel._pipeline import http_server

    monkeypatch.setattr(http_server, "KEEP_ALIVE_S", 0.5)
    conn = socket.create_connection(("127.0.0.1", _port(station)), timeout=30)
    try:
        answer = _answer_on(conn)
        assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
        assert b"\r\nKeep-Alive: timeout=" in answer
        started = time.monotonic()
        assert _read_all(conn) == b""  # closed by the endpoint, with nothing more said
        assert time.monotonic() - started < 20
    finally:
        conn.close()


def test_at_the_cap_the_connection_idle_longest_makes_room(
    station: Telemetry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With MAX_CONNECTIONS (20 here) open and some of them idle between requests, a newcomer
    is served and the connection idle longest is closed; the others stay usable."""
    from pywats_otel._pipeline import http_server

    monkeypatch.setattr(http_server, "MAX_CONNECTIONS", 20)
    endpoint = station.endpoint
    assert endpoint is not None
    port = _port(station)
    idle = []
    for _ in range(20):
        conn = socket.create_connection(("127.0.0.1", port), timeout=30)
        assert _answer_on(conn).startswith(b"HTTP/1.1 200 OK\r\n")
        idle.append(conn)
    try:
        assert endpoint.open_connections == 20
        newcomer = socket.create_connection(("127.0.0.1", port), timeout=30)
        try:
            assert _answer_on(newcomer).startswith(b"HTTP/1.1 200 OK\r\n")
        finally:
            newcomer.close()
        assert _read_all(idle[0]) == b""  # the oldest idle one was closed
        assert _answer_on(idle[1]).startswith(b"HTTP/1.1 200 OK\r\n")
        assert _answer_on(idle[-1]).startswith(b"HTTP/1.1 200 OK\r\n")
        assert endpoint._server is not None
        assert endpoint._server.evicted_connections == 1
        assert endpoint._server.refused_connections == 0
    finally:
        for conn in idle:
            conn.close()
