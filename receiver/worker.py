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
from receiver import channels as ch
from receiver.context import gather
from receiver.enrich import Enricher
from receiver.facts import Facts
from receiver.metrics import Metrics
from receiver.models import Webhook
from receiver.outbox import Outbox, OutboxError, Pending, Processed, Work
from receiver.prometheus import Prometheus
from receiver.render import Notification, render
from receiver.settings import Settings

log = logging.getLogger("receiver.worker")

POLL_SECONDS = 1.0
"""How often the outbox is looked at without a wake-up (back-offs expiring, rows stored by another process)."""
COALESCE_SECONDS = 0.02
"""After a wake-up, wait this long so a burst of webhooks is listed once, not once per webhook."""


class Worker:
    def __init__(
        self,
        settings: Settings,
        outbox: Outbox,
        enricher: Enricher,
        prometheus: Prometheus | None,
        channels: list[ch.Channel],
        metrics: Metrics,
    ) -> None:
        self._settings = settings
        self._outbox = outbox
        self._enricher = enricher
        self._prometheus = prometheus
        self._channels = channels
        self._metrics = metrics
        self._wake = asyncio.Event()
        self._busy: set[str] = set()
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
                work = await self._outbox.pending(limit=1000)
            except OutboxError as exc:
                log.error("cannot read the outbox: %s", exc)
                work = []
            blocked = set(self._busy)
            for item in work:
                if item.group_key in blocked:
                    continue
                blocked.add(item.group_key)  # later snapshots of this group wait for this one
                if not item.due or len(self._tasks) >= self._settings.processing.workers:
                    continue
                self._busy.add(item.group_key)
                task = asyncio.create_task(self._process(item), name=f"notification-{item.id}")
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), POLL_SECONDS)
            await asyncio.sleep(COALESCE_SECONDS)

    async def _process(self, pending: Pending) -> None:
        CONTEXT.set({"group_key": pending.group_key, "notification": str(pending.id)})
        attempts = 0
        try:
            item = await self._outbox.load(pending.id)
            attempts = item.attempts
            note = await self._analysed(item)
            await self._deliver(item, note)
        except asyncio.CancelledError:
            raise
        except Exception:  # one bad notification must not stop the others; it is retried with back-off
            log.exception("processing failed; will retry")
            with contextlib.suppress(OutboxError):
                await self._outbox.retry_later(pending.id, self._backoff(attempts))
        finally:
            self._busy.discard(pending.group_key)
            self._wake.set()

    async def _analysed(self, item: Work) -> Notification:
        """The notification to send: built now, or as stored by an earlier run (never analysed twice)."""
        if item.state == "analysed" and item.rendered is not None and item.facts is not None:
            facts = Facts.model_validate_json(item.facts)
            return self._note(item, facts, item.rendered, item.source or "")
        hook = Webhook.model_validate_json(item.payload)
        facts = await gather(hook, self._prometheus, time.time())
        outcome = await self._enricher.analyse(facts)
        first = hook.alerts[0]
        _, text = render(
            facts,
            outcome.analysis,
            language=self._settings.ollama.language,
            model=self._settings.ollama.model,
            source=outcome.source,
            reason=outcome.reason,
            annotations={**hook.commonAnnotations, **first.annotations},
            grafana_url=self._settings.grafana_url,
        )
        await self._outbox.save_analysis(
            item.id,
            Processed(
                facts=facts.model_dump_json(),
                prompt=outcome.prompt,
                raw_answer=outcome.raw_answer,
                grounding=json.dumps({"reason": outcome.reason, "verdicts": outcome.verdicts}),
                analysis=outcome.analysis.model_dump_json() if outcome.analysis else "null",
                source=outcome.source,
                rendered=text,
            ),
        )
        self._metrics.processed.labels(outcome.source).inc()
        log.info("analysed (%s%s)", outcome.source, f": {outcome.reason}" if outcome.reason else "")
        return self._note(item, facts, text, outcome.source)

    @staticmethod
    def _note(item: Work, facts: Facts, text: str, source: str) -> Notification:
        severity = facts.alerts[0].severity if facts.alerts else ""
        return Notification(item.id, item.group_key, item.status, severity, text.split("\n", 1)[0], text, source)

    async def _deliver(self, item: Work, note: Notification) -> None:
        done = await self._outbox.delivered(item.id)
        failed = []
        for channel in self._channels:
            if channel.name in done:
                continue
            try:
                await channel.send(note)
            except Exception as exc:  # a channel's failure is retried later; the others still deliver
                failed.append(channel.name)
                self._metrics.deliveries.labels(channel.name, "retry").inc()
                log.warning("delivery to %s failed: %s", channel.name, exc)
                continue
            await self._outbox.mark_delivered(item.id, channel.name)
            self._metrics.deliveries.labels(channel.name, "sent").inc()
        if failed:
            delay = self._backoff(item.attempts)
            log.info("will retry %s in %.0f s", ", ".join(failed), delay)
            await self._outbox.retry_later(item.id, delay)
        else:
            await self._outbox.finish(item.id)
            log.info("delivered to %s", ", ".join(c.name for c in self._channels))

    def _backoff(self, attempts: int) -> float:
        return float(min(self._settings.processing.retry_max_seconds, 5 * 2 ** min(attempts, 16)))
