"""The aiohttp application: intake of Alertmanager webhooks into the durable outbox, health, readiness, metrics."""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hmac
import logging
import time
from collections.abc import AsyncIterator

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from costwarden.logs import CONTEXT
from receiver import datadir
from receiver.act import LinkActions
from receiver.buttons import Buttons
from receiver.delivery.deliverer import Deliverer
from receiver.digest.digester import Digester
from receiver.facts.host import ExporterActions
from receiver.heartbeat import Heartbeat
from receiver.intake import BadWebhook, decode_body, dedup_key, parse_webhook
from receiver.metrics import Metrics
from receiver.pipeline import Worker
from receiver.services import open_services
from receiver.settings import Settings
from receiver.store import notifications, retention, sends
from receiver.store.db import OutboxError
from receiver.store.outbox import Outbox

log = logging.getLogger("receiver")

SETTINGS = web.AppKey("SETTINGS", Settings)
OUTBOX = web.AppKey("OUTBOX", Outbox)


METRICS = web.AppKey("METRICS", Metrics)
WORKER = web.AppKey("WORKER", Worker)
LINKS = web.AppKey("LINKS", LinkActions)


class IntakeBudget:
    """Bytes of webhook bodies being read and parsed at once: a parsed body takes several times its size, so forty
    15 MiB bodies at once must wait (503, retried by Alertmanager) rather than take the memory of the host."""

    def __init__(self, limit: int, max_body: int) -> None:
        self._limit = limit
        self._max_body = max_body
        self._used = 0

    @contextlib.asynccontextmanager
    async def reserve(self, length: int | None) -> AsyncIterator[bool]:
        want = min(length if length is not None else self._max_body, self._max_body)
        if self._used and self._used + want > self._limit:  # one body always fits, however large
            yield False
            return
        self._used += want
        try:
            yield True
        finally:
            self._used -= want


BUDGET = web.AppKey("BUDGET", IntakeBudget)


def _same(given: str, expected: str) -> bool:
    """Constant-time comparison that takes any header text (aiohttp keeps undecodable bytes as surrogates)."""
    return hmac.compare_digest(given.encode("utf-8", "surrogateescape"), expected.encode("utf-8"))


def _authorized(settings: Settings, header: str | None) -> bool:
    auth = settings.auth
    if not auth.enabled:
        return True
    if not header:
        return False
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    if auth.bearer_token is not None and scheme.lower() == "bearer":
        return _same(value, auth.bearer_token)
    if auth.basic_username is not None and auth.basic_password is not None and scheme.lower() == "basic":
        try:
            user, sep, password = base64.b64decode(value, validate=True).decode("utf-8").partition(":")
        except (ValueError, binascii.Error):  # non-ASCII text, bad padding, not UTF-8
            return False
        ok_user = _same(user, auth.basic_username)
        ok_password = _same(password, auth.basic_password)
        return bool(sep) and ok_user and ok_password
    return False


def _refuse(metrics: Metrics, status: int, reason: str, detail: str) -> web.Response:
    metrics.rejected.labels(reason).inc()
    log.info("refused webhook (%s): %s", reason, detail)
    return web.json_response({"error": reason, "detail": detail}, status=status)


