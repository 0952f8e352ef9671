"""The exporter's HTTP face: /metrics, a landing page that says what this is, a health check, and /actions."""

from __future__ import annotations

import contextlib
import errno
import hmac
import html
import io
import json
import resource
import selectors
import socket
import threading
import time
import typing
import urllib.parse
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CONTENT_TYPE_LATEST

from costwarden.actions import RUN_REQUEST_SHAPE, RunRequest
from exporter import __version__
from exporter.actions.service import ActionService
from exporter.config import PricingTable
from exporter.metrics import RenderedMetrics

StartResponse = Callable[..., Any]


def landing_page(table: PricingTable, telemetry_path: str) -> bytes:
    rows = [
        ("provider", table.provider),
        ("plan", table.plan),
        ("region", table.region or "-"),
        ("currency", table.currency),
        ("plan price per hour", f"{table.plan_price.hourly:g}"),
        ("monthly cap", "none" if table.plan_price.monthly is None else f"{table.plan_price.monthly:g}"),
        ("monthly budget", "none" if table.budget.monthly is None else f"{table.budget.monthly:g}"),
    ]
    cells = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in rows)
    path = html.escape(telemetry_path)
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>costwarden exporter</title></head><body>"
        f"<h1>costwarden exporter {html.escape(__version__)}</h1>"
        "<p>Turns what this host and its containers use into money, as Prometheus metrics.</p>"
        f"<p><a href='{path}'>Metrics</a> &middot; <a href='/-/healthy'>Health</a></p>"
        f"<table>{cells}</table></body></html>"
    ).encode()


MAX_ACTION_BODY = 64 * 1024


def _json(start_response: StartResponse, status: str, body: dict[str, Any], **headers: str) -> Iterable[bytes]:
    data = json.dumps(body, ensure_ascii=False).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data))),
                            *headers.items()])  # fmt: skip
    return [data]


def actions_endpoint(
    service: ActionService | None, token: str | None, environ: dict[str, Any], start_response: StartResponse
) -> Iterable[bytes]:
    """`GET /actions` (the table) and `POST /actions/run` (one action), behind a bearer token."""
    if service is None or not token:
        return _json(start_response, "404 Not Found", {"error": "actions_off", "detail": "start the exporter with "
                     "COSTWARDEN_ACTIONS_TOKEN (or _FILE) set to serve diagnostics and remediation"})  # fmt: skip
    scheme, _, given = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.encode(), token.encode()):
        return _json(start_response, "401 Unauthorized", {"error": "unauthorized"},
                     **{"WWW-Authenticate": 'Bearer realm="costwarden-actions"'})  # fmt: skip
    path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD", "GET")
    if path == "/actions" and method == "GET":
        # With `alertname` (even empty) only what answers that alert; the whole table only when it is not asked.
        query = dict(urllib.parse.parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True))
        return _json(start_response, "200 OK", service.catalog(query if "alertname" in query else None))
    if path != "/actions/run" or method != "POST":
        return _json(start_response, "405 Method Not Allowed", {"error": "GET /actions or POST /actions/run"})
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = -1
    if not 0 < length <= MAX_ACTION_BODY:
        return _json(start_response, "400 Bad Request", {"error": "bad_request", "detail": "a JSON body up to 64 KiB"})
    try:
        request = RunRequest.parse(json.loads(environ["wsgi.input"].read(length)))
    except (ValueError, RecursionError):
        return _json(start_response, "400 Bad Request", {"error": "bad_request", "detail": RUN_REQUEST_SHAPE})
    outcome = service.run(request.action, request.labels, request.severity, request.dry_run, request.confirmed_by,
                          request.language)  # fmt: skip
    if outcome is None:
        return _json(start_response, "404 Not Found", {"error": "unknown_action", "detail": request.action[:80]})
    return _json(start_response, "200 OK", outcome.to_json())


def make_app(
    metrics: RenderedMetrics, table: PricingTable, telemetry_path: str, actions: ActionService | None = None,
    actions_token: str | None = None, health: Callable[[], str | None] = lambda: None,
) -> Callable[..., Iterable[bytes]]:  # fmt: skip
    """`health` says what is wrong (the sampler stopped completing beats), or None."""
    page = landing_page(table, telemetry_path)

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "/")
        if path == "/actions" or path.startswith("/actions/"):
            return actions_endpoint(actions, actions_token, environ, start_response)
        if path == telemetry_path:
            body = metrics.render()
            start_response("200 OK", [("Content-Type", CONTENT_TYPE_LATEST), ("Content-Length", str(len(body)))])
            return [body]
        if path == "/":
            start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
            return [page]
        if path == "/-/healthy":
            problem = health()
            start_response("200 OK" if problem is None else "503 Service Unavailable",
                           [("Content-Type", "text/plain; charset=utf-8")])  # fmt: skip
            return [b"OK\n" if problem is None else f"unhealthy: {problem}\n".encode()]
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found; see / for what is served\n"]

    return app


