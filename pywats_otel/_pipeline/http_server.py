"""A small HTTP/1.1 server for the endpoint: asyncio in one daemon thread, answers in a few
worker threads, every request under a total deadline.

The stdlib's ThreadingHTTPServer gave every connection a thread of its own, without a cap, and
timed out each read rather than the request: a client sending one header line every few seconds
held its thread for ever, and a few hundred such clients were a few hundred threads. Here a
connection costs a coroutine while its request arrives; only a complete request takes one of
``WORKERS`` threads (rendering /metrics, running health checks), and ``/health/live`` is answered
on the event loop itself, so a liveness probe answers while every worker is busy. A request's
head must arrive within ``HEAD_TIMEOUT_S`` and the whole request, answer included, finish within
``REQUEST_DEADLINE_S``. A kept-alive connection may wait ``KEEP_ALIVE_S`` for its next request
(longer than Prometheus's scrape intervals, so a scraper keeps one connection, and with TLS one
handshake, instead of one per scrape); beyond ``MAX_CONNECTIONS`` open connections the one idle
longest is closed for a newcomer, and with none idle the newcomer is answered 503.
The listen backlog is the system's maximum (socketserver used 5: a burst of probes waited for
SYN retries). Clients that reset or go away are logged at DEBUG, at most once a minute per kind,
never as a traceback on stderr.

Only what the endpoint needs: GET and HEAD, no request bodies of note, keep-alive as HTTP/1.1
says (HTTP/1.0 on request), optional TLS (the handshake with its own timeout).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from email.utils import formatdate
from http import HTTPStatus
from typing import Any

from pywats_otel._base.ratelimit import due

__all__ = [
    "HEAD_TIMEOUT_S",
    "KEEP_ALIVE_S",
    "MAX_CONNECTIONS",
    "REQUEST_DEADLINE_S",
    "WORKERS",
    "Answer",
    "HttpServer",
    "Request",
]

_logger = logging.getLogger("pywats_otel")

#: Seconds from waiting for a request to having its request line and headers.
HEAD_TIMEOUT_S = 10.0
#: Seconds a kept-alive connection may wait for its next request (from the end of the last
#: answer to the first byte of the next request): longer than common scrape intervals (15 s to
#: 2 min), so that Prometheus reuses its connection; Prometheus's own client keeps idle
#: connections 5 minutes. An idle connection costs a coroutine and a socket, and is the first
#: to be closed when the connections reach ``MAX_CONNECTIONS``.
KEEP_ALIVE_S = 150.0
#: Seconds from waiting for a request to having sent its answer.
REQUEST_DEADLINE_S = 30.0
#: Threads that answer complete requests (render /metrics, run health checks).
WORKERS = 8
#: Open connections beyond which the one idle longest is closed for a new one, or, with none
#: idle, the new one is answered 503 and closed.
MAX_CONNECTIONS = 512
#: Seconds a client has to complete the TLS handshake.
HANDSHAKE_TIMEOUT_S = 10.0
_MAX_HEAD_BYTES = 16 * 1024
_MAX_BODY_BYTES = 64 * 1024
_BACKLOG = max(socket.SOMAXCONN, 128)


class Request:
    """One request as the endpoint sees it: method, path (no query), headers (lower-case), and
    the request target as sent (the path with its query)."""

    __slots__ = ("headers", "method", "path", "target")

    def __init__(
        self, method: str, path: str, headers: dict[str, str], target: str | None = None
    ) -> None:
        self.method = method
        self.path = path
        self.headers = headers
        self.target = path if target is None else target


#: (status, content type, body, extra headers)
Answer = tuple[int, str, bytes, dict[str, str]]


class _BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _debug(kind: str, message: str, *args: object) -> None:
    """A client's misbehaviour: DEBUG, at most once a minute per kind."""
    try:
        if _logger.isEnabledFor(logging.DEBUG) and due(("endpoint-client", kind)):
            _logger.debug("pywats_otel endpoint: " + message, *args)
    except Exception:  # noqa: BLE001, S110 - a log line must not break the server
        pass


