"""The rules on real-world series: the Numenta Anomaly Benchmark (NAB, MIT licence), scored as NAB scores detectors.

The corpus is read from `../shared/corpora/nab` beside the checkout (or `--nab DIR`), never copied into the repository.
Each NAB series becomes cost on the exporter's metric contract, as `../shared/tools/nab_score.py` (the reference) does:
values scaled so that the series' median of positive values costs 0.02 per hour (the plan costs 24/730 per hour, so the
money floors do not decide on their own), step-held to 1-minute samples for two cgroups ("/" and "app") of a resource
named after the series (`network_egress` for network, traffic or bytes, else `cpu`), plus flat memory and disk costs.
Every series is shifted onto one base date (time of day kept to the 5 minutes) and replayed in one TSDB by the real
PromQL engine, every 5 minutes from its first sample as the reference does. Alert STARTS (rising edges of "a warning
or critical alert is firing") are the detections; NAB's own sweeper (`nab/sweeper.py` in the corpus, standard
profile) scores them: 100 * (raw - null) / (perfect - null), 0 = never alerting, 100 = perfect.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import re
import statistics
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from costwarden.corpus import Scenario, Series
from tests.support.detection import engine

DEFAULT_CORPUS = Path(__file__).parents[4] / "shared" / "corpora" / "nab"
STEP = 300.0
"""Seconds between rule evaluations, as the reference scorer's promtool runs use."""
PLAN_HOURLY = 24 / 730
MEDIAN_COST = 0.02
PROFILE = {"tpWeight": 1.0, "fnWeight": 1.0, "fpWeight": 0.11}
PROBATION = 0.15
PAGING = ("warning", "critical")
DAY = 86400.0

# NAB's published detectors on the default selection (the 19 series of <= 21 days), scored the same way from their
# published results (the reference scorer's figures).
PUBLISHED_SERIES = 19
PUBLISHED = {
    "contextOSE": 71.3,
    "Numenta HTM": 70.6,
    "Twitter ADVec": 58.0,
    "windowed Gaussian": 48.5,
    "random": 23.0,
    "never alerting": 0.0,
}


