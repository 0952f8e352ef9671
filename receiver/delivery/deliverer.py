"""The delivery engine: every queued send goes out, in order per channel and alert group, never lost.

A send is marked in flight before the request and sent only after the channel's success answer; one left in flight
(the process died, or its outcome could not be written to a full disk) is sent again (the only way a message can
arrive twice). The age that parks a send is counted on the monotonic clock while this process runs, so a step of the
wall clock neither parks a send nor makes it wait a day. Failures that time can fix
are retried with exponential back-off and full jitter, never sooner than the server's retry-after, for up to
`delivery.max_age_hours`; failures it cannot fix are parked with their reason. Either way later sends of the same
channel and group wait, so a resolution never overtakes its firing.
"""

from __future__ import annotations

import json
import logging
import random
import time

from costwarden.logs import CONTEXT
from receiver.chart import Picture
from receiver.delivery.channels import Channel, Permanent, RetryLater
from receiver.dispatch import Dispatcher
from receiver.message.render import Message
from receiver.metrics import Metrics
from receiver.settings import Delivery
from receiver.store import sends
from receiver.store.outbox import Outbox
from receiver.store.sends import Queued, Send
from receiver.store.states import Send as SendState

log = logging.getLogger("receiver.delivery")


def sends_for(group_key: str, message: Message | Picture, channels: dict[str, Channel], names: list[str]) -> list[Send]:
    """The message (or its chart) rendered once per channel into the parts the outbox queues (a retry sends the same
    words); a channel that cannot show a picture gets no part of a chart."""
    out = []
    for name in names:
        channel = channels[name]
        parts = channel.picture(message) if isinstance(message, Picture) else channel.render(message)
        out += [
            Send(group_key, name, message.kind, i, len(parts), json.dumps(body, ensure_ascii=False))
            for i, body in enumerate(parts)
        ]
    return out


MAX_RETRY_AFTER = 3600.0
"""The longest a server's retry-after is honoured: a wait beyond the longest one we ever schedule (this, or
`delivery.retry_max_seconds`) is what the queue reads as the wall clock stepped back."""


CHART_ATTEMPTS = 3
"""A chart failing this often (the service down, rate-limited) is set aside: the messages queued behind it in its
channel and group go on instead of waiting up to `delivery.max_age_hours` for a picture."""


def horizon(cfg: Delivery) -> float:
    return max(cfg.retry_max_seconds, MAX_RETRY_AFTER)


def backoff(attempts: int, cfg: Delivery, after: float | None, rng: random.Random) -> float:
    """Full jitter (a random wait up to base * 2^attempts, capped), but never less than the server asked for (up to
    an hour)."""
    ceiling = min(cfg.retry_max_seconds, cfg.retry_base_seconds * 2 ** min(attempts, 30))
    return max(min(after or 0.0, MAX_RETRY_AFTER), rng.uniform(0, ceiling))


