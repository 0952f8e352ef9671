"""Write promtool test files (`promtool test rules`) for every scenario of the corpus.

    python -m tests.rules.generate OUTDIR

Each file feeds one scenario's generated series (1-minute interval, days long) to the real rules and asserts on
the ALERTS series: nothing warning/critical before the anomaly (and nowhere on a normal scenario's last day), the
expected alert with its exact labels by each deadline, and forbidden alerts never.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

import yaml

from costwarden.corpus import Scenario
from tests.support.detection.synth import DAY, build

RULES = Path(__file__).parents[2] / "rules"
GROUP_ORDER = [
    "costwarden-tunables",
    "costwarden-cost",
    "costwarden-forecast",
    "costwarden-cost-alerts",
    "costwarden-forecast-alerts",
    "costwarden-watcher-alerts",
]
PAGING = 'ALERTS{alertstate="firing",severity=~"warning|critical"}'


def _labels(metric: str, labels: dict[str, str]) -> str:
    inner = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return f"{metric}{{{inner}}}"


def _values(values: list[float]) -> str:
    return " ".join("_" if math.isnan(v) else f"{v:.10g}" for v in values)


def _minute(scenario: Scenario, ts: float) -> int:
    return round((ts - scenario.start) / 60)


def _none(expr: str, minute: int) -> dict[str, Any]:
    return {"expr": expr, "eval_time": f"{minute}m", "exp_samples": []}


def promtool_test(scenario: Scenario, rule_files: list[str]) -> dict[str, Any]:
    last = _minute(scenario, scenario.end)
    checks: list[dict[str, Any]] = []
    if scenario.normal:
        checks += [_none(PAGING, m) for m in range(max(0, last - DAY), last + 1, 30)]
    for anomaly in scenario.anomalies:
        onset = _minute(scenario, anomaly.start)
        checks += [_none(PAGING, m) for m in (onset - 180, onset - 60, onset - 1) if m >= 0]
        deadlines = [("warning", anomaly.warning_within), ("critical", anomaly.critical_within)]
        if not any(within for _, within in deadlines):
            deadlines = [(anomaly.expect, float(_minute(scenario, anomaly.end) - onset - 1) * 60)]
        for severity, within in deadlines:
            if within is None:
                continue
            labels = {**anomaly.labels, "alertname": anomaly.alert, "alertstate": "firing", "severity": severity}
            checks.append(
                {
                    "expr": _labels("ALERTS", {"alertname": anomaly.alert, "alertstate": "firing", "severity": severity,
                                               **{k: anomaly.labels[k] for k in ("instance", "cgroup", "resource")
                                                  if k in anomaly.labels}}),
                    "eval_time": f"{onset + round(within / 60)}m",
                    "exp_samples": [{"labels": _labels("ALERTS", labels), "value": 1}],
                }
            )  # fmt: skip
    for matchers in scenario.forbid:
        selector = ",".join(['alertstate="firing"', *(f'{k}=~"{v}"' for k, v in sorted(matchers.items()))])
        step = 5 if last < DAY else 60
        checks += [_none(f"ALERTS{{{selector}}}", m) for m in range(0, last + 1, step)]
    return {
        "rule_files": rule_files,
        # Without an explicit order promtool evaluates groups in map order, so an alert may or may not see the
        # recording rules of the same step: recording first, always.
        "group_eval_order": GROUP_ORDER,
        # Series have 1-minute resolution, but promtool re-evaluates every rule at every evaluation step (about
        # 0.4 ms per rule and step), so days of 1-minute steps would take minutes per scenario; a 5-minute beat
        # keeps each file to seconds. Deadlines are checked at 5-minute granularity, which only makes them stricter.
        "evaluation_interval": "5m",
        "tests": [
            {
                "name": f"{scenario.name}: {scenario.description}",
                "interval": "1m",
                "input_series": [
                    {"series": _labels(s.metric, s.labels), "values": _values(s.values)} for s in scenario.series
                ],
                "promql_expr_test": checks,
            }
        ],
    }


def write_all(outdir: Path) -> list[Path]:
    outdir.mkdir(parents=True, exist_ok=True)
    rule_files = sorted(str(p.resolve()) for p in RULES.glob("*/*.yml"))
    written = []
    for scenario in build():
        path = outdir / f"{scenario.name}.test.yml"
        path.write_text(yaml.safe_dump(promtool_test(scenario, rule_files), sort_keys=False, width=10**9))
        written.append(path)
    return written


if __name__ == "__main__":
    for written in write_all(Path(sys.argv[1])):
        print(written)