@dataclass
class NabSeries:
    key: str  # e.g. realTraffic/speed_6005.csv
    timestamps: list[datetime]
    values: list[float]
    windows: list[tuple[datetime, datetime]]

    @property
    def days(self) -> float:
        """Days of data: the last reading counts for one (median) reading interval, so that 4032 readings five
        minutes apart are the 14 days, two weeks, they cover."""
        gaps = sorted((b - a).total_seconds() for a, b in zip(self.timestamps, self.timestamps[1:], strict=False))
        step = gaps[len(gaps) // 2] if gaps else 0.0
        return ((self.timestamps[-1] - self.timestamps[0]).total_seconds() + step) / DAY


@dataclass
class SeriesScore:
    key: str
    days: float
    windows: int
    starts: int
    raw: float
    false_starts_per_week: float
    delays: list[float | None]  # seconds from each window's start to the first alert start in it (None = missed)


def read(corpus: Path, max_days: float = 21.0, subsets: list[str] | None = None) -> list[NabSeries]:
    """The labelled series of the corpus no longer than `max_days`."""
    windows = json.loads((corpus / "labels" / "combined_windows.json").read_text())
    out = []
    for folder in sorted(subsets or [p.name for p in (corpus / "data").iterdir() if p.is_dir()]):
        for path in sorted((corpus / "data" / folder).glob("*.csv")):
            key = f"{folder}/{path.name}"
            if key not in windows:
                continue
            with path.open() as f:
                rows = list(csv.reader(f))[1:]
            series = NabSeries(
                key,
                [datetime.fromisoformat(r[0]) for r in rows],
                [float(r[1]) for r in rows],
                [(datetime.fromisoformat(a), datetime.fromisoformat(b)) for a, b in windows[key]],
            )
            if series.days <= max_days:
                out.append(series)
    return out


def resource_of(key: str) -> str:
    return "network_egress" if re.search(r"network|traffic|bytes", key, re.I) else "cpu"


def _name(key: str) -> str:
    return re.sub(r"[^a-zA-Z0-9_]", "_", key.removesuffix(".csv"))


def scenario(series: NabSeries, base: float, outage_after: float | None = None) -> Scenario:
    """The series as one host's exporter metrics, scraped every minute from `base` + its time of day.

    Each reading is held until the next, as the reference scorer holds it. With `outage_after` (minutes), readings
    further apart than that are an exporter outage instead, as Prometheus would record one: after one reading interval
    (5 minutes) no samples until the next reading, and the counters carry on from where they stopped."""
    first = series.timestamps[0]
    time_of_day = (first - first.replace(hour=0, minute=0, second=0, microsecond=0)).total_seconds()
    # On the evaluation grid: the reference evaluates every 5 minutes from each series' first sample, and whether a
    # 10-minute burst looks sustained depends on where the evaluations fall.
    start = base + time_of_day // STEP * STEP
    minutes = [round((t - first).total_seconds() / 60) for t in series.timestamps]
    positive = [v for v in series.values if v > 0]
    median = statistics.median(positive) if positive else 1.0
    rate = [max(v, 0.0) / median * MEDIAN_COST for v in series.values]
    scraped: list[int] = []
    per_minute: list[float] = []
    j = 0
    for m in range(minutes[-1] + 1):
        while j + 1 < len(minutes) and minutes[j + 1] <= m:
            j += 1
        gap = minutes[j + 1] - minutes[j] if j + 1 < len(minutes) else 0
        if outage_after is not None and gap > outage_after and m - minutes[j] >= STEP / 60:
            continue
        scraped.append(m)
        per_minute.append(rate[j])
    ts = [start + 60.0 * m for m in scraped]
    host = {"instance": "nab", "job": "costwarden"}
    out: list[Series] = []
    flat = {"memory": 2 * 0.0035, "disk": 40 * 0.10 / 730}
    for cgroup in ("/", "app"):
        total, acc = [], 0.0
        for r in per_minute:
            acc += r / 60
            total.append(acc)
        labels = {**host, "cgroup": cgroup}
        own = {**labels, "resource": resource_of(series.key)}
        out.append(Series("costwarden_cost_total", own, "counter", ts, total))
        for resource, level in flat.items():
            counter = [level / 60 * (m + 1) for m in range(len(ts))]
            out.append(Series("costwarden_cost_total", {**labels, "resource": resource}, "counter", ts, counter))
    for metric, value in (
        ("costwarden_plan_price_per_hour", PLAN_HOURLY),
        ("costwarden_budget_monthly", 1000.0),
        ("costwarden_egress_included_bytes", 4000.0 * 2**30),
        ("up", 1.0),
    ):
        out.append(Series(metric, dict(host), "gauge", ts, [value] * len(ts)))
    return Scenario(_name(series.key), f"NAB {series.key}", not series.windows, out)


def _sweeper(corpus: Path) -> Any:
    spec = importlib.util.spec_from_file_location("nab_sweeper", corpus / "nab" / "sweeper.py")
    if spec is None or spec.loader is None:
        raise RuntimeError(f"{corpus}/nab/sweeper.py cannot be loaded")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.Sweeper(probationPercent=PROBATION, costMatrix=PROFILE)


def starts(series: NabSeries, first_sample: float, firings: list[engine.Firing], grid: float) -> list[float]:
    """1.0 at each NAB timestamp where "something pages" rises, read at the last evaluation (every STEP seconds from
    `grid`) at or before it, as the reference reads ALERTS."""
    firing_steps: set[int] = set()
    for f in firings:
        if f.labels.get("severity") in PAGING:
            firing_steps.update(range(round((f.start - grid) / STEP), int((f.resolved - grid) // STEP) + 1))
    first = series.timestamps[0]
    firing = [
        int((first_sample + (t - first).total_seconds() - grid) // STEP) in firing_steps for t in series.timestamps
    ]
    return [1.0 if f and (i == 0 or not firing[i - 1]) else 0.0 for i, f in enumerate(firing)]


def score_one(sweeper: Any, series: NabSeries, detections: list[float]) -> SeriesScore:
    threshold = 1.0 if max(detections, default=0.0) >= 1.0 else 1.1
    _, best = sweeper.scoreDataSet(series.timestamps, detections, series.windows, series.key, threshold)
    raw = best.score if best else -float(len(series.windows))
    in_window = [any(a <= t <= b for a, b in series.windows) for t in series.timestamps]
    false = sum(1 for d, w in zip(detections, in_window, strict=True) if d and not w)
    delays: list[float | None] = []
    for a, b in series.windows:
        hits = [t for t, d in zip(series.timestamps, detections, strict=True) if d and a <= t <= b]
        delays.append((hits[0] - a).total_seconds() if hits else None)
    return SeriesScore(
        series.key, series.days, len(series.windows), int(sum(detections)), raw, false / (series.days / 7), delays
    )


def allowed_starts(score: SeriesScore) -> float:
    """The per-series goal of docs/detection.md: at most one alert start per labelled window plus one false start per
    week of data."""
    return score.windows + score.days / 7


def normalised(scores: list[SeriesScore]) -> float:
    raw = sum(s.raw for s in scores)
    windows = sum(s.windows for s in scores)
    null, perfect = -windows * PROFILE["fnWeight"], windows * PROFILE["tpWeight"]
    return 100 * (raw - null) / (perfect - null) if perfect != null else 0.0


def run(
    corpus: Path, workdir: Path, base: float, max_days: float = 21.0, outage_after: float | None = None
) -> list[SeriesScore]:
    """Replay every selected NAB series through the rules and score it."""
    selected = read(corpus, max_days)
    scenarios = [scenario(s, base, outage_after) for s in selected]
    firings = engine.replay(scenarios, workdir, step=STEP)
    sweeper = _sweeper(corpus)
    grid = min(sc.start for sc in scenarios)
    out = []
    for series, sc in zip(selected, scenarios, strict=True):
        mine = [f for f in firings if f.labels.get("instance", "").startswith(f"{sc.name}/")]
        out.append(score_one(sweeper, series, starts(series, sc.start, mine, grid)))
    return out


def _minutes(value: float | None) -> str:
    return "missed" if value is None else f"{value / 60:.0f}"


def table(scores: list[SeriesScore]) -> str:
    lines = [
        "| series | days | windows | alert starts | at most (goal) | false starts / week "
        "| minutes from window start to alert | raw |",
        "|---|---:|---:|---:|---:|---:|---|---:|",
    ]
    for s in scores:
        delays = ", ".join(_minutes(d) for d in s.delays) or "-"
        mark = " **beyond**" if s.starts > allowed_starts(s) else ""
        lines.append(
            f"| {s.key} | {s.days:.1f} | {s.windows} | {s.starts} | {allowed_starts(s):.1f}{mark} "
            f"| {s.false_starts_per_week:.1f} | {delays} | {s.raw:.3f} |"
        )
    weeks = sum(s.days for s in scores) / 7
    false_total = sum(s.false_starts_per_week * s.days / 7 for s in scores)
    caught = sum(d is not None for s in scores for d in s.delays)
    windows = sum(s.windows for s in scores)
    beyond = [s for s in scores if s.starts > allowed_starts(s)]
    lines += [
        "",
        f"NAB standard score over {len(scores)} series ({windows} labelled windows): **{normalised(scores):.1f}** "
        + (
            "(published on the same series: " + ", ".join(f"{name} {v:.1f}" for name, v in PUBLISHED.items()) + ")"
            if len(scores) == PUBLISHED_SERIES and max(s.days for s in scores) <= 21.0
            else "(the published figures are for the 19 series of <= 21 days alone)"
        ),
        f"windows with an alert start: {caught}/{windows}; false alert starts per week: "
        f"{false_total / weeks if weeks else 0:.2f} ({false_total:.0f} over {weeks:.1f} weeks)",
        f"series within the goal (at most one start per window plus one false start per week): "
        f"{len(scores) - len(beyond)}/{len(scores)}"
        + (
            "; beyond it: " + ", ".join(f"{s.key} ({s.starts} starts, at most {allowed_starts(s):.1f})" for s in beyond)
            if beyond
            else ""
        ),
    ]
    return "\n".join(lines)
