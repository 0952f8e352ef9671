"""The aiohttp application: intake of Alertmanager webhooks into the durable outbox, health, readiness, metrics."""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hmac
import json
import logging
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import ValidationError

from exporter.logs import CONTEXT
from receiver import channels
from receiver.actions import ExporterActions
from receiver.delivery import Deliverer
from receiver.digester import Digester
from receiver.enrich import Enricher
from receiver.metrics import Metrics
from receiver.models import Webhook, dedup_key, first_problem
from receiver.outbox import Outbox, OutboxError
from receiver.prometheus import Prometheus
from receiver.settings import Settings
from receiver.worker import Worker

log = logging.getLogger("receiver")

SETTINGS = web.AppKey("SETTINGS", Settings)
OUTBOX = web.AppKey("OUTBOX", Outbox)


METRICS = web.AppKey("METRICS", Metrics)
WORKER = web.AppKey("WORKER", Worker)


def _authorized(settings: Settings, header: str | None) -> bool:
    auth = settings.auth
    if auth.bearer_token is None and auth.basic_username is None:
        return True
    if not header:
        return False
    scheme, _, value = header.partition(" ")
    if auth.bearer_token is not None and scheme.lower() == "bearer":
        return hmac.compare_digest(value.encode(), auth.bearer_token.encode())
    if auth.basic_username is not None and scheme.lower() == "basic":
        try:
            user, _, password = base64.b64decode(value, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        ok_user = hmac.compare_digest(user.encode(), auth.basic_username.encode())
        ok_password = hmac.compare_digest(password.encode(), (auth.basic_password or "").encode())
        return ok_user and ok_password
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
    body = await request.read()  # aiohttp answers 413 itself above intake.max_body_bytes
    try:
        document = json.loads(body)
    except ValueError as exc:
        return _refuse(metrics, 400, "malformed_json", str(exc)[:200])
    try:
        hook = Webhook.model_validate(document)
    except ValidationError as exc:
        return _refuse(metrics, 400, "not_webhook_v4", first_problem(exc)[:300])
    CONTEXT.set({"group_key": hook.groupKey})  # every line logged for this request names its group
    try:
        stored = await app[OUTBOX].store(dedup_key(hook), hook.groupKey, hook.status, body.decode("utf-8", "replace"))
    except OutboxError as exc:
        metrics.rejected.labels("outbox_unavailable").inc()
        log.error("cannot store notification: %s", exc)
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
    if await request.app[OUTBOX].writable():
        return web.Response(text="ready\n")
    return web.Response(text="outbox not writable\n", status=503)


async def metrics_page(request: web.Request) -> web.Response:
    metrics = request.app[METRICS]
    depth, oldest = await request.app[OUTBOX].depth()
    metrics.depth.set(depth)
    metrics.oldest.set(oldest or 0.0)
    waiting, oldest_send, parked = await request.app[OUTBOX].send_queue_stats()
    metrics.sends_waiting.set(waiting)
    metrics.sends_oldest.set(oldest_send or 0.0)
    metrics.sends_parked.set(parked)
    return web.Response(body=generate_latest(metrics.registry), headers={"Content-Type": CONTENT_TYPE_LATEST})


def create_app(settings: Settings) -> web.Application:
    app = web.Application(client_max_size=settings.intake.max_body_bytes)
    app[SETTINGS] = settings
    app[METRICS] = metrics = Metrics()

    async def resources(app: web.Application) -> AsyncIterator[None]:
        """Every resource set up and torn down here, in order: outbox, HTTP session, model client, deliverer, worker,
        digest schedule."""
        outbox = Outbox(settings.outbox_path, settings.intake.dedup_window_seconds)
        await outbox.open()
        app[OUTBOX] = outbox
        async with aiohttp.ClientSession() as session:
            enricher = Enricher(settings.ollama, outbox, metrics)
            prometheus = Prometheus(session, settings.prometheus.url, settings.prometheus.timeout_seconds)
            sinks = channels.build(settings.channels, session)
            deliverer = Deliverer(settings.delivery, outbox, sinks, metrics)
            actions = ExporterActions(settings.actions, session, outbox) if settings.actions.url else None
            app[WORKER] = worker = Worker(settings, outbox, enricher, prometheus, sinks, deliverer, metrics, actions)
            digester = Digester(settings, outbox, prometheus, sinks, deliverer, enricher, metrics)
            await deliverer.start()
            worker.start()
            digester.start()
            check = asyncio.create_task(enricher.check())
            depth, _ = await outbox.depth()
            if depth:
                log.info("resuming %d unfinished notification(s) from the outbox", depth)
            yield
            check.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await check
            await digester.stop()
            await worker.stop()
            await deliverer.stop(settings.processing.shutdown_grace_seconds)
            await enricher.close()
        await outbox.close()

    app.cleanup_ctx.append(resources)
    app.router.add_post("/alerts", alerts)
    app.router.add_get("/-/healthy", healthy)
    app.router.add_get("/-/ready", ready)
    app.router.add_get("/metrics", metrics_page)
    return app
