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
from collections.abc import Iterator

from costwarden.logs import CONTEXT
from receiver.analysis import fallback
from receiver.analysis.schema import Analysis
from receiver.chart import Picture
from receiver.delivery.deliverer import Deliverer, sends_for
from receiver.dispatch import Dispatcher
from receiver.facts.gather import gather
from receiver.facts.host import ExporterActions
from receiver.facts.model import Facts
from receiver.heartbeat import Heartbeat, is_watchdog
from receiver.intake import Webhook, parse_webhook
from receiver.message.render import Message, no_analysis, parked_notice, render
from receiver.services import Services
from receiver.store import notifications
from receiver.store.db import OutboxError
from receiver.store.notifications import Pending, Processed, Work
from receiver.store.outbox import Outbox
from receiver.store.states import Note

log = logging.getLogger("receiver.worker")

MAX_BACKOFF_SECONDS = 300.0
OUTBOX_RETRY_SECONDS = 5.0
"""A step that could not be written (disk full) is tried again after this long, not in a loop."""
CALM_SECONDS = 0.3
"""A chart is drawn once no page has been in the making for this long (drawing takes a core for 0.1 to 0.2 s, which
a burst of pages should have), ..."""
CALM_WAIT_SECONDS = 5.0
"""... or after this long at most: a stream of pages does not starve the charts."""
COALESCE_SECONDS = 0.02
"""After a wake-up by new arrivals, wait this long so a burst of webhooks is listed once, not once per webhook (a
finished notification frees a worker at once)."""


class Calm:
    """Whether pages are being made: charts wait for a calm moment, so a picture never competes with a page (facts
    read from Prometheus, then queued) for the CPU of a small VPS."""

    def __init__(self) -> None:
        self._making = 0
        self._last = 0.0

    @contextlib.contextmanager
    def making(self) -> Iterator[None]:
        self._making += 1
        try:
            yield
        finally:
            self._making -= 1
            self._last = time.monotonic()

    async def wait(self) -> None:
        started = time.monotonic()
        while time.monotonic() - started < CALM_WAIT_SECONDS and (
            self._making or time.monotonic() - self._last < CALM_SECONDS
        ):
            await asyncio.sleep(0.05)


