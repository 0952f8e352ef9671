"""Replay a scenario corpus through the real rules with the real PromQL engine, and read off when each alert fired.

1. Every series is backfilled into a fresh TSDB with `promtool tsdb create-blocks-from openmetrics`.
2. Recording rules are backfilled level by level with `promtool tsdb create-blocks-from rules` against a real
   Prometheus serving that TSDB (a rule that reads another rule's output waits for the level that makes it; Prometheus
   is restarted between levels so it loads the new blocks).
3. Each alerting rule's expression is evaluated over the whole range with `query_range` at the evaluation interval,
   and its `for:` and `keep_firing_for:` are applied: an alert fires once its condition has held for `for` without a
   gap, and stays firing until its condition has been false for longer than `keep_firing_for`.

Scenarios are isolated from each other by prefixing every `instance` label with the scenario's name.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
import urllib.parse
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from costwarden.corpus import Scenario
from tests.support.net import free_port, wait_until_ok

RULES = Path(__file__).parents[3] / "rules"
STEP = 60.0
_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_DURATION = re.compile(r"(\d+)([smhdw])")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def seconds(text: str) -> float:
    return float(sum(int(n) * _UNIT[u] for n, u in _DURATION.findall(text)))


@dataclass(frozen=True)
class Firing:
    """One alert episode: fired at `start` (after its for:), last true at `end`, resolved at `resolved` (its rule's
    `keep_firing_for` after `end`)."""

    alertname: str
    labels: dict[str, str]
    start: float
    end: float
    resolved: float


def _prefix(scenario: Scenario) -> Scenario:
    def relabel(labels: dict[str, str]) -> dict[str, str]:
        return {**labels, "instance": f"{scenario.name}/{labels['instance']}"} if "instance" in labels else labels

    for series in scenario.series:
        series.labels = relabel(series.labels)
    for anomaly in scenario.anomalies:
        anomaly.labels = relabel(anomaly.labels)
    for matchers in scenario.forbid:
        if "instance" in matchers:
            matchers["instance"] = f"{re.escape(scenario.name)}/({matchers['instance']})"
    return scenario


BLOCK = 86400.0
"""The backfill's block length: one day (promtool's default is 2 h). Its 2.42 importer re-reads the whole input for
every block it writes, so the input is split into one file per block first: linear instead of quadratic in the corpus
length. Days, not 2 hours: NAB's longest series (329 days) in 2-hour blocks is 8,000 blocks per level, more files
than Prometheus may open here (it refused to start: "too many open files" at a limit of 20,000)."""

Points = list[tuple[str, dict[str, str], list[tuple[float, float]]]]


def _openmetrics(series: Points, path: Path) -> None:
    """Write (metric, labels, [(timestamp, value)]) as OpenMetrics text, one family per metric, for the backfiller."""
    by_metric: dict[str, list[tuple[dict[str, str], list[tuple[float, float]]]]] = {}
    for metric, labels, points in series:
        by_metric.setdefault(metric, []).append((labels, points))
    with path.open("w") as out:
        for metric, members in by_metric.items():
            out.write(f"# TYPE {metric} unknown\n")
            for labels, points in members:
                inner = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()) if k != "__name__")
                prefix = f"{metric}{{{inner}}} "
                out.writelines(f"{prefix}{_number(v)} {t:.0f}\n" for t, v in points if not math.isnan(v))
        out.write("# EOF\n")


def _number(value: float) -> str:
    """OpenMetrics spells infinities +Inf/-Inf (a deviation from a zero expectation is +Inf, and is kept)."""
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(value)


def import_series(series: Points, data: Path, workdir: Path) -> None:
    """Backfill raw samples into the TSDB at `data`, one promtool run per 2-hour block."""
    windows: dict[int, Points] = {}
    for metric, labels, points in series:
        split: dict[int, list[tuple[float, float]]] = {}
        for t, v in points:
            split.setdefault(int(t // BLOCK), []).append((t, v))
        for window, part in split.items():
            windows.setdefault(window, []).append((metric, labels, part))

    def one(window: int) -> None:
        path = workdir / f"import-{window}.om.txt"
        _openmetrics(windows[window], path)
        command = ["promtool", "tsdb", "create-blocks-from", "openmetrics", "--quiet",
                   f"--max-block-duration={BLOCK:.0f}s", str(path), str(data)]  # fmt: skip
        proc = subprocess.run(command, capture_output=True, text=True)
        if proc.returncode:
            raise RuntimeError(f"promtool could not import {path}: {proc.stderr.strip()[-2000:]}")
        path.unlink()

    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(one, sorted(windows)))


def _levels(rules: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Group recording rules so that each level only reads raw series and earlier levels."""
    names = {r["record"] for r in rules}
    deps = {r["record"]: (set(_NAME.findall(r["expr"])) & names) - {r["record"]} for r in rules}
    level: dict[str, int] = {}
    while len(level) < len(rules):
        for r in rules:
            name = r["record"]
            if name not in level and all(d in level for d in deps[name]):
                level[name] = 1 + max((level[d] for d in deps[name]), default=-1)
    out: list[list[dict[str, Any]]] = [[] for _ in range(max(level.values()) + 1)]
    for r in rules:
        out[level[r["record"]]].append(r)
    return out