async def alerts(request: web.Request) -> web.Response:
    """Store first, answer after: 200 only once the notification is committed; 503 lets Alertmanager retry."""
    app = request.app
    metrics = app[METRICS]
    if not _authorized(app[SETTINGS], request.headers.get("Authorization")):
        metrics.rejected.labels("unauthorized").inc()
        return web.json_response(
            {"error": "unauthorized"}, status=401, headers={"WWW-Authenticate": 'Bearer realm="costwarden"'}
        )
    encoding = ", ".join(request.headers.getall("Content-Encoding", [])).strip().lower()
    if encoding not in ("", "identity"):
        # Alertmanager sends plain JSON. A compressed body would be inflated before any size check saw its real
        # size (15 KB of gzip is 16 MB of text), so it is refused unread (RFC 7694: 415 and what is accepted).
        metrics.rejected.labels("unsupported_encoding").inc()
        refused = web.json_response(
            {"error": "unsupported_encoding", "detail": f"Content-Encoding {encoding[:40]!r}: send plain JSON"},
            status=415,
            headers={"Accept-Encoding": "identity"},
        )
        refused.force_close()  # the unread body is never inflated: the connection ends with the answer
        return refused
    async with app[BUDGET].reserve(request.content_length) as admitted:
        if not admitted:
            metrics.rejected.labels("busy").inc()
            return web.json_response({"error": "busy", "detail": "too many large bodies at once; retry later"},
                                     status=503, headers={"Retry-After": "5"})  # fmt: skip
        body = await request.read()  # aiohttp answers 413 itself above intake.max_body_bytes
        try:
            text = decode_body(body)
            del body
            hook = parse_webhook(text)
        except BadWebhook as exc:
            return _refuse(metrics, 400, exc.reason, exc.detail)
        CONTEXT.set({"group_key": hook.group})  # every line logged for this request names its group
        try:
            stored = await app[OUTBOX].store(notifications.Arrival(dedup_key(hook), hook.group, hook.status, text))
        except OutboxError:  # logged by the outbox, once per change of state
            metrics.rejected.labels("outbox_unavailable").inc()
            return web.json_response({"error": "outbox_unavailable", "detail": "retry later"}, status=503)
        if stored.duplicate:
            metrics.duplicates.inc()
        else:
            metrics.received.labels(hook.status).inc()
            app[WORKER].wake()
        log.info("stored notification %d (%s%s)", stored.id, hook.status,
                 ", duplicate" if stored.duplicate else "")  # fmt: skip
    return web.json_response({"status": "duplicate" if stored.duplicate else "stored", "id": stored.id})


async def healthy(_: web.Request) -> web.Response:
    return web.Response(text="OK\n")


async def ready(request: web.Request) -> web.Response:
    problem = await request.app[OUTBOX].unwritable()
    request.app[METRICS].writable.set(0 if problem else 1)
    if problem is None:
        return web.Response(text="ready\n")
    return web.Response(text=f"outbox not writable: {problem}\n", status=503)


async def act(request: web.Request) -> web.Response:
    """A signed link to an alert's action (receiver/act.py); 404 unless receiver_url is set."""
    links = request.app.get(LINKS)
    if links is None:
        return web.json_response({"error": "not_found", "detail": "signed links are off (receiver_url)"}, status=404)
    return await links.handle(request)


async def metrics_page(request: web.Request) -> web.Response:
    metrics = request.app[METRICS]
    outbox = request.app[OUTBOX]
    depth, oldest = await outbox.read(notifications.depth, time.time())
    metrics.depth.set(depth)
    metrics.oldest.set(oldest or 0.0)
    waiting, oldest_send, parked = await outbox.read(sends.stats, time.time())
    metrics.sends_waiting.set(waiting)
    metrics.sends_oldest.set(oldest_send or 0.0)
    metrics.sends_parked.set(parked)
    metrics.parked.set(await outbox.read(notifications.parked))
    metrics.writable.set(0 if outbox.failing else 1)
    return web.Response(body=generate_latest(metrics.registry), headers={"Content-Type": CONTENT_TYPE_LATEST})


