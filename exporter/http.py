"""The exporter's HTTP face: /metrics, a landing page that says what this is, a health check, and /actions."""

from __future__ import annotations

import hmac
import html
import json
import socketserver
import threading
import urllib.parse
from collections.abc import Callable, Iterable
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
    except (ValueError, KeyError, TypeError):
        detail = 'expected {"action": name, "labels": {str: str}, "severity": str, "dry_run": bool}'
        return _json(start_response, "400 Bad Request", {"error": "bad_request", "detail": detail})
    outcome = service.run(name, labels, severity, dry_run)
    if outcome is None:
        return _json(start_response, "404 Not Found", {"error": "unknown_action", "detail": name[:80]})
    return _json(start_response, "200 OK", asdict(outcome))


def make_app(
    metrics: RenderedMetrics, table: PricingTable, telemetry_path: str, actions: ActionService | None = None,
    actions_token: str | None = None,
) -> Callable[..., Iterable[bytes]]:  # fmt: skip
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
