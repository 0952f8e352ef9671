"""Compare alert episodes with a scenario's labelled anomaly windows: caught, time to detect, false alerts."""

from __future__ import annotations

import re
import statistics
from dataclasses import dataclass

from costwarden.corpus import Scenario
from tests.support.detection.engine import Firing

PAGING = ("warning", "critical")
GRACE = 3600.0
"""An alert that fires within an hour after an anomaly's window still counts as catching it."""


@dataclass
class Outcome:
    scenario: str
    anomaly: str
    expect: str
    caught: bool
    to_warning: float | None
    to_critical: float | None
    in_time: bool


@dataclass
class ScenarioScore:
    name: str
    normal: bool
    days: float
    outcomes: list[Outcome]
    false_alerts: list[Firing]
    forbidden: list[Firing]


def _matches(labels: dict[str, str], wanted: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in wanted.items())


def score(scenario: Scenario, all_firings: list[Firing]) -> ScenarioScore:
    mine = [f for f in all_firings if f.labels.get("instance", "").startswith(f"{scenario.name}/")]
    outcomes = []
    for anomaly in scenario.anomalies:
        hits = [
            f
            for f in mine
            if f.alertname == anomaly.alert
            and _matches(f.labels, anomaly.labels)
            and f.labels.get("severity") in PAGING
            and anomaly.start <= f.start <= anomaly.end + GRACE
        ]
        warn = min((f.start - anomaly.start for f in hits), default=None)
        crit = min((f.start - anomaly.start for f in hits if f.labels["severity"] == "critical"), default=None)
        caught = crit is not None if anomaly.expect == "critical" else warn is not None
        in_time = (anomaly.warning_within is None or (warn is not None and warn <= anomaly.warning_within)) and (
            anomaly.critical_within is None or (crit is not None and crit <= anomaly.critical_within)
        )
        outcomes.append(Outcome(scenario.name, anomaly.name, anomaly.expect, caught, warn, crit, in_time))
    false_alerts = [f for f in mine if scenario.normal and f.labels.get("severity") in PAGING]
    forbidden = [
        f
        for f in mine
        for matchers in scenario.forbid
        if all(re.fullmatch(v, {**f.labels, "alertname": f.alertname}.get(k, "")) for k, v in matchers.items())
    ]
    return ScenarioScore(
        scenario.name, scenario.normal, (scenario.end - scenario.start) / 86400, outcomes, false_alerts, forbidden
    )


def _minutes(value: float | None) -> str:
    return "-" if value is None else f"{value / 60:.0f} min"


def table(scores: list[ScenarioScore]) -> str:
    lines = [
        "| scenario | anomaly | must reach | caught | to warning | to critical | in time | false paging alerts "
        "| forbidden alerts |",
        "|---|---|---|---|---:|---:|---|---:|---:|",
    ]
    for s in scores:
        rows = s.outcomes or [None]
        for o in rows:
            lines.append(
                f"| {s.name} | {o.anomaly if o else '(normal)' if s.normal else '-'} | {o.expect if o else '-'} "
                f"| {('yes' if o.caught else 'MISSED') if o else '-'} | {_minutes(o.to_warning) if o else '-'} "
                f"| {_minutes(o.to_critical) if o else '-'} | {('yes' if o.in_time else 'LATE') if o else '-'} "
                f"| {len(s.false_alerts) if s.normal else '-'} | {len(s.forbidden)} |"
            )
    outcomes = [o for s in scores for o in s.outcomes]
    warnings = [o.to_warning for o in outcomes if o.to_warning is not None]
    normal_weeks = sum(s.days for s in scores if s.normal) / 7
    false_total = sum(len(s.false_alerts) for s in scores)
    lines += [
        "",
        f"caught {sum(o.caught for o in outcomes)}/{len(outcomes)} anomalies; "
        f"median time to first warning {_minutes(statistics.median(warnings)) if warnings else '-'}; "
        f"false warning/critical alerts per normal week {false_total / normal_weeks if normal_weeks else 0:.2f} "
        f"({false_total} over {normal_weeks:.1f} weeks); "
        f"forbidden alerts fired {sum(len(s.forbidden) for s in scores)}",
    ]
    return "\n".join(lines)
