"""The receiver's collaborators, built once per process: one HTTP session, Prometheus, the model, the channels.

`serve` (app.py), `digest --now` (cli.py) and `send-test` (sendtest.py) all start from `open_services`, so a change in
how one is made is a change in one place.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace

import aiohttp

from receiver import links
from receiver.analysis.enrich import Enricher
from receiver.chart import Charter
from receiver.delivery import channels
from receiver.facts.prometheus import Prometheus
from receiver.metrics import Metrics
from receiver.settings import PublicUrls, Settings
from receiver.store.outbox import Outbox


@dataclass(frozen=True)
class Services:
    settings: Settings
    metrics: Metrics
    session: aiohttp.ClientSession
    prometheus: Prometheus
    enricher: Enricher
    channels: dict[str, channels.Channel]
    charter: Charter
    urls: PublicUrls
    """The addresses messages link to, with the signer of action links when receiver_url is set."""


@contextlib.asynccontextmanager
async def open_services(settings: Settings, metrics: Metrics, outbox: Outbox | None) -> AsyncIterator[Services]:
    """Without an outbox (a one-off command) the model's answers are not cached."""
    async with aiohttp.ClientSession() as session:
        enricher = Enricher(settings.ollama, outbox, metrics)
        sinks = channels.build(settings.channels, session, buttons=settings.buttons.alertmanager_api is not None)
        prometheus = Prometheus(session, settings.prometheus)
        language, cache = settings.ollama.language, settings.data_dir / "matplotlib"
        charter = Charter(settings.charts, prometheus, metrics, language, cache)
        urls = settings.public_urls()
        if settings.receiver_url:
            urls = replace(urls, actions=links.Signer(settings.receiver_url, links.key(settings.data_dir)))
        try:
            yield Services(settings, metrics, session, prometheus, enricher, sinks, charter, urls)
        finally:
            charter.close()
            await enricher.close()