class Worker:
    def __init__(
        self,
        services: Services,
        outbox: Outbox,
        deliverer: Deliverer,
        actions: ExporterActions | None = None,
        heartbeat: Heartbeat | None = None,
    ) -> None:
        self._settings = settings = services.settings
        self._heartbeat = heartbeat
        self._actions = actions
        self._outbox = outbox
        self._enricher = services.enricher
        self._prometheus = services.prometheus
        self._channels = services.channels
        self._deliverer = deliverer
        self._charter = services.charter
        self._urls = services.urls
        self._charts: dict[str, asyncio.Task[None]] = {}
        """Per alert group, the chart being drawn, to be queued after its message."""
        self._calm = Calm()
        self._metrics = services.metrics
        self._dispatcher = Dispatcher(
            "dispatch", self._due, lambda p: p.group_key, self._process, settings.processing.workers,
            hold_seconds=OUTBOX_RETRY_SECONDS, coalesce_seconds=COALESCE_SECONDS,
        )  # fmt: skip

    def start(self) -> None:
        self._dispatcher.start()

    def wake(self) -> None:
        self._dispatcher.wake()

    async def stop(self) -> None:
        """Stop taking work; give in-flight work the grace period, then leave the rest in the outbox for next start."""
        left = await self._dispatcher.stop(self._settings.processing.shutdown_grace_seconds)
        for task in list(self._charts.values()):
            task.cancel()
        await asyncio.gather(*self._charts.values(), return_exceptions=True)
        if left:
            log.warning("%d notification(s) left unfinished in the outbox; resumed at next start", left)

    async def _due(self) -> list[Pending]:
        return await self._outbox.read(notifications.due, 1000, time.time(), MAX_BACKOFF_SECONDS)

    async def _process(self, pending: Pending) -> None:
        """One notification. An OutboxError (the outbox logged it) is not the notification's fault: no attempt is
        counted and the dispatcher holds its group; any other error is retried with back-off, then parked."""
        CONTEXT.set({"group_key": pending.group_key, "notification": str(pending.id)})
        attempts = 0
        try:
            item = await self._outbox.read(notifications.load, pending.id)
            attempts = item.attempts
            await self._run(item)
        except (asyncio.CancelledError, OutboxError):
            raise
        except Exception as exc:  # one bad notification must not stop the others
            log.exception("processing failed (attempt %d of %d)", attempts + 1, self._settings.processing.max_attempts)
            await self._failed(pending, exc, attempts)

    async def _run(self, item: Work) -> None:
        """Facts, then (for a page-first severity) the facts sent at once and the chart as soon as it is drawn, then
        the analysis and its sends (with the chart, when there was no page).

        Each step is committed with the sends it queues, so a restart resumes after the last one.
        """
        hook = parse_webhook(item.payload)
        if is_watchdog(hook) and self._heartbeat is not None:  # a ping, not a message
            pinged = await self._heartbeat.ping(hook)
            quiet = Processed(facts="{}", prompt="", raw_answer="", grounding="{}", analysis="null",
                              source="heartbeat", rendered=pinged)  # fmt: skip
            await self._outbox.write(notifications.advance, item.id, Note.ANALYSED, [], quiet, time.time())
            return
        # A chart of this group's previous notification not queued yet is dropped: it would arrive after this one's
        # message (a firing's picture after its resolution).
        if (earlier := self._charts.pop(item.group_key, None)) is not None:
            earlier.cancel()
        with self._calm.making():  # charts wait while a page is in the making
            facts = await gather(hook, self._prometheus, time.time())
            if self._actions is not None and hook.status == "firing":
                facts = (await self._actions.diagnose(item.id, hook)).into(facts)
            names = self._settings.channels_for({**hook.commonLabels, "status": hook.status})
            severity = facts.alerts[0].severity if facts.alerts else ""
            page_first = hook.status == "firing" and severity in self._settings.processing.page_first
            language = self._settings.ollama.language
            promise = "page" if self._settings.ollama.enabled else "disabled"  # no follow-up is promised when off
            page = self._render(item, hook, facts, fallback.summarise(facts, language), "page", "fallback", promise)
            if page_first and item.state == Note.PENDING:
                queued = sends_for(item.group_key, page, self._channels, names)
                await self._outbox.write(notifications.advance, item.id, Note.PAGED, queued, None, time.time(),
                                         facts.model_dump_json())  # fmt: skip
                self._deliverer.wake()
                log.info("facts queued for %s ahead of the analysis", ", ".join(names))
        # The chart is drawn while the model thinks and queued after the message it belongs to, by a task of its own:
        # neither the page nor this worker waits for it.
        charting = asyncio.create_task(self._chart(page, hook, facts))
        if page_first:  # after the page, once drawn
            self._attach_when_drawn(charting, item, names)
        try:
            await self._analyse(item, hook, facts, names, page_first)
        except BaseException:  # an error or a stop before the chart was handed over: it is not left running
            if not page_first:
                charting.cancel()
            raise
        if not page_first:  # after its message
            self._attach_when_drawn(charting, item, names)

    async def _analyse(self, item: Work, hook: Webhook, facts: Facts, names: list[str], page_first: bool) -> None:
        """The model's analysis (or the deterministic summary) and its sends: the message, or the page's follow-up."""
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
        await self._outbox.write(notifications.advance, item.id, Note.ANALYSED, sends, processed, time.time())
        self._deliverer.wake()

    async def _chart(self, page: Message, hook: Webhook, facts: Facts) -> Picture | None:
        await self._calm.wait()
        return await self._charter.alert(page, hook, facts)

    def _attach_when_drawn(self, charting: asyncio.Task[Picture | None], item: Work, names: list[str]) -> None:
        """Queue the chart's sends once it is drawn, after whatever was queued before (a crash before then loses
        only the picture: a chart is an extra). Tracked, so a stop cancels it."""

        async def attach() -> None:
            try:
                picture = await charting
                if picture is None:
                    return
                queued = sends_for(item.group_key, picture, self._channels, names)
                await self._outbox.write(notifications.attach, item.id, queued, time.time())
            except OutboxError:  # logged by the outbox; the message went, the picture cannot
                return
            except Exception:  # a chart's failure is logged, never the notification's
                log.exception("the chart of notification %d was not queued", item.id)
                return
            finally:
                if self._charts.get(item.group_key) is task:
                    del self._charts[item.group_key]
            self._deliverer.wake()

        task = asyncio.create_task(attach(), name=f"chart-{item.id}")
        self._charts[item.group_key] = task

    async def _failed(self, pending: Pending, exc: Exception, attempts: int) -> None:
        error = f"{type(exc).__name__}: {exc}"[:500]
        notice = parked_notice(pending.id, pending.group_key, error, self._settings.processing.max_attempts,
                                        self._settings.ollama.language)  # fmt: skip
        names = self._settings.admin_channels()
        try:
            parked = await self._outbox.write(
                notifications.failed, pending.id, error, time.time() + self._backoff(attempts),
                self._settings.processing.max_attempts, sends_for(pending.group_key, notice, self._channels, names),
                time.time(),
            )  # fmt: skip
        except Exception as exc:  # the failure cannot be recorded (disk full): the group waits, never loops on it
            if not isinstance(exc, OutboxError):
                log.exception("cannot record the failure of notification %d", pending.id)
            raise OutboxError(str(exc)) from exc
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
            model=self._settings.ollama.model, source=source, reason=reason, urls=self._urls,
            runs=bool(self._settings.buttons.allowed_users),
        )  # fmt: skip

    @staticmethod
    def _backoff(attempts: int) -> float:
        return float(min(MAX_BACKOFF_SECONDS, 5.0 * 2 ** min(attempts, 16)))