async def _close(writer: asyncio.StreamWriter) -> None:
    """Close after what was written has gone out (TLS: with its close_notify), else abort."""
    try:
        writer.close()
        await asyncio.wait_for(writer.wait_closed(), 2.0)
    except BaseException:  # noqa: BLE001 - cancelled or failed: the connection goes anyway
        writer.transport.abort()


def tune(sock: socket.socket | None) -> None:
    """Nagle's algorithm off on a connection: headers and body would otherwise wait for the
    client's delayed ACK (40 ms on Linux) on a kept-alive connection."""
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class HttpServer:
    """Serves ``answer(request)`` (run in a worker) and ``inline(request)`` (run on the loop,
    for answers that need no work; None passes the request on to ``answer``)."""

    def __init__(
        self,
        listener: socket.socket,
        answer: Callable[[Request], Answer],
        inline: Callable[[Request], Answer | None],
        tls: ssl.SSLContext | None = None,
        server_name: str = "pywats-otel",
    ) -> None:
        self._listener = listener
        self._answer = answer
        self._inline = inline
        self._tls = tls
        self._server_name = server_name
        self._loop = asyncio.new_event_loop()
        # The endpoint's own loop, not the program's: in Python's development mode
        # (PYTHONDEVMODE, -X dev) asyncio's debug mode would log a traceback for every client
        # that resets its connection, which is the client's business (DEBUG lines of ours).
        self._loop.set_debug(False)
        self._loop.set_exception_handler(self._loop_error)
        self._workers = ThreadPoolExecutor(WORKERS, thread_name_prefix="pywats-otel-endpoint")
        self._server: asyncio.AbstractServer | None = None
        self._thread: threading.Thread | None = None
        self._clients: set[asyncio.Task[None]] = set()
        # Kept-alive connections waiting for their next request, the longest waiting first.
        self._idle: dict[asyncio.Task[None], None] = {}
        self.open_connections = 0
        self.refused_connections = 0
        self.evicted_connections = 0

    # -- life cycle

    def start(self) -> None:
        self._server = self._loop.run_until_complete(
            asyncio.start_server(
                self._client,
                sock=self._listener,
                ssl=self._tls,
                ssl_handshake_timeout=HANDSHAKE_TIMEOUT_S if self._tls is not None else None,
                backlog=_BACKLOG,
                limit=_MAX_HEAD_BYTES,
            )
        )
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="pywats-otel-endpoint", daemon=True
        )
        self._thread.start()

    def stop(self, timeout_s: float) -> None:
        """Stop accepting, cancel the connections, end the loop; within ``timeout_s``."""
        if self._thread is None:
            return
        done = threading.Event()

        def close() -> None:
            if self._server is not None:
                self._server.close()
            for task in list(self._clients):
                task.cancel()
            self._loop.call_later(0.05, self._loop.stop)
            done.set()

        with contextlib.suppress(RuntimeError):  # the loop has already gone
            self._loop.call_soon_threadsafe(close)
        done.wait(timeout_s)
        self._thread.join(max(timeout_s, 0.05))
        with contextlib.suppress(OSError):
            self._listener.close()
        self._workers.shutdown(wait=False, cancel_futures=True)
        if not self._thread.is_alive():
            with contextlib.suppress(Exception):
                self._loop.close()
        self._thread = None

    def forget_after_fork(self) -> None:
        """In a forked child: the loop's thread did not come along; close the inherited
        listening socket so that the port is the parent's alone."""
        self._thread = None
        with contextlib.suppress(OSError):
            self._listener.close()

    # -- connections

    def _loop_error(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        # Failed TLS handshakes, resets while accepting: the client's business, not a warning.
        error = context.get("exception")
        _debug(
            f"loop:{type(error).__name__}",
            "%s (%s)",
            context.get("message", "connection error"),
            error,
        )

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._clients.add(task)
        tune(writer.get_extra_info("socket"))
        self.open_connections += 1
        try:
            if self.open_connections > MAX_CONNECTIONS:
                if self._idle:  # the connection idle longest makes room
                    oldest = next(iter(self._idle))
                    del self._idle[oldest]
                    oldest.cancel()
                    self.evicted_connections += 1
                    _debug(
                        "evicted", "more than %d connections: an idle one closed", MAX_CONNECTIONS
                    )
                else:
                    self.refused_connections += 1
                    _debug(
                        "too-many", "more than %d connections: one answered 503", MAX_CONNECTIONS
                    )
                    await self._send(writer, (503, "text/plain", b"too many connections\n", {}))
                    return
            first = b""
            while True:
                answered = await self._one_request(reader, writer, first)
                if not answered:
                    break
                first = await self._next_request(reader, task)
                if not first:
                    break
        except asyncio.CancelledError:
            pass
        except (ConnectionError, TimeoutError, ssl.SSLError, OSError) as exc:
            _debug(
                f"gone:{type(exc).__name__}", "a client went away: %s: %s", type(exc).__name__, exc
            )
        except Exception as exc:  # a bug of ours must not end the server
            if due(("endpoint-bug", type(exc).__name__)):
                _logger.warning("pywats_otel: the endpoint failed on a request", exc_info=True)
        finally:
            self.open_connections -= 1
            if task is not None:
                self._clients.discard(task)
                self._idle.pop(task, None)
            await _close(writer)

    async def _next_request(
        self, reader: asyncio.StreamReader, task: asyncio.Task[None] | None
    ) -> bytes:
        """Wait, idle, up to ``KEEP_ALIVE_S`` for the next request's first byte (b"" when the
        client closes or the wait ends: the connection closes quietly)."""
        if task is not None:
            self._idle[task] = None
        try:
            return await asyncio.wait_for(reader.read(1), KEEP_ALIVE_S)
        except (asyncio.TimeoutError, TimeoutError):
            return b""
        finally:
            if task is not None:
                self._idle.pop(task, None)

    async def _one_request(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, first: bytes = b""
    ) -> bool:
        """Read, answer and send one request (``first``: its first byte, already read); True
        when the connection stays open."""
        loop = self._loop
        started = loop.time()
        deadline = started + REQUEST_DEADLINE_S
        progress: list[bytes] = []
        try:
            request, keep_alive, version = await asyncio.wait_for(
                self._read_head(reader, progress, first), HEAD_TIMEOUT_S
            )
        except (asyncio.TimeoutError, TimeoutError):
            if progress or first:  # a request begun and not finished in time; else a silent client
                _debug("slow", "a request did not arrive within %.0f s: closed", HEAD_TIMEOUT_S)
                await self._send(writer, (408, "text/plain", b"request timeout\n", {}))
            return False
        except asyncio.IncompleteReadError as exc:
            if exc.partial:
                _debug("incomplete", "a client closed in the middle of a request")
            return False
        except asyncio.LimitOverrunError:
            await self._send(writer, (431, "text/plain", b"request head too large\n", {}))
            return False
        except _BadRequest as exc:
            _debug("bad", "a bad request: %s", exc)
            body = f"{exc}\n".encode()
            await self._send(writer, (exc.status, "text/plain", body, {}))
            return False
        if request is None:  # the client closed between requests
            return False
        answer = self._inline(request)
        if answer is None:
            remaining = deadline - loop.time()
            try:
                answer = await asyncio.wait_for(
                    loop.run_in_executor(self._workers, self._safe_answer, request), remaining
                )
            except RuntimeError:
                # The workers are gone: the server is stopping, or the interpreter is exiting
                # (concurrent.futures refuses new work before the atexit shutdown stops us).
                _debug(
                    "stopping", "%s arrived while the endpoint stops: answered 503", request.path
                )
                answer = (503, "text/plain", b"the endpoint is stopping\n", {})
                keep_alive = False
            except (asyncio.TimeoutError, TimeoutError):
                _debug(
                    "deadline",
                    "%s took over %.0f s: answered 503",
                    request.path,
                    REQUEST_DEADLINE_S,
                )
                answer = (503, "text/plain", b"the answer took too long\n", {})
                keep_alive = False
        await self._send(
            writer,
            answer,
            keep_alive=keep_alive,
            head=request.method == "HEAD",
            timeout_s=max(deadline - loop.time(), 0.5),
            version=version,
        )
        return keep_alive

    def _safe_answer(self, request: Request) -> Answer:
        try:
            return self._answer(request)
        except Exception:  # logged once a minute, answered 500
            if due(("endpoint-500", request.path)):
                _logger.warning(
                    "pywats_otel: the endpoint failed to answer %s", request.path, exc_info=True
                )
            return 500, "text/plain", b"internal error\n", {}

    async def _read_head(
        self, reader: asyncio.StreamReader, progress: list[bytes], first: bytes = b""
    ) -> tuple[Request | None, bool, str]:
        line = first if first == b"\n" else first + await reader.readline()
        while line in (b"\r\n", b"\n"):  # RFC 9112: ignore empty lines before a request
            line = await reader.readline()
        if not line:
            return None, False, "HTTP/1.1"
        progress.append(line)
        if not line.endswith(b"\n"):
            raise asyncio.IncompleteReadError(line, None)
        try:
            method, target, version = line.decode("latin-1").rstrip("\r\n").split(" ")
        except ValueError:
            raise _BadRequest(400, "malformed request line") from None
        if not version.startswith("HTTP/1."):
            raise _BadRequest(505, "HTTP/1.x only")
        headers: dict[str, str] = {}
        size = len(line)
        while True:
            line = await reader.readline()
            size += len(line)
            if size > _MAX_HEAD_BYTES:
                raise asyncio.LimitOverrunError("request head too large", size)
            if not line.endswith(b"\n"):
                raise asyncio.IncompleteReadError(line, None)
            if line in (b"\r\n", b"\n"):
                break
            name, colon, value = line.decode("latin-1").partition(":")
            if not colon or not name or name != name.strip():
                raise _BadRequest(400, "malformed header line")
            name = name.lower()
            value = value.strip()
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        if "transfer-encoding" in headers:
            raise _BadRequest(501, "request bodies are not accepted")
        length = headers.get("content-length", "0").strip() or "0"
        if not length.isdigit():
            raise _BadRequest(400, "bad Content-Length")
        if int(length) > _MAX_BODY_BYTES:
            raise _BadRequest(413, "request body too large")
        if int(length):
            await reader.readexactly(int(length))  # read and ignored
        connection = headers.get("connection", "").lower()
        if version == "HTTP/1.0":
            keep_alive = "keep-alive" in connection
        else:
            keep_alive = "close" not in connection
        if method not in ("GET", "HEAD"):
            raise _BadRequest(405, f"method {method} not allowed")
        return Request(method, target.split("?", 1)[0], headers, target), keep_alive, version

    async def _send(
        self,
        writer: asyncio.StreamWriter,
        answer: Answer,
        *,
        keep_alive: bool = False,
        head: bool = False,
        timeout_s: float = 1.0,
        version: str = "HTTP/1.1",
    ) -> None:
        status, content_type, body, extra = answer
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = ""
        lines = [
            f"HTTP/1.1 {status} {reason}",
            f"Server: {self._server_name}",
            f"Date: {formatdate(time.time(), usegmt=True)}",
            f"Content-Type: {content_type}",
            f"Content-Length: {len(body)}",
            *(f"{name}: {value}" for name, value in extra.items()),
        ]
        if status == 405:
            lines.append("Allow: GET, HEAD")
        if not keep_alive:
            lines.append("Connection: close")
        else:
            if version == "HTTP/1.0":
                lines.append("Connection: keep-alive")
            lines.append(f"Keep-Alive: timeout={KEEP_ALIVE_S:.0f}")
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        if not head:
            writer.write(body)
        await asyncio.wait_for(writer.drain(), timeout_s)
