"""The exporter's HTTP face: /metrics, a landing page that says what this is, a health check, and /actions."""

from __future__ import annotations

import hmac
import html
import json
import selectors
import socket
import threading
import time
import typing
import urllib.parse
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CONTENT_TYPE_LATEST

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
        query = dict(urllib.parse.parse_qsl(environ.get("QUERY_STRING", "")))
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
        body = json.loads(environ["wsgi.input"].read(length))
        name, labels = body["action"], body.get("labels", {})
        severity, dry_run = body.get("severity", ""), body.get("dry_run", False)
        if not (isinstance(name, str) and isinstance(labels, dict) and isinstance(severity, str)
                and isinstance(dry_run, bool) and all(isinstance(v, str) for v in labels.values())):  # fmt: skip
            raise TypeError
    except (ValueError, KeyError, TypeError, RecursionError):
        detail = 'expected {"action": name, "labels": {str: str}, "severity": str, "dry_run": bool}'
        return _json(start_response, "400 Bad Request", {"error": "bad_request", "detail": detail})
    outcome = service.run(name, labels, severity, dry_run)
    if outcome is None:
        return _json(start_response, "404 Not Found", {"error": "unknown_action", "detail": name[:80]})
    return _json(start_response, "200 OK", asdict(outcome))


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


class _QuietHandler(WSGIRequestHandler):
    timeout = 10.0
    """Seconds a connection may take to send its request once it started: a slow client loses its connection,
    not a worker."""

    def log_message(self, format: str, *args: Any) -> None:
        """Per-request lines would drown the logs at one scrape every few seconds."""


class BoundedServer(WSGIServer):
    """A WSGI server that holds idle connections without a thread each.

    One thread waits on every open connection with a selector and hands a connection to a small pool only once its
    request starts to arrive. Thousands of idle or half-open connections cost a file descriptor each, not a thread
    and its stack, and a scrape never waits behind them; the oldest idle ones are closed beyond `max_idle`, and any
    idle for `idle_seconds`.
    """

    request_queue_size = 1024  # the listen backlog (socketserver's default of 5 refuses bursts)
    workers = 4
    max_idle = 2048
    idle_seconds = 30.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="http")
        self._idle: dict[socket.socket, tuple[Any, float]] = {}
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
                            conn = typing.cast(socket.socket, key.fileobj)
                            sel.unregister(conn)
                            address, _ = self._idle.pop(conn)
                            self._pool.submit(self._handle, conn, address)
                    self._expire(sel)
            finally:
                for conn in list(self._idle):
                    sel.unregister(conn)
                    conn.close()
                self._idle.clear()
                self._stopped.set()

    def _accept(self, sel: selectors.BaseSelector) -> None:
        for _ in range(64):  # a burst is taken in one go, up to a bound so the loop stays responsive
            try:
                conn, address = self.socket.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # out of file descriptors, or the client reset: the listen queue keeps the rest
                return
            self._idle[conn] = (address, time.monotonic())
            sel.register(conn, selectors.EVENT_READ)

    def _expire(self, sel: selectors.BaseSelector) -> None:
        now = time.monotonic()
        over = len(self._idle) - self.max_idle
        for conn, (_, since) in list(self._idle.items()):  # oldest first (insertion order)
            if over <= 0 and now - since < self.idle_seconds:
                break
            over -= 1
            sel.unregister(conn)
            del self._idle[conn]
            conn.close()

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
