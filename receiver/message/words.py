"""What each alert of rules/ says, in every language the receiver writes.

The rules annotate the numbers behind an alert (`values: key=number ...`); the words are here, one table per language,
filled from those numbers and the alert's labels. A Chinese message therefore never passes the rule's English
description through, and every alert says what it does to the invoice: money for what is metered (egress beyond the
included transfer), a share of the plan for what a flat price already pays for (CPU, memory, disk). An alert this
table does not know (a user's own rule) keeps its own annotations.
"""

from __future__ import annotations

import math
import re
import string
from collections.abc import Mapping
from typing import TYPE_CHECKING

from costwarden import catalogue as costwarden_catalogue
from costwarden.resources import METERED_RESOURCES
from receiver.message import catalogue

if TYPE_CHECKING:
    from receiver.facts.model import AlertFact

VALUE = re.compile(r"(?<![\w])([a-z_][a-z0-9_]*)=([-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?)(?![\w.])")
BYTE_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")
LABELS = ("mountpoint", "collector", "provider", "channel", "rule_group", "integration")
"""Labels besides instance/cgroup/resource that name what an alert is about."""


def parse_values(text: str) -> dict[str, float]:
    """`ratio=4 sustained=0.05` → {"ratio": 4.0, "sustained": 0.05}; anything else in the text is ignored (an
    annotation is untrusted), and so are values that are not finite."""
    out = {}
    for key, raw in VALUE.findall(text):
        try:
            value = float(raw)
        except ValueError:
            continue
        if math.isfinite(value):
            out[key] = value
    return out


def duration(seconds: float, language: str) -> str:
    """1 d 3 h 20 min / 1 天 3 小时 20 分钟."""
    return costwarden_catalogue.duration(seconds, language)


def size(value: float, language: str) -> str:
    units = BYTE_UNITS
    i = 0
    while abs(value) >= 1024 and i < len(units) - 1:
        value /= 1024
        i += 1
    return f"{value:.0f} {units[i]}" if i == 0 else f"{value:.1f} {units[i]}"


class _Words(string.Formatter):
    """str.format with the kinds of number a message shows: {x:rate} 0.0312, {x:money} 0.96, {x:pct} 400%,
    {x:bytes} 1.5 GiB, {x:duration} 3 h 20 min, {x:days} 4.5, {x:n} 16."""

    def __init__(self, language: str) -> None:
        self.language = language

    def format_field(self, value: object, format_spec: str) -> str:
        if not isinstance(value, float):
            return str(value)
        if format_spec == "rate":
            return f"{value:.4f}"
        if format_spec == "money":
            return f"{value:.2f}"
        if format_spec == "pct":
            return f"{value * 100:.0f}%"
        if format_spec == "bytes":
            return size(value, self.language)
        if format_spec == "duration":
            return duration(value, self.language)
        if format_spec == "days":
            return f"{value:.1f}"
        return f"{value:.0f}"


def flat(resource: str) -> bool:
    """A resource a flat price already pays for: using more of it costs capacity, not money."""
    return bool(resource) and resource not in METERED_RESOURCES


def key(name: str, severity: str, resource: str) -> str:
    """The table's entry for an alert: the spike on a flat-priced resource and the drop to zero have their own."""
    if name == "CostwardenCostSpike" and flat(resource):
        return name + ":flat"
    if name == "CostwardenCostDrop" and severity == "info":
        return name + ":stopped"
    return name


def words_for(
    name: str,
    severity: str,
    labels: Mapping[str, str],
    values: Mapping[str, float],
    currency: str,
    language: str,
) -> tuple[str, str | None] | None:
    """(summary, description) of a known alert in `language`; the description is None when a number it needs is
    missing (Prometheus could not be asked when the rule fired). None for an alert this table does not know."""
    entry = catalogue.of(language).alerts.get(key(name, severity, labels.get("resource", "")))
    if entry is None:
        return None
    summary, template = entry
    cgroup = labels.get("cgroup", "")
    named: dict[str, object] = {
        **{k: labels[k] for k in ("instance", *LABELS) if labels.get(k)},
        "workload": catalogue.of(language).whole_host if cgroup in ("", "/") else cgroup,
        "resource": catalogue.of(language).resources.get(labels.get("resource", ""), labels.get("resource", "")),
        "cur": currency,
    }
    # The labels' words win over a number of the same name; a label the sentence needs and the alert lacks, or a
    # number the rule could not annotate, leaves the summary alone rather than a sentence with a hole.
    fields = {**{k: float(v) for k, v in values.items()}, **named}
    try:
        return summary, _Words(language).format(template, **fields)
    except (KeyError, IndexError):
        return summary, None


def texts(alert: AlertFact, currency: str, language: str) -> tuple[str, str]:
    """The alert's (summary, description) as a message shows them: from this table in `language` when it knows the
    alert (the summary alone if a number is missing), else the rule's own annotations."""
    labels = {"instance": alert.instance, "cgroup": alert.cgroup, "resource": alert.resource, **alert.labels}
    known = words_for(alert.name, alert.severity, labels, alert.values, currency, language)
    if known is None:
        return alert.summary or "", alert.description or ""
    return known[0], known[1] or ""
