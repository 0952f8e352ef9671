"""What a chart shows, read from Prometheus (`query_range`) and laid out in numbers and words (draw.py draws it).

An alert's chart: the cost per hour of the alert's scope (its host, workload and resource) over the last 24 h, or since
an hour before the anomaly began if that is longer (at most 7 days), against the rules' expected level and the edge of
the usual range the alert is about (`…:expected`; `…:usual_peak`, or `…:usual_low` for a drop), the start marked, the
money at stake written on it. A digest's: the period's cost per hour against the period before and, for a day, the
same day a week earlier, laid over each other.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt

from receiver.chart.draw import Plot, Series
from receiver.digest.schedule import Period
from receiver.facts.gather import SCOPE
from receiver.facts.model import Facts, alert_kind, sig
from receiver.facts.prometheus import Prometheus, matchers
from receiver.intake import Webhook
from receiver.message import words as alert_words

COST = "3600 * sum(rate(costwarden_cost_total{sel}[5m]))"
RULE = "sum(instance_cgroup_resource:costwarden_cost_per_hour:{name}{sel})"
POINTS = 500
"""Samples per line: finer than the picture's pixels need would only cost time."""
CHARTED = ("cost", "drop", "bill")
"""The kinds of alert (facts.model.alert_kind) about money over time; a disk or costwarden's own health has no cost
line to show."""
LONGEST = 7 * 86400


@dataclass(frozen=True)
class AlertData:
    scope: str
    began: float
    actual: tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]
    expected: tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]
    usual: tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]] | None
    """The usual peak, or for a drop the usual low: the edge of the range the alert says the cost left."""
    edge: str = "peak"
    """Which edge `usual` is: "peak" or "low" (the chart's word for the line)."""


@dataclass(frozen=True)
class PeriodData:
    kind: str
    """day or week."""
    lines: tuple[tuple[str, npt.NDArray[np.float64], npt.NDArray[np.float64]], ...]
    """(key, seconds since the period's start, cost per hour)."""


def window(began: float, now: float) -> tuple[float, float, float]:
    """(start, end, step): the last 24 h, or from an hour before `began` if that is longer, at most 7 days; a step
    (a whole minute) that keeps each line near POINTS samples."""
    start = max(now - LONGEST, min(now - 86400, began - 3600))
    step = 60.0 * max(1, math.ceil((now - start) / POINTS / 60))
    return start, now, step


def charted(hook: Webhook) -> bool:
    return bool(hook.alerts) and alert_kind(hook.alerts[0].labels.get("alertname", "")) in CHARTED


async def alert_data(hook: Webhook, prom: Prometheus, now: float) -> AlertData | None:
    """The alert's lines; None when its scope has no cost series at all."""
    common = hook.commonLabels or hook.alerts[0].labels
    scope = {k: common[k] for k in SCOPE if k in common}
    if "cgroup" not in scope:  # a whole-host alert (budget, bill): the host's own total, not every cgroup summed
        scope["cgroup"] = "/"
    began = min(a.startsAt.timestamp() for a in hook.alerts)
    edge = "low" if alert_kind(hook.alerts[0].labels.get("alertname", "")) == "drop" else "peak"
    start, end, step = window(began, now)
    sel = matchers(scope)
    one_series = "resource" in scope
    actual, expected, usual = await asyncio.gather(
        prom.series(COST.format(sel=sel), start, end, step),
        prom.series(RULE.format(name="expected", sel=sel), start, end, step),
        prom.series(RULE.format(name=f"usual_{edge}", sel=sel), start, end, step) if one_series else _nothing(),
    )
    if actual[0].size == 0:
        return None
    name = "/".join(v for k, v in scope.items() if k in ("instance", "cgroup", "resource"))
    return AlertData(scope=name, began=began, actual=actual, expected=expected,
                     usual=usual if usual[0].size else None, edge=edge)  # fmt: skip


async def _nothing() -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    return np.empty(0), np.empty(0)


SAMPLE_AT_STAKE = 0.96


def sample(now: float) -> AlertData:
    """Made-up numbers shaped like an alert's: a day's usual ups and downs, then an hour at five times the usual."""
    t = np.arange(now - 86400, now, 300.0)
    usual = 0.01 + 0.002 * np.sin(t / 3600)
    actual = np.where(t >= now - 3600, 0.05, usual)
    return AlertData(scope="sample", began=now - 3600, actual=(t, actual), expected=(t, np.full_like(t, 0.01)),
                     usual=(t, np.full_like(t, 0.013)))  # fmt: skip


def alert_plot(data: AlertData, facts: Facts, words: dict[str, str], drawn: bool) -> Plot:
    """`drawn`: a font can draw the language's words; without one, units and numbers only."""
    cur = facts.currency or "USD"
    lines = [Series("actual", *data.actual, words["actual"]), Series("expected", *data.expected, words["expected"])]
    if data.usual is not None:
        lines.append(Series(data.edge, *data.usual, words[data.edge]))
    note = ""
    money = facts.money_at_stake_per_day
    if money:
        first = facts.alerts[0] if facts.alerts else None
        flat = first is not None and alert_words.flat(first.resource) and alert_kind(first.name) == "cost"
        note = words["capacity" if flat else "at_stake"].format(money=sig(money, 3), cur=cur) if drawn else (
            f"+{sig(money, 3):g} {cur}/d")  # fmt: skip
    return Plot(
        series=tuple(lines), unit=words["per_hour"].format(cur=cur) if drawn else f"{cur}/h",
        marker=data.began, marker_label=words["started"] if drawn else "", note=note,
    )  # fmt: skip


def caption(data: AlertData, words: dict[str, str]) -> str:
    times = data.actual[0]
    return words["caption"].format(scope=data.scope, start=_utc(times[0]), end=_utc(times[-1]))


def period_caption(period: Period, words: dict[str, str]) -> str:
    key = "day_caption" if period.kind == "day" else "week_caption"
    return words[key].format(day=period.last_day.isoformat(), zone=period.zone.key)


def _utc(t: float) -> str:
    return datetime.fromtimestamp(float(t), UTC).strftime("%Y-%m-%d %H:%M")


async def period_data(prom: Prometheus, period: Period) -> PeriodData | None:
    """The period's cost per hour over every host, and the periods it is compared with; None without data."""
    earlier = [("day_before", period.shifted(-1)), ("week_before", period.shifted(-7))] if period.kind == "day" else [
        ("previous_week", period.shifted(-7))]  # fmt: skip
    step = 300.0 if period.kind == "day" else 1800.0
    keyed = [("this_day" if period.kind == "day" else "this_week", period), *earlier]
    cost = COST.format(sel='{cgroup="/"}')
    reads = (prom.series(cost, p.start.timestamp(), p.end.timestamp() - 1, step) for _, p in keyed)
    found = await asyncio.gather(*reads)
    if found[0][0].size == 0:
        return None
    lines = tuple((key, times - p.start.timestamp(), values)
                  for (key, p), (times, values) in zip(keyed, found, strict=True) if times.size)  # fmt: skip
    return PeriodData(kind=period.kind, lines=lines)


def period_plot(data: PeriodData, currency: str, words: dict[str, str], drawn: bool) -> Plot:
    cur = currency or "USD"
    return Plot(
        series=tuple(Series(key, times, values, words[key]) for key, times, values in data.lines),
        unit=words["per_hour"].format(cur=cur) if drawn else f"{cur}/h", relative=True,
    )  # fmt: skip