@contextmanager
def serve(data: Path, workdir: Path, lookback: float = 300.0) -> Iterator[str]:
    """A Prometheus serving the TSDB at `data`, with Prometheus' default 5-minute lookback unless told otherwise.

    The replay passes one evaluation step less a second: a live Prometheus writes a staleness marker when a rule stops
    producing a series (a condition like `x > y` that turns false), so an instant lookup one evaluation later finds
    nothing; backfilled blocks carry no such markers, and with a 5-minute lookback every series the replay recorded
    would live on for 5 minutes after its last sample (a condition true at one 5-minute evaluation would read as true
    at two, and pass a `for: 3m`). The replay queries only at its steps, where every series it wrote has a sample."""
    port = free_port()
    config = workdir / "prometheus.yml"
    config.write_text("global: {evaluation_interval: 1m}\n")
    with (workdir / "prometheus.log").open("a") as log:
        proc = subprocess.Popen(
            [
                "prometheus", f"--config.file={config}", f"--storage.tsdb.path={data}",
                f"--web.listen-address=127.0.0.1:{port}", "--storage.tsdb.retention.time=100y",
                "--query.max-samples=200000000", "--query.timeout=10m", f"--query.lookback-delta={lookback:.0f}s",
            ],
            stdout=subprocess.DEVNULL, stderr=log,
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        try:
            wait_until_ok(f"{url}/-/ready", proc, 60, hint=f"(see {workdir / 'prometheus.log'})")
            yield url
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def _query_range(url: str, expr: str, start: float, end: float, step: float = STEP) -> list[dict[str, Any]]:
    """query_range in chunks below Prometheus' 11,000-points limit; series are merged by labels."""
    merged: dict[str, dict[str, Any]] = {}
    chunk = 10_000 * step
    t = start
    while t <= end:
        stop = min(end, t + chunk)
        query = urllib.parse.urlencode({"query": expr, "start": t, "end": stop, "step": step})
        with urllib.request.urlopen(f"{url}/api/v1/query_range?{query}", timeout=600) as resp:  # noqa: S310
            body = json.load(resp)
        for result in body["data"]["result"]:
            key = json.dumps(result["metric"], sort_keys=True)
            merged.setdefault(key, {"metric": result["metric"], "values": []})["values"] += result["values"]
        t = stop + step
    return list(merged.values())


def firings(
    for_seconds: float,
    labels: dict[str, str],
    name: str,
    series: list[dict[str, Any]],
    keep_seconds: float = 0.0,
    step: float = STEP,
) -> list[Firing]:
    """Apply `for:` and `keep_firing_for:` to a condition's timeline, as Prometheus' rule manager does: a run of true
    steps that lasts `for` starts an episode; while firing, a false stretch no longer than `keep_firing_for` does not
    end it (the condition coming back continues the same episode)."""
    out = []
    for result in series:
        runs: list[list[float]] = []
        for t in sorted(float(t) for t, _ in result["values"]):
            if runs and t - runs[-1][1] <= step * 1.5:
                runs[-1][1] = t
            else:
                runs.append([t, t])
        episode: list[float] | None = None
        for first, last in runs:
            if episode is not None and first - episode[1] <= keep_seconds + step * 0.5:
                episode[1] = last
                continue
            if episode is not None:
                out.append(Firing(name, {**result["metric"], **labels}, *episode, episode[1] + keep_seconds))
                episode = None
            if last - first >= for_seconds:
                episode = [first + for_seconds, last]
        if episode is not None:
            out.append(Firing(name, {**result["metric"], **labels}, *episode, episode[1] + keep_seconds))
    return out


def replay(scenarios: list[Scenario], workdir: Path, step: float = STEP) -> list[Firing]:
    """Every alert episode the rules produce on the corpus, evaluated every `step` seconds."""
    data, start, end = backfill(scenarios, workdir, step)
    alerting = [r for g in _groups() for r in g["rules"] if "alert" in r]
    out: list[Firing] = []
    with serve(data, workdir, lookback=step - 1) as url:
        for rule in alerting:
            series = _query_range(url, rule["expr"], start, end, step)
            keep = seconds(rule.get("keep_firing_for", "0s"))
            out += firings(seconds(rule.get("for", "0s")), rule.get("labels", {}), rule["alert"], series, keep, step)
    return out


def _groups() -> list[dict[str, Any]]:
    return [g for path in sorted(RULES.glob("*/*.yml")) for g in yaml.safe_load(path.read_text())["groups"]]


def backfill(scenarios: list[Scenario], workdir: Path, step: float = STEP) -> tuple[Path, float, float]:
    """A TSDB under `workdir` holding the scenarios' series and every recording rule evaluated over them, as a
    Prometheus running the rules all along would have it: (data directory, first, last timestamp)."""
    scenarios = [_prefix(s) for s in scenarios]
    start = min(s.start for s in scenarios)
    end = max(s.end for s in scenarios)
    if workdir.exists():
        shutil.rmtree(workdir)
    data = workdir / "data"
    data.mkdir(parents=True)
    import_series(
        [(s.metric, s.labels, list(zip(s.timestamps, s.values, strict=True))) for sc in scenarios for s in sc.series],
        data,
        workdir,
    )
    recording = [r for g in _groups() for r in g["rules"] if "record" in r]
    # A rule's value at t is the instant query at t, so one query_range per rule and level is the rule evaluated at
    # every step; Prometheus restarts between levels to load the blocks the previous level wrote.
    for level in _levels(recording):
        recorded: dict[tuple[str, str], tuple[dict[str, str], list[tuple[float, float]]]] = {}
        with serve(data, workdir, lookback=step - 1) as url:
            for rule in level:
                for result in _query_range(url, rule["expr"], start, end, step):
                    # A rule renames its output at every step; a range query keeps, say, the `or` branch with a
                    # name apart from the one without, so merge them as the rule would have recorded them.
                    labels = {k: v for k, v in result["metric"].items() if k != "__name__"} | rule.get("labels", {})
                    key = (rule["record"], json.dumps(labels, sort_keys=True))
                    points = recorded.setdefault(key, (labels, []))[1]
                    points += [(float(t), float(v)) for t, v in result["values"]]
        import_series(
            [(name, labels, sorted(points)) for (name, _), (labels, points) in recorded.items()], data, workdir
        )

    return data, start, end
