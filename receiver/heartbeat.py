"""The dead man's switch: `CostwardenWatchdog` always fires, Alertmanager repeats it to us every 5 minutes, and each
time we ping an outside heartbeat URL. When the pings stop, the service holding that URL tells the owner that the box,
Prometheus, Alertmanager or the receiver is down: the one failure nothing on the box can report."""

from __future__ import annotations

import logging

import aiohttp

from receiver import settings as s
from receiver.intake import Webhook
from receiver.metrics import Metrics

log = logging.getLogger("receiver.heartbeat")

WATCHDOG = "CostwardenWatchdog"


def is_watchdog(hook: Webhook) -> bool:
    """A notification of the watchdog alone (Alertmanager groups it by alertname on its own route)."""
    return all(alert.labels.get("alertname") == WATCHDOG for alert in hook.alerts)


class Heartbeat:
    def __init__(self, cfg: s.Heartbeat, session: aiohttp.ClientSession, metrics: Metrics) -> None:
        self._cfg = cfg
        self._session = session
        self._metrics = metrics

    async def ping(self, hook: Webhook) -> str:
        """Ping for a firing watchdog; what happened, in words, for the outbox. Never raises: a missed ping is what
        the heartbeat service is for, and the next repeat pings again."""
        if hook.status != "firing":
            return "the watchdog resolved: Prometheus stopped sending it; the heartbeat service will notice"
        if not self._cfg.url:
            self._metrics.heartbeats.labels("off").inc()
            return "no heartbeat.url configured: nothing pinged"
        shown = s.without_userinfo(self._cfg.url).split("?", 1)[0].rsplit("/", 1)[0] + "/…"  # the path holds the key
        try:
            async with self._session.request(
                self._cfg.method, self._cfg.url, timeout=aiohttp.ClientTimeout(total=self._cfg.timeout_seconds)
            ) as resp:
                await resp.read()
                ok = 200 <= resp.status < 300
                outcome = f"pinged {shown}: HTTP {resp.status}"
        except (aiohttp.ClientError, TimeoutError) as exc:
            ok, outcome = False, f"could not ping {shown}: {type(exc).__name__}"
        self._metrics.heartbeats.labels("sent" if ok else "failed").inc()
        (log.info if ok else log.warning)("heartbeat %s", outcome)
        return outcome
