"""A chart after every alert about money and every digest: read from Prometheus, drawn off the event loop, bounded.

A chart never delays nor endangers its message: the message is queued first (a page the moment its facts are known),
the picture is queued after it when it is ready, and a chart that fails (Prometheus down, no data, a drawing error) or
takes longer than `charts.timeout_seconds` is left out with a log line and a count in
`costwarden_receiver_charts_total`. Drawing runs in one worker thread: a 2-core VPS draws one picture at a time.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from receiver.chart import draw, plots
from receiver.digest.schedule import Period
from receiver.facts.model import Facts
from receiver.facts.prometheus import Prometheus, PrometheusError
from receiver.intake import Webhook
from receiver.message import catalogue
from receiver.message.render import Message
from receiver.metrics import Metrics
from receiver.settings import Charts

log = logging.getLogger("receiver.chart")


@dataclass(frozen=True)
class Picture:
    """A chart as channels send it: after the message it belongs to (`id`, `group_key`), in the same queue."""

    id: int
    group_key: str
    png: bytes
    caption: str
    """What the picture shows, in words: sent beside it (the phone has the fonts the picture may lack)."""
    title: str
    """The message's title: an email's subject, a file's title."""
    failed: str
    """"The chart could not be attached ({reason})." in the message's language: said instead of a refused upload."""
    links: tuple[tuple[str, str], ...] = ()
    """The message's links: what a channel says instead when the picture cannot be sent."""
    kind: str = "chart"


class Charter:
    def __init__(self, cfg: Charts, prometheus: Prometheus, metrics: Metrics, language: str, cache: Path) -> None:
        """`cache`: where matplotlib keeps its font list, unless MPLCONFIGDIR says; the data directory is writable
        where a home may not be (a read-only container, a systemd unit with ProtectHome)."""
        os.environ.setdefault("MPLCONFIGDIR", str(cache))
        self._cfg = cfg
        self._prometheus = prometheus
        self._metrics = metrics
        self._words = catalogue.of(language).chart
        self._language = language
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="chart")
        for result in ("drawn", "no_data", "failed", "timeout"):
            metrics.charts.labels(result)

    async def warm(self) -> None:
        """Import matplotlib and find the fonts before the first alert needs them."""
        if self._cfg.enabled:
            fonts = await asyncio.get_running_loop().run_in_executor(self._pool, draw.warm)
            if self._language in fonts:
                log.info("charts on: words drawn in %s", fonts[self._language])
            else:
                log.info("charts on: no font for %s words is installed (fonts-noto-cjk or fonts-wqy-microhei has "
                         "them), so pictures carry numbers, times and units; their captions carry the words",
                         self._language)  # fmt: skip

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def alert(self, message: Message, hook: Webhook, facts: Facts) -> Picture | None:
        """The chart of an alert about money (firing or resolved), or None (not charted, no data, failed, late)."""
        if not self._cfg.enabled or not plots.charted(hook):
            return None

        async def make() -> Picture | None:
            data = await plots.alert_data(hook, self._prometheus, time.time())
            if data is None:
                return None
            font = await self._font()
            png = await self._draw(plots.alert_plot(data, facts, self._words, font is not None), font)
            return self._picture(message, png, plots.caption(data, self._words))

        return await self._bounded(make(), message.group_key)

    async def sample(self, message: Message) -> Picture | None:
        """What an alert's picture looks like, from made-up numbers (send-test: each channel's picture path, the bot
        token's scope and the service's limits checked before the first incident)."""
        if not self._cfg.enabled:
            return None

        async def make() -> Picture | None:
            data = plots.sample(time.time())
            font = await self._font()
            facts = Facts(status="firing", alerts=[], alerts_total=0, money_at_stake_per_day=plots.SAMPLE_AT_STAKE)
            png = await self._draw(plots.alert_plot(data, facts, self._words, font is not None), font)
            return self._picture(message, png, self._words["sample"])

        return await self._bounded(make(), message.group_key)

    async def digest(self, message: Message, period: Period, currency: str) -> Picture | None:
        if not self._cfg.enabled:
            return None

        async def make() -> Picture | None:
            data = await plots.period_data(self._prometheus, period)
            if data is None:
                return None
            font = await self._font()
            png = await self._draw(plots.period_plot(data, currency, self._words, font is not None), font)
            return self._picture(message, png, plots.period_caption(period, self._words))

        return await self._bounded(make(), message.group_key)

    def _picture(self, message: Message, png: bytes, caption: str) -> Picture:
        return Picture(message.id, message.group_key, png, caption, message.title, self._words["failed"],
                       message.links)  # fmt: skip

    async def _font(self) -> str | None:
        """In the drawing thread: the first lookup indexes the fonts (seconds, cold), which the event loop must not
        wait for; one thread, so no two lookups race."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, draw.font_for, self._language)

    async def _draw(self, plot: draw.Plot, font: str | None) -> bytes:
        started = time.perf_counter()
        png = await asyncio.get_running_loop().run_in_executor(self._pool, draw.png, plot, font)
        self._metrics.chart_seconds.observe(time.perf_counter() - started)
        return png

    async def _bounded(self, making: Coroutine[Any, Any, Picture | None], what: str) -> Picture | None:
        try:
            picture = await asyncio.wait_for(making, self._cfg.timeout_seconds)
        except TimeoutError:
            self._metrics.charts.labels("timeout").inc()
            log.warning("no chart for %s: not drawn within %g s", what, self._cfg.timeout_seconds)
            return None
        except PrometheusError as exc:
            self._metrics.charts.labels("failed").inc()
            log.warning("no chart for %s: %s", what, exc)
            return None
        except Exception:  # a chart is an extra: its failure is logged, never the message's
            self._metrics.charts.labels("failed").inc()
            log.exception("no chart for %s: drawing failed", what)
            return None
        self._metrics.charts.labels("drawn" if picture else "no_data").inc()
        if picture is None:  # the docs promise a line for every chart left out
            log.info("no chart for %s: Prometheus has no data for it (yet)", what)
        return picture