class _Replay(io.RawIOBase):
    """The request head the server already read, then the rest of the socket."""

    def __init__(self, head: bytes, rest: io.RawIOBase) -> None:
        self._head = head
        self._rest = rest

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self._rest.close()
        super().close()

    def readinto(self, buffer: Any) -> int:
        if self._head:
            n = min(len(buffer), len(self._head))
            buffer[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        return self._rest.readinto(buffer) or 0


class _QuietHandler(WSGIRequestHandler):
    timeout = 10.0
    """Seconds each read of a request body may wait: a slow client loses its connection, not a worker for long."""

    def setup(self) -> None:
        super().setup()
        head = typing.cast(BoundedServer, self.server).take_head(self.connection)
        self.rfile = io.BufferedReader(_Replay(head, self.connection.makefile("rb", buffering=0)))

    def log_message(self, format: str, *args: Any) -> None:
        """Per-request lines would drown the logs at one scrape every few seconds."""


class BoundedServer(WSGIServer):
    """A WSGI server that holds waiting connections without a thread each.

    One thread waits on every open connection with a selector and reads each request's head itself; a connection
    goes to the small pool of workers only once its head is complete. Thousands of idle or half-sent (slowloris)
    connections cost a file descriptor and a buffer each, not a thread, and a scrape never waits behind them. A
    connection that has not sent its head within `idle_seconds` is closed, and the oldest beyond `max_idle`.
    """

    request_queue_size = 1024  # the listen backlog (socketserver's default of 5 refuses bursts)
    workers = 4
    max_idle = 2048
    """At most this many waiting connections, and never more than half the process' file descriptor limit."""
    idle_seconds = 30.0
    max_head = 8 * 1024
    """A request head (request line and headers) longer than this is answered 431 by the selector thread."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="http")
        self._idle: dict[socket.socket, tuple[Any, float]] = {}
        self._heads: dict[socket.socket, bytes] = {}
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        self.max_idle = min(self.max_idle, max(16, soft // 2)) if soft != resource.RLIM_INFINITY else self.max_idle
        self._stop = threading.Event()
        self._stopped = threading.Event()

    def serve_forever(self, poll_interval: float = 0.5) -> None:
        self.socket.setblocking(False)
        with selectors.DefaultSelector() as sel:
            sel.register(self.socket, selectors.EVENT_READ)
            try:
                while not self._stop.is_set():
                    for key, _ in sel.select(poll_interval):
                        if key.fileobj is self.socket:
                            self._accept(sel)
                        else:
                            self._read_head(sel, typing.cast(socket.socket, key.fileobj))
                    self._expire(sel)
            finally:
                for conn in list(self._idle):
                    self._drop(sel, conn)
                self._stopped.set()

    def _accept(self, sel: selectors.BaseSelector) -> None:
        for _ in range(64):  # a burst is taken in one go, up to a bound so the loop stays responsive
            try:
                conn, address = self.socket.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno in (errno.EMFILE, errno.ENFILE) and self._idle:
                    self._drop(sel, next(iter(self._idle)))  # the oldest waiting connection makes room, or we spin
                return
            conn.setblocking(False)
            self._idle[conn] = (address, time.monotonic())
            sel.register(conn, selectors.EVENT_READ)

    def _read_head(self, sel: selectors.BaseSelector, conn: socket.socket) -> None:
        try:
            data = conn.recv(self.max_head)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:  # the client hung up (or reset) before its request was complete
            self._drop(sel, conn)
            return
        head = self._heads.get(conn, b"") + data
        self._heads[conn] = head
        if b"\r\n\r\n" not in head and len(head) >= self.max_head:
            with contextlib.suppress(OSError):
                conn.send(b"HTTP/1.0 431 Request Header Fields Too Large\r\nContent-Length: 0\r\n\r\n")
            self._drop(sel, conn)
            return
        if b"\r\n\r\n" in head:
            sel.unregister(conn)
            address, _ = self._idle.pop(conn)
            self._pool.submit(self._handle, conn, address)

    def take_head(self, conn: socket.socket) -> bytes:
        """What `_read_head` read of this connection's request, handed to its handler once."""
        return self._heads.pop(conn, b"")

    def _drop(self, sel: selectors.BaseSelector, conn: socket.socket) -> None:
        sel.unregister(conn)
        self._idle.pop(conn, None)
        self._heads.pop(conn, None)
        conn.close()

    def _expire(self, sel: selectors.BaseSelector) -> None:
        now = time.monotonic()
        over = len(self._idle) - self.max_idle
        for conn, (_, since) in list(self._idle.items()):  # oldest first (insertion order)
            if over <= 0 and now - since < self.idle_seconds:
                break
            over -= 1
            self._drop(sel, conn)

    def _handle(self, conn: socket.socket, address: Any) -> None:
        try:
            conn.setblocking(True)
            self.finish_request(conn, address)
        except Exception:
            self.handle_error(conn, address)
        finally:
            self.shutdown_request(conn)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up or times out mid-request is routine, not a traceback on stderr."""

    def shutdown(self) -> None:
        self._stop.set()
        self._stopped.wait(5)
        self._pool.shutdown(wait=False, cancel_futures=True)


def serve(host: str, port: int, app: Callable[..., Iterable[bytes]]) -> tuple[WSGIServer, threading.Thread]:
    server = make_server(host, port, app, server_class=BoundedServer, handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name="http", daemon=True)
    thread.start()
    return server, thread
