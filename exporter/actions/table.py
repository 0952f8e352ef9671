"""actions.yml: which diagnostics and remediations exist and which alerts they answer; validated at start-up."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

from exporter.config import ConfigError, _spec, build, explain, on_its_line, read_yaml

KINDS = ("top_processes", "top_talkers", "grown_files", "recent_containers")
SEVERITIES = ("info", "warning", "critical")
NAME = r"[a-z][a-z0-9_]{0,40}"
PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_]*)\}")


@dataclasses.dataclass(frozen=True)
class Diagnostic:
    name: str = _spec(pattern=NAME)
    kind: str = _spec(pattern="|".join(KINDS))
    top: int = _spec(10, ge=1, le=50)
    seconds: float = _spec(1.0, gt=0, le=5)
    """top_processes, top_talkers: how long to watch (the rate is measured over it)."""
    paths: tuple[str, ...] = ()
    """grown_files: where to look (never followed across filesystems or symlinks)."""
    within_hours: float = _spec(24.0, gt=0, le=24 * 31)
    """grown_files, recent_containers: how recent a change or start counts."""


@dataclasses.dataclass(frozen=True)
class Param:
    label: str = _spec(pattern=r"[a-zA-Z_][a-zA-Z0-9_]*")
    pattern: str = _spec(pattern=r".+")
    """A label value must match this in full, or the action is refused."""


@dataclasses.dataclass(frozen=True)
class Remediation:
    name: str = _spec(pattern=NAME)
    command: tuple[str, ...] = _spec(pattern=r"[^\x00\n]+")
    """The argument list; `{label}` placeholders are replaced by validated label values, never in the first."""
    params: tuple[Param, ...] = ()
    enabled: bool = False
    """False: dry-run only — the message says exactly what would run."""
    button: bool = False
    """True: a person may run it from a Telegram button after a confirmation tap, even with `enabled: false` (the
    patterns and `min_severity` still hold); the receiver says who in the request, the exporter logs it."""
    min_severity: str = _spec("critical", pattern="|".join(SEVERITIES))
    timeout_seconds: float = _spec(30.0, gt=0, le=300)


@dataclasses.dataclass(frozen=True)
class Rule:
    alert: str = _spec(pattern=r"[A-Za-z][A-Za-z0-9_]*")
    resource: str = ""
    """Only alerts with this `resource` label ("": any)."""
    diagnostics: tuple[str, ...] = ()
    remediation: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class Actions:
    diagnostics: tuple[Diagnostic, ...] = ()
    remediation: tuple[Remediation, ...] = ()
    alerts: tuple[Rule, ...] = ()

    def for_alert(self, labels: dict[str, str]) -> tuple[list[Diagnostic], list[Remediation]]:
        """The actions the first matching rule names for an alert with these labels."""
        for rule in self.alerts:
            if rule.alert == labels.get("alertname") and rule.resource in ("", labels.get("resource", "")):
                diagnostics = {d.name: d for d in self.diagnostics}
                remediation = {r.name: r for r in self.remediation}
                return [diagnostics[n] for n in rule.diagnostics], [remediation[n] for n in rule.remediation]
        return [], []

    def find(self, name: str) -> Diagnostic | Remediation | None:
        every: list[Diagnostic | Remediation] = [*self.diagnostics, *self.remediation]
        return next((a for a in every if a.name == name), None)


def _check(actions: Actions) -> tuple[str, str] | None:
    """(field, reason) of the first problem the field types alone cannot catch."""
    names = [d.name for d in actions.diagnostics] + [r.name for r in actions.remediation]
    if len(set(names)) != len(names):
        return "", explain("unique_names", names=names)
    for i, r in enumerate(actions.remediation):
        if not r.command:
            return f"remediation[{i}].command", explain("command_required")
        if PLACEHOLDER.search(r.command[0]):
            return f"remediation[{i}].command[0]", explain("program_fixed")
        declared = {p.label for p in r.params}
        for j, p in enumerate(r.params):
            try:
                re.compile(p.pattern)
            except re.error as exc:
                return f"remediation[{i}].params[{j}].pattern", explain("not_regex", error=exc)
        for arg in r.command:
            for label in PLACEHOLDER.findall(arg):
                if label not in declared:
                    return f"remediation[{i}].command", explain("no_param", label=label)
    diagnostics = {d.name for d in actions.diagnostics}
    remediation = {r.name for r in actions.remediation}
    for i, rule in enumerate(actions.alerts):
        for field, known in (("diagnostics", diagnostics), ("remediation", remediation)):
            unknown = sorted(set(getattr(rule, field)) - known)
            if unknown:
                return f"alerts[{i}].{field}", explain("no_action", field=field, names=", ".join(unknown))
    return None


DEFAULT: dict[str, Any] = {
    "diagnostics": [
        {"name": "top_processes", "kind": "top_processes"},
        {"name": "top_talkers", "kind": "top_talkers"},
        {"name": "grown_files", "kind": "grown_files", "paths": ["/var/log", "/var/lib/docker/containers"]},
        {"name": "recent_containers", "kind": "recent_containers"},
    ],
    "alerts": [
        {"alert": "CostwardenCostSpike", "resource": "cpu", "diagnostics": ["top_processes", "recent_containers"]},
        {"alert": "CostwardenCostSpike", "resource": "memory", "diagnostics": ["top_processes", "recent_containers"]},
        {"alert": "CostwardenCostSpike", "resource": "network_egress",
         "diagnostics": ["top_talkers", "recent_containers"]},
        {"alert": "CostwardenCostSpike", "resource": "disk", "diagnostics": ["grown_files"]},
        {"alert": "CostwardenCostDrift", "resource": "disk", "diagnostics": ["grown_files"]},
        {"alert": "CostwardenCostDrift", "diagnostics": ["top_processes", "recent_containers"]},
        {"alert": "CostwardenEgressQuotaForecast", "diagnostics": ["top_talkers"]},
        {"alert": "CostwardenDiskFillForecast", "diagnostics": ["grown_files"]},
        {"alert": "CostwardenBudgetForecastExceeded", "diagnostics": ["top_processes", "recent_containers"]},
        {"alert": "CostwardenBudgetExceeded", "diagnostics": ["top_processes", "recent_containers"]},
    ],
}  # fmt: skip
"""Read-only diagnostics for the cost alerts; no remediation exists until the owner writes one."""


def load(path: Path | None) -> Actions:
    source = str(path) if path else "<embedded default actions>"
    raw: Any = DEFAULT if path is None else read_yaml(path)
    try:
        actions = build(Actions, raw, source)
        problem = _check(actions)
        if problem:
            raise ConfigError.at(source, *problem)
    except ConfigError as exc:
        if path is None:
            raise
        raise on_its_line(exc, path) from exc
    return actions