@contextlib.asynccontextmanager
async def _running(app: web.Application, settings: Settings, metrics: Metrics) -> AsyncIterator[None]:
    """Every resource set up and torn down here, in order: outbox, HTTP session, model client, deliverer, worker,
    digest schedule, Telegram buttons."""
    outbox = Outbox(settings.outbox_path, settings.intake.dedup_window_seconds)
    await outbox.open()
    app[OUTBOX] = outbox
    async with open_services(settings, metrics, outbox) as services:
        deliverer = Deliverer(settings.delivery, outbox, services.channels, metrics)
        actions = (ExporterActions(settings.actions, services.session, outbox, settings.ollama.language)
                   if settings.actions.url else None)  # fmt: skip
        heartbeat = Heartbeat(settings.heartbeat, services.session, metrics)
        app[WORKER] = worker = Worker(services, outbox, deliverer, actions, heartbeat)
        digester = Digester(services, outbox, deliverer)
        buttons = Buttons(settings, outbox, services.session, actions) if settings.buttons.alertmanager_api else None
        await deliverer.start()
        worker.start()
        digester.start()
        if buttons is not None:
            buttons.start()
            if services.urls.actions is not None:
                app[LINKS] = LinkActions(services.urls.actions, buttons, outbox, settings.ollama.language)
        check = asyncio.create_task(services.enricher.check())
        forget = asyncio.create_task(_forget(outbox, settings.keep_days), name="outbox retention")
        # matplotlib and the fonts, off the first alert's path
        warm = asyncio.create_task(services.charter.warm(), name="chart warm-up")
        depth, _ = await outbox.read(notifications.depth, time.time())
        if depth:
            log.info("resuming %d unfinished notification(s) from the outbox", depth)
        yield
        for task in (check, warm, forget):
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
            except Exception:  # a failed warm-up (no matplotlib fonts?) must not keep the rest from stopping
                log.exception("%s failed", task.get_name())
        if buttons is not None:
            await buttons.stop()
        await digester.stop()
        await worker.stop()
        await deliverer.stop(settings.processing.shutdown_grace_seconds)
        with contextlib.suppress(OutboxError):
            depth, _ = await outbox.read(notifications.depth, time.time())
            waiting, _, _ = await outbox.read(sends.stats, time.time())
            if depth or waiting:  # kept in the outbox: said, so that a stop is never taken for a loss
                log.info("stopped with %d notification(s) unfinished and %d message part(s) waiting to be sent; "
                         "the next start resumes them", depth, waiting)  # fmt: skip
    await outbox.close()


FORGET_EVERY_SECONDS = 3600.0


async def _forget(outbox: Outbox, keep_days: int) -> None:
    """At start and every hour: the outbox's finished history past `keep_days` deleted, a batch at a time."""
    while True:
        pruned = retention.Pruned()
        try:
            while True:
                batch = await outbox.write(retention.prune, time.time() - keep_days * 86400)
                pruned += batch
                if batch.notifications < retention.BATCH:
                    break
                await asyncio.sleep(0.1)  # webhooks and the worker between batches
        except OutboxError:
            pass  # a full or read-only disk: said by the outbox itself; tried again next hour
        except Exception:  # a damaged page, a bug: said now (a dead task said nothing until shutdown; found in review)
            log.exception("outbox: cannot forget old history; trying again in an hour")
        if pruned.notifications or pruned.cached:
            log.info("outbox: forgot %d notification(s) and %d message part(s) finished more than %d days ago "
                     "(keep_days), and %d cached analyses", pruned.notifications, pruned.sends, keep_days,
                     pruned.cached)  # fmt: skip
        await asyncio.sleep(FORGET_EVERY_SECONDS)


class AccessLog(AbstractAccessLogger):
    """One line per request with the path and never its query: a signed link's signature is a credential. Not for
    Prometheus' scrapes of /metrics that succeed (a quarter of the log, every 15 s, saying nothing)."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        if request.path == "/metrics" and response.status == 200:
            return
        self.logger.info('%s "%s %s" %d %.1f ms', request.remote, request.method, request.path, response.status,
                         time * 1000)  # fmt: skip


def create_app(settings: Settings) -> web.Application:
    # No request body is inflated by the server: a compressed one is refused (415) before it is read.
    app = web.Application(client_max_size=settings.intake.max_body_bytes, handler_args={"auto_decompress": False})
    app[SETTINGS] = settings
    app[METRICS] = metrics = Metrics()
    app[BUDGET] = IntakeBudget(settings.intake.max_inflight_bytes, settings.intake.max_body_bytes)

    async def resources(app: web.Application) -> AsyncIterator[None]:
        with datadir.hold(settings.data_dir):
            async with _running(app, settings, metrics):
                yield

    app.cleanup_ctx.append(resources)
    app.router.add_post("/alerts", alerts)
    app.router.add_get("/-/healthy", healthy)
    app.router.add_get("/-/ready", ready)
    app.router.add_get("/metrics", metrics_page)
    app.router.add_route("GET", "/act/{note}/{action}", act)
    app.router.add_route("POST", "/act/{note}/{action}", act)
    return app
