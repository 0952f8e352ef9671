"""The processing loop: outbox → facts → analysis → rendered notification → channels, resumable at every step.

Different alert groups are processed side by side (up to `processing.workers`); the snapshots of one group strictly
in arrival order, so a resolution is never delivered before the firing it resolves. Anything unfinished stays in the
outbox: a restart, a crash or a failed delivery resumes from the last step stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time

from exporter.logs import CONTEXT
from receiver.analysis import fallback
from receiver.analysis.enrich import Enricher
from receiver.analysis.schema import Analysis
from receiver.delivery import channels as ch
from receiver.delivery.deliverer import Deliverer, sends_for
from receiver.facts.gather import gather
from receiver.facts.host import ExporterActions
from receiver.facts.model import Facts
from receiver.facts.prometheus import Prometheus
from receiver.heartbeat import Heartbeat, is_watchdog
from receiver.intake import Webhook, parse_webhook
from receiver.message.render import Message, no_analysis, parked_notice, render
from receiver.metrics import Metrics
from receiver.settings import Settings
from receiver.store.outbox import Outbox, OutboxError, Pending, Processed, Work

log = logging.getLogger("receiver.worker")

POLL_SECONDS = 1.0
"""How often the outbox is looked at without a wake-up (back-offs expiring, rows stored by another process)."""
MAX_BACKOFF_SECONDS = 300.0
OUTBOX_RETRY_SECONDS = 5.0
"""A step that could not be written (disk full) is tried again after this long, not in a loop."""
COALESCE_SECONDS = 0.02
"""After a wake-up by new arrivals, wait this long so a burst of webhooks is listed once, not once per webhook (a
finished notification frees a worker at once)."""


class Worker:
    def __init__(
        self,
        settings: Settings,
        outbox: Outbox,
        enricher: Enricher,
        prometheus: Prometheus | None,
        channels: dict[str, ch.Channel],
        deliverer: Deliverer,
        metrics: Metrics,
        actions: ExporterActions | None = None,
        heartbeat: Heartbeat | None = None,
    ) -> None:
        self._settings = settings
        self._heartbeat = heartbeat
        self._actions = actions
        self._outbox = outbox
        self._enricher = enricher
        self._prometheus = prometheus
        self._channels = channels
        self._deliverer = deliverer
        self._metrics = metrics
        self._wake = asyncio.Event()
        self._busy: set[str] = set()
        self._held: dict[str, float] = {}
        """Groups whose last step could not be written (disk full): tried again no sooner than this (monotonic)."""
        self._freed = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopping = False
        self._loop: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._loop = asyncio.create_task(self._dispatch(), name="receiver-dispatch")

    def wake(self) -> None:
        self._wake.set()

    async def stop(self) -> None:
        """Stop taking work; give in-flight work the grace period, then leave the rest in the outbox for next start."""
        self._stopping = True
        self._wake.set()
        if self._loop is not None:
            await self._loop
        if self._tasks:
            log.info("draining %d notification(s) in flight", len(self._tasks))
            _, pending = await asyncio.wait(self._tasks, timeout=self._settings.processing.shutdown_grace_seconds)
            for task in pending:
                task.cancel()
            if pending:
                log.warning("%d notification(s) left unfinished in the outbox; resumed at next start", len(pending))
                await asyncio.wait(pending)

    async def _dispatch(self) -> None:
        while not self._stopping:
            self._wake.clear()
            try:
                work = await self._outbox.pending(1000, MAX_BACKOFF_SECONDS)
            except OutboxError:  # logged by the outbox, once per change of state
                work = []
            now = time.monotonic()
            for item in work:
                if item.group_key in self._busy or len(self._tasks) >= self._settings.processing.workers:
                    continue
                if self._held.get(item.group_key, 0.0) > now:
                    continue
                self._busy.add(item.group_key)
                task = asyncio.create_task(self._process(item), name=f"notification-{item.id}")
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), POLL_SECONDS)
            if not self._freed:  # woken by arrivals: let the burst land, then list it once
                await asyncio.sleep(COALESCE_SECONDS)
            self._freed = False

    async def _process(self, pending: Pending) -> None:
        CONTEXT.set({"group_key": pending.group_key, "notification": str(pending.id)})
        attempts = 0
        try:
            item = await self._outbox.load(pending.id)
            attempts = item.attempts
            await self._run(item)
        except asyncio.CancelledError:
            raise
        except OutboxError:  # the outbox logged it once; not the notification's fault, so no attempt is counted
            self._held[pending.group_key] = time.monotonic() + OUTBOX_RETRY_SECONDS
        except Exception as exc:  # one bad notification must not stop the others: retried with back-off, then parked
            log.exception("processing failed (attempt %d of %d)", attempts + 1, self._settings.processing.max_attempts)
            await self._failed(pending, exc, attempts)
        else:
            self._held.pop(pending.group_key, None)
        finally:
            self._busy.discard(pending.group_key)
            self._freed = True
            self._wake.set()

    async def _run(self, item: Work) -> None:
        """Facts, then (for a page-first severity) the facts sent at once, then the analysis and its sends.

        Each step is committed with the sends it queues, so a restart resumes after the last one.
        """
        hook = parse_webhook(item.payload)
        if is_watchdog(hook) and self._heartbeat is not None:  # a ping, not a message
            pinged = await self._heartbeat.ping(hook)
            quiet = Processed(facts="{}", prompt="", raw_answer="", grounding="{}", analysis="null",
                              source="heartbeat", rendered=pinged)  # fmt: skip
            await self._outbox.queue(item.id, "analysed", [], quiet)
            return
        facts = await gather(hook, self._prometheus, time.time())
        if self._actions is not None and hook.status == "firing":
            await self._actions.attach(item.id, hook, facts)
        names = self._settings.channels_for({**hook.commonLabels, "status": hook.status})
        severity = facts.alerts[0].severity if facts.alerts else ""
        page_first = hook.status == "firing" and severity in self._settings.processing.page_first
        if page_first and item.state == "pending":
            summary = fallback.summarise(facts, self._settings.ollama.language)
            promise = "page" if self._settings.ollama.enabled else "disabled"  # no follow-up is promised when off
            page = self._render(item, hook, facts, summary, "page", "fallback", promise)
            await self._outbox.queue(item.id, "paged", sends_for(item.group_key, page, self._channels, names), None)
            self._deliverer.wake()
            log.info("facts queued for %s ahead of the analysis", ", ".join(names))
        outcome = await self._enricher.analyse(facts)
        self._metrics.processed.labels(outcome.source).inc()
        log.info("analysed (%s%s)", outcome.source, f": {outcome.reason}" if outcome.reason else "")
        kind = "message"
        if page_first:  # the page already carries the plain facts; only a model's analysis is worth a follow-up
            kind = "followup"
        message = self._render(item, hook, facts, outcome.analysis, kind, outcome.source, outcome.reason)
        sends = []
        if kind == "followup" and outcome.source == "fallback":
            if outcome.reason != "disabled":  # the page promised an analysis: say in one line why none came
                language = self._settings.ollama.language
                note = no_analysis(item.id, item.group_key, message.title, outcome.reason or "", language)
                sends = sends_for(item.group_key, note, self._channels, names)
        else:
            sends = sends_for(item.group_key, message, self._channels, names)
        processed = Processed(
            facts=facts.model_dump_json(),
            prompt=outcome.prompt,
            raw_answer=outcome.raw_answer,
            grounding=json.dumps({"reason": outcome.reason, "verdicts": outcome.verdicts}),
            analysis=outcome.analysis.model_dump_json() if outcome.analysis else "null",
            source=outcome.source,
            rendered=message.plain(),
            prompt_tokens=outcome.tokens.get("prompt", 0),
            answer_tokens=outcome.tokens.get("answer", 0),
        )
        await self._outbox.queue(item.id, "analysed", sends, processed)
        self._deliverer.wake()

    async def _failed(self, pending: Pending, exc: Exception, attempts: int) -> None:
        error = f"{type(exc).__name__}: {exc}"[:500]
        notice = parked_notice(pending.id, pending.group_key, error, self._settings.processing.max_attempts,
                                        self._settings.ollama.language)  # fmt: skip
        names = self._settings.admin_channels()
        try:
            parked = await self._outbox.failed(pending.id, error, self._backoff(attempts),
                                               self._settings.processing.max_attempts,
                                               sends_for(pending.group_key, notice, self._channels, names))  # fmt: skip
        except Exception as exc:  # the failure cannot be recorded (disk full): wait, never loop on it
            if not isinstance(exc, OutboxError):
                log.exception("cannot record the failure of notification %d", pending.id)
            self._held[pending.group_key] = time.monotonic() + OUTBOX_RETRY_SECONDS
            return
        if parked:
            self._metrics.parked.inc()
            log.error("notification parked after %d failed attempts (%s); %s told; it stays in the outbox",
                      attempts + 1, error, ", ".join(names))  # fmt: skip
            self._deliverer.wake()

    def _render(
        self, item: Work, hook: Webhook, facts: Facts, analysis: Analysis | None, kind: str, source: str,
        reason: str | None,
    ) -> Message:  # fmt: skip
        return render(
            item.id, hook, facts, analysis, kind=kind, language=self._settings.ollama.language,
            model=self._settings.ollama.model, source=source, reason=reason, grafana_url=self._settings.grafana_url,
        )  # fmt: skip

    @staticmethod
    def _backoff(attempts: int) -> float:
        return float(min(MAX_BACKOFF_SECONDS, 5.0 * 2 ** min(attempts, 16)))
