"""The scenario corpus format: one directory per scenario, a `scenario.yml` and one CSV (`timestamp,value`) per series.

Anyone can bring their own: export each series from their Prometheus as CSV (Unix seconds, value; a blank value or
a missing row is a gap), list it in `scenario.yml` with its metric name, labels and type, and mark the windows where
something was really wrong. `python -m bench.detection --corpus DIR` then backtests the rules on that history.

```yaml
name: miner
description: CPU x3.5 in one container
normal: false            # true: no anomaly; counted for false alerts per week
series:
  - {file: series/0.csv, metric: costwarden_cost_total, type: counter,
     labels: {instance: vps1, job: costwarden-exporter, resource: cpu, cgroup: app}}
anomalies:
  - {name: miner, start: 1772460000, end: 1772481600, alert: CostwardenCostSpike, expect: critical,
     labels: {instance: vps1, cgroup: app, resource: cpu}, warning_within: 900, critical_within: 1800}
forbid:                  # alerts that must never fire here: label -> regex, matched against ALERTS
  - {alertname: CostwardenCostSpike}
```
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


@dataclass
class Series:
    metric: str
    labels: dict[str, str]
    kind: str  # "counter" or "gauge"
    timestamps: list[float]
    values: list[float]  # NaN = gap


@dataclass
class Anomaly:
    name: str
    start: float
    end: float
    alert: str
    expect: str  # the severity that must be reached: "warning" or "critical"
    labels: dict[str, str]
    warning_within: float | None = None
    critical_within: float | None = None


@dataclass
class Scenario:
    name: str
    description: str
    normal: bool
    series: list[Series]
    anomalies: list[Anomaly] = field(default_factory=list)
    forbid: list[dict[str, str]] = field(default_factory=list)
    """Alerts that must never fire here, as label -> regex matchers on ALERTS (e.g. alertname, instance)."""

    @property
    def start(self) -> float:
        return min(s.timestamps[0] for s in self.series)

    @property
    def end(self) -> float:
        return max(s.timestamps[-1] for s in self.series)


def write(scenario: Scenario, directory: Path) -> None:
    (directory / "series").mkdir(parents=True, exist_ok=True)
    entries = []
    for i, series in enumerate(scenario.series):
        name = f"series/{i:04d}.csv"
        with (directory / name).open("w", newline="") as fh:
            out = csv.writer(fh)
            out.writerow(["timestamp", "value"])
            for ts, value in zip(series.timestamps, series.values, strict=True):
                out.writerow([f"{ts:.0f}", "" if math.isnan(value) else repr(value)])
        entries.append({"file": name, "metric": series.metric, "type": series.kind, "labels": series.labels})
    doc: dict[str, Any] = {
        "name": scenario.name,
        "description": scenario.description,
        "normal": scenario.normal,
        "series": entries,
        "anomalies": [vars(a) for a in scenario.anomalies],
        "forbid": scenario.forbid,
    }
    (directory / "scenario.yml").write_text(yaml.safe_dump(doc, sort_keys=False, width=120))


def read(directory: Path) -> Scenario:
    doc = yaml.safe_load((directory / "scenario.yml").read_text())
    series = []
    for entry in doc["series"]:
        timestamps, values = [], []
        with (directory / entry["file"]).open(newline="") as fh:
            for row in csv.DictReader(fh):
                timestamps.append(float(row["timestamp"]))
                values.append(float(row["value"]) if row["value"].strip() else math.nan)
        series.append(Series(entry["metric"], dict(entry["labels"]), entry.get("type", "gauge"), timestamps, values))
    return Scenario(
        name=doc["name"],
        description=doc.get("description", ""),
        normal=bool(doc.get("normal", False)),
        series=series,
        anomalies=[Anomaly(**a) for a in doc.get("anomalies", [])],
        forbid=[dict(f) for f in doc.get("forbid", [])],
    )


def read_all(root: Path) -> list[Scenario]:
    return [read(d) for d in sorted(p.parent for p in root.glob("*/scenario.yml"))]
