"""`costwarden-receiver feedback export --out DIR`: the pages people marked *Expected (planned)* with the chat's button,
written as a backtest corpus (costwarden/corpus.py, the format `python -m bench.detection --corpus DIR` reads).

Each marked page becomes one scenario: every `costwarden_*` series of its host from eight days before the page (the
rules' week-over-week baseline and a day) to six hours after, as Prometheus has them, marked `normal` with the alert
forbidden on that host. Replaying the rules on it after a change to the tunables shows, with evidence, whether the
change would have kept that page quiet.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

from costwarden import corpus
from receiver.facts.prometheus import Prometheus, PrometheusError, matchers
from receiver.intake import parse_webhook
from receiver.store import audit
from receiver.store.outbox import Outbox

BEFORE_SECONDS = 8 * 86400.0
AFTER_SECONDS = 6 * 3600.0
STEP_SECONDS = 60.0
CHUNK_SECONDS = 10_000 * STEP_SECONDS
"""Prometheus answers at most 11,000 points per series and query: the window is read in chunks below that."""
COUNTERS = re.compile(r".*_total$")


async def export(outbox: Outbox, prometheus: Prometheus, out: Path, since: float, now: float) -> list[Path]:
    """Write one scenario directory per page marked expected since `since`; returns them."""
    written = []
    for note, payload, who in await outbox.read(audit.expected_marks, since):
        hook = parse_webhook(payload)
        labels = {**hook.commonLabels, **hook.alerts[0].labels}
        alertname, instance = labels.get("alertname", ""), labels.get("instance", "")
        began = hook.alerts[0].startsAt.timestamp()
        start = (began - BEFORE_SECONDS) // STEP_SECONDS * STEP_SECONDS  # on the minute: the grid Prometheus answers
        end = min(now, began + AFTER_SECONDS)
        series = await _series(prometheus, instance, start, end)
        if not series:
            raise PrometheusError(f"Prometheus has no costwarden_* series of {instance!r} around the page of "
                                  f"notification {note} (its retention may be shorter than 8 days)")  # fmt: skip
        name = re.sub(r"[^A-Za-z0-9_.-]", "_", f"expected-{note}-{alertname}")
        scenario = corpus.Scenario(
            name=name,
            description=f"{alertname} on {instance} from {hook.alerts[0].startsAt.isoformat()}, marked expected by "
            f"{who}",
            normal=True, series=series, forbid=[{"alertname": alertname, "instance": instance}],
        )  # fmt: skip
        corpus.write(scenario, out / name)
        written.append(out / name)
    return written


async def _series(prometheus: Prometheus, instance: str, start: float, end: float) -> list[corpus.Series]:
    """Every costwarden_* series of the host over [start, end] at one sample a minute, gaps as NaN."""
    query = '{__name__=~"costwarden_.+",' + matchers({"instance": instance})[1:]  # the host's value escaped as data
    found: dict[tuple[tuple[str, str], ...], dict[float, float]] = {}
    at = start
    while at < end:
        for labels, times, readings in await prometheus.matrix(query, at, min(end, at + CHUNK_SECONDS), STEP_SECONDS):
            points = found.setdefault(tuple(sorted(labels.items())), {})
            points.update(zip(times.tolist(), readings.tolist(), strict=True))
        at += CHUNK_SECONDS + STEP_SECONDS
    grid = [start + i * STEP_SECONDS for i in range(int((end - start) // STEP_SECONDS) + 1)]
    out = []
    for key, points in sorted(found.items()):
        labels = dict(key)
        metric = labels.pop("__name__", "")
        values = [points.get(t, math.nan) for t in grid]
        out.append(corpus.Series(metric, labels, "counter" if COUNTERS.match(metric) else "gauge", grid, values))
    return out
