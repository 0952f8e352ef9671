"""The exporter's HTTP face: /metrics, a landing page that says what this is, and a health check."""

from __future__ import annotations

import html
import socketserver
import threading
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CONTENT_TYPE_LATEST

from exporter import __version__
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


def make_app(metrics: RenderedMetrics, table: PricingTable, telemetry_path: str) -> Callable[..., Iterable[bytes]]:
    page = landing_page(table, telemetry_path)

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "/")
        if path == telemetry_path:
            body = metrics.render()
            start_response("200 OK", [("Content-Type", CONTENT_TYPE_LATEST), ("Content-Length", str(len(body)))])
            return [body]
        if path == "/":
            start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
            return [page]
        if path == "/-/healthy":
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"OK\n"]
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found; see / for what is served\n"]

    return app


class _ThreadingServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Per-request lines would drown the logs at one scrape every few seconds."""


def serve(host: str, port: int, app: Callable[..., Iterable[bytes]]) -> tuple[WSGIServer, threading.Thread]:
    server = make_server(host, port, app, server_class=_ThreadingServer, handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name="http", daemon=True)
    thread.start()
    return server, thread