class Deliverer:
    def __init__(self, cfg: Delivery, outbox: Outbox, channels: dict[str, Channel], metrics: Metrics) -> None:
        self._cfg = cfg
        self._outbox = outbox
        self._channels = channels
        self._metrics = metrics
        for name in channels:  # at 0 from the start: a series born at 1 shows no increase(), so the first delivery
            for result in ("sent", "retry", "parked"):  # (or failure) of a channel would be invisible to the rules
                metrics.deliveries.labels(name, result)
            metrics.last_delivered.labels(name)
        self._rng = random.Random()  # noqa: S311 - jitter, not security
        self._born: dict[int, float] = {}
        """Failing sends: when (monotonic) each was queued, as first seen in this process."""
        self._dispatcher = Dispatcher(
            "delivery", self._due, lambda q: (q.channel, q.group_key), self._send, cfg.concurrency,
            hold_seconds=cfg.retry_base_seconds, drain=True,
        )  # fmt: skip

    async def start(self) -> None:
        resent = await self._outbox.read(sends.inflight)
        if resent:
            log.warning("%d send(s) were in flight when the receiver stopped; sending them again", resent)
        self._dispatcher.start()

    def wake(self) -> None:
        self._dispatcher.wake()

    async def stop(self, grace: float) -> None:
        """Send what is due (the worker's last analyses included) for up to `grace`, then stop; the rest waits in
        the outbox for the next start."""
        await self._dispatcher.stop(grace)

    async def _due(self) -> list[Queued]:
        return await self._outbox.read(sends.due, 200, time.time(), horizon(self._cfg))

    async def _send(self, item: Queued) -> None:
        CONTEXT.set({"group_key": item.group_key, "notification": str(item.notification_id), "channel": item.channel})
        # An outcome that cannot be recorded (OutboxError, logged by the outbox) holds the queue; the send is
        # tried again after it.
        channel = self._channels.get(item.channel)
        if channel is None:
            await self._park(item, f"no channel named {item.channel} is configured any more")
            return
        await self._outbox.write(sends.mark, item.id, SendState.INFLIGHT, time.time())
        reply_to = (
            await self._outbox.read(sends.reply_of, item.notification_id, item.channel)
            if item.kind in ("followup", "chart")
            else None
        )
        try:
            reply = await channel.send(json.loads(item.body), reply_to)
        except Permanent as exc:
            await self._park(item, exc.reason)
        except RetryLater as exc:
            await self._retry(item, exc.reason, exc.after)
        except Exception as exc:  # a channel's bug must not lose the message: retried like an outage, and logged
            log.exception("channel %s failed unexpectedly", item.channel)
            await self._retry(item, f"unexpected error: {exc!r}", None)
        else:
            self._born.pop(item.id, None)
            await self._outbox.write(sends.mark, item.id, SendState.SENT, time.time(), reply=reply)
            self._metrics.deliveries.labels(item.channel, "sent").inc()
            self._metrics.last_delivered.labels(item.channel).set(time.time())
            self._metrics.delivery_latency.labels(item.channel).observe(time.time() - item.created_at)
            part = f" part {item.part + 1}/{item.parts}" if item.parts > 1 else ""
            log.info("sent %s%s to %s", item.kind, part, item.channel)

    def _age(self, item: Queued) -> float:
        """Seconds since the send was queued: the wall clock's word when this process first sees it fail, the
        monotonic clock's after that."""
        now = time.monotonic()
        born = self._born.setdefault(item.id, now - max(0.0, time.time() - item.created_at))
        return now - born

    async def _retry(self, item: Queued, reason: str, after: float | None) -> None:
        if item.kind == "chart" and (tried := await self._outbox.read(sends.attempts, item.id)) >= CHART_ATTEMPTS:
            await self._park(item, f"a chart, set aside after {tried} attempts: {reason}")
            return
        if self._age(item) > self._cfg.max_age_hours * 3600:
            await self._park(item, f"still failing after {self._cfg.max_age_hours:g} h: {reason}")
            return
        delay = backoff(item.attempts, self._cfg, after, self._rng)
        now = time.time()
        asked = now + min(after, MAX_RETRY_AFTER) if after else 0.0  # a service's retry-after: kept to the end
        await self._outbox.write(sends.mark, item.id, SendState.PENDING, now, error=reason, retry_at=now + delay,
                                 not_before=asked)  # fmt: skip
        self._metrics.deliveries.labels(item.channel, "retry").inc()
        log.warning("delivery to %s failed (%s); retrying in %.1f s", item.channel, reason, delay)

    async def _park(self, item: Queued, reason: str) -> None:
        self._born.pop(item.id, None)
        await self._outbox.write(sends.mark, item.id, SendState.PARKED, time.time(), error=reason)
        self._metrics.deliveries.labels(item.channel, "parked").inc()
        log.error("delivery to %s parked: %s", item.channel, reason)
