"""Sends the digests on time: the receiver's own clock, no cron. Each is claimed in the outbox (one per period per
channel, across restarts and processes) and then delivered like any message, with retries and ordering.

A digest whose time passed while the receiver was down is sent once when it comes back, marked late: only the latest
period is ever due, so a week away brings one digest, not seven. One due before the schedule was first seen running
(a fresh install at 10:00) was never missed and is not sent. When Prometheus cannot be read at send time the digest
waits for it, up to `WAIT_FOR_PROMETHEUS`, then goes out saying what is missing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

from costwarden.logs import CONTEXT
from receiver.delivery.deliverer import Deliverer, sends_for
from receiver.digest import facts as digest
from receiver.digest import schedule
from receiver.digest.render import render_digest
from receiver.message.render import Message
from receiver.services import Services
from receiver.store import audit, digests
from receiver.store.db import OutboxError
from receiver.store.outbox import Outbox

log = logging.getLogger("receiver.digest")

TICK_SECONDS = 60.0
"""The longest sleep between checks, so a changed wall clock (NTP step, suspend) is noticed within a minute."""
WAIT_FOR_PROMETHEUS = 30 * 60.0
EXPECTED_DAYS = 30
"""How far back the digest counts the pages people marked expected."""


async def compose(
    services: Services, period: schedule.Period, now: float, *, late: bool, expected: dict[str, int] | None = None
) -> tuple[digest.DigestFacts, Message]:
    """The digest of `period` as of `now`: its facts, an optional grounded comment, and the message (`late`: marked
    as sent after its time)."""
    settings = services.settings
    facts = await digest.gather(services.prometheus, period, now, settings.digest.top_workloads)
    facts.expected = expected or {}
    comment = None
    if settings.digest.commentary and facts.total is not None:
        comment, reason = await services.enricher.comment(facts.model_dump_json(exclude_none=True), facts.names())
        if comment is None:
            log.info("digest without a comment (%s)", reason)
    late_due = period.due.strftime("%Y-%m-%d %H:%M") if late else None
    message = render_digest(
        facts, language=settings.ollama.language, grafana_url=settings.grafana_url, commentary=comment,
        model=settings.ollama.model, late_due=late_due,
        window_ms=(round(period.start.timestamp() * 1000), round(period.end.timestamp() * 1000)),
    )  # fmt: skip
    return facts, message


class Digester:
    def __init__(
        self,
        services: Services,
        outbox: Outbox,
        deliverer: Deliverer,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._services = services
        self._settings = services.settings
        self._outbox = outbox
        self._deliverer = deliverer
        self._clock = clock
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        kinds = schedule.enabled(self._settings.digest)
        if not kinds:
            log.info("digests are turned off")
            return
        self._task = asyncio.create_task(self._loop(kinds), name="receiver-digests")

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            self._task.cancel()  # a digest half made is not claimed: the next start makes it again
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _loop(self, kinds: list[schedule.Kind]) -> None:
        cfg = self._settings.digest
        since = {
            kind: await self._outbox.write(digests.schedule_since, f"digest:{kind}", self._clock()) for kind in kinds
        }
        for kind in kinds:
            at = schedule.following(kind, cfg, datetime.fromtimestamp(self._clock(), UTC))
            names = ", ".join(self._settings.digest_channels())
            log.info("next %s digest at %s (%s) to %s", "daily" if kind == "day" else "weekly",
                     at.strftime("%Y-%m-%d %H:%M"), cfg.timezone, names)  # fmt: skip
        while not self._stop.is_set():
            now = self._clock()
            for kind in kinds:
                try:
                    await self.run_due(kind, now, since[kind])
                except OutboxError as exc:
                    log.error("cannot record the %s digest: %s", kind, exc)
                except Exception:  # a bug in one digest must not stop the schedule (nor the receiver)
                    log.exception("the %s digest failed; trying again in a minute", kind)
            wake = min(schedule.following(k, cfg, datetime.fromtimestamp(now, UTC)).timestamp() for k in kinds)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), max(1.0, min(TICK_SECONDS, wake - self._clock())))

    async def run_due(self, kind: schedule.Kind, now: float, since: float) -> list[str]:
        """Make and queue the latest `kind` digest for the channels that have not had it; returns those channels."""
        period = schedule.latest(kind, self._settings.digest, datetime.fromtimestamp(now, UTC))
        if period.due.timestamp() < since:
            return []
        missing = await self._outbox.read(digests.missing, period.key, self._settings.digest_channels())
        if not missing:
            return []
        CONTEXT.set({"group_key": f"digest:{period.key}"})
        late = now - period.due.timestamp() > self._settings.digest.late_after_minutes * 60
        expected = await self._outbox.read(audit.expected_by_alert, now - EXPECTED_DAYS * 86400)
        facts, message = await compose(self._services, period, now, late=late, expected=expected)
        if facts.context_error and now - period.due.timestamp() < WAIT_FOR_PROMETHEUS:
            log.warning("digest %s waits for Prometheus: %s", period.key, facts.context_error)
            return []
        queued = sends_for(message.group_key, message, self._services.channels, missing)
        picture = await self._services.charter.digest(message, period, facts.currency)
        if picture is not None:  # after the digest, in the same step: the day against the days it is compared with
            queued += sends_for(message.group_key, picture, self._services.channels, missing)
        claimed = await self._outbox.write(
            digests.claim, period.key, facts.model_dump_json(), message.plain(), queued, time.time()
        )
        if claimed:
            self._services.metrics.digests.labels(kind, facts.verdict, str(late).lower()).inc()
            self._deliverer.wake()
            log.info("digest %s (%s) queued for %s", period.key, facts.verdict, ", ".join(claimed))
        return claimed
