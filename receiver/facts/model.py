"""The facts an analysis rests on, and the arithmetic behind them.

Every delta, percentage and projection is computed here, in Python, and rounded to what a person reads; the model is
only asked to explain these numbers, never to produce new ones, and the grounding check holds it to that.
Untrusted strings (labels, annotations, container names) are cleaned and clipped here, once, before they reach a
prompt, a log or a message.
"""

from __future__ import annotations

import math
import re
import unicodedata

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, Field

from receiver.facts.prometheus import PrometheusError, Unanswered
from receiver.intake import Webhook
from receiver.message import words as alert_words

MAX_ALERTS = 10
"""Alerts of one group listed individually; the rest are counted. Keeps the prompt small on a 3B model."""
DESCRIBED = 3
"""Of those, how many carry their summary and description (in a group they mostly repeat each other)."""
LABEL_CHARS = 64
TEXT_CHARS = 400


ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|.)")


def clean(text: str, limit: int = LABEL_CHARS) -> str:
    """Printable text only (no ANSI escapes, no control or bidi characters), clipped with an ellipsis."""
    text = ANSI.sub("", text)
    kept = "".join(ch for ch in text if ch in "\n" or unicodedata.category(ch)[0] not in "C")
    kept = re.sub(r"\s+", " ", kept).strip()
    return kept if len(kept) <= limit else kept[: limit - 1] + "…"  # data, not prose: as much of it as fits


def clip(text: str, limit: int) -> str:
    """Prose in at most `limit` characters; a longer text is cut where a word ends (if one ends in its second half:
    Chinese has no spaces) and ends with an ellipsis, so that a cut is seen and no word is left as a stump."""
    if len(text) <= limit:
        return text
    if limit < 1:
        return ""
    cut = text[: limit - 1]
    if text[limit - 1] != " ":  # the cut falls inside a word: back to where the last whole one ends
        space = cut.rfind(" ")
        cut = cut[:space] if space >= limit // 2 else cut
    return cut.rstrip(" ,;:") + "…"


def sig(value: float, digits: int = 4) -> float:
    """Round to significant digits: 0.012345 → 0.01235, 1234.5 → 1235 (what a message shows and the model sees)."""
    if value == 0 or not math.isfinite(value):
        return 0.0
    return round(value, digits - 1 - math.floor(math.log10(abs(value))))


def change_pct(now: float, base: float) -> float | None:
    """Percent change from base to now; None when there is no base to compare with."""
    if base <= 0:
        return None
    return sig((now - base) / base * 100, 3)


class AlertFact(BaseModel):
    name: str
    severity: str
    status: str
    instance: str
    cgroup: str
    resource: str
    summary: str | None
    description: str | None
    started: str
    labels: dict[str, str] = Field(default_factory=dict)
    """What else the alert is about (mountpoint, collector, provider, channel ...), cleaned."""
    values: dict[str, float] = Field(default_factory=dict)
    """The numbers the rule annotated (`values`), from which the message's words are written in its language."""


class SeriesStats(BaseModel):
    window: str
    now: float
    min: float
    mean: float
    max: float
    now_vs_mean_pct: float | None


class Workload(BaseModel):
    name: str
    cost_per_hour: float
    baseline_per_hour: float
    change_pct: float | None
    extra_per_day: float


class ResourceCost(BaseModel):
    resource: str
    cost_per_hour: float
    share_pct: float


class Bill(BaseModel):
    month_to_date: float
    forecast_period_end: float
    days_left: float
    budget: float | None
    forecast_vs_budget_pct: float | None
    egress_overage_forecast: float = 0.0
    """Of the forecast, what egress beyond the included quota will cost by period end."""


class Egress(BaseModel):
    used_gib: float
    forecast_gib: float
    included_gib: float | None
    forecast_vs_included_pct: float | None

    @property
    def metered(self) -> bool:
        """Billed by the GB from the first one (no quota): its money is spend, not a quota passed."""
        return self.included_gib == 0


class DiagnosticFact(BaseModel):
    """A read-only diagnostic the exporter ran for this alert (docs/actions.md): what it saw, line by line."""

    name: str
    state: str
    lines: list[str] = Field(default_factory=list)
    reason: str | None = None


class ActionFact(BaseModel):
    """A remediation from actions.yml considered for this alert, and what became of it."""

    name: str
    state: str
    """dry_run, executed, failed, timeout, refused (or unknown after a crash mid-run)."""
    command: str
    reason: str | None = None
    output: str | None = None
    button: bool = False
    """actions.yml lets a person run it from a Telegram button, after a confirmation tap."""


class ContextProblem(BaseModel):
    kind: Unanswered
    url: str


def unanswered(exc: PrometheusError) -> tuple[str, ContextProblem | None]:
    """(context_error, context_problem) of facts Prometheus did not complete: its words for the logs and the model,
    its kind and address for the message."""
    return clean(str(exc), 200), ContextProblem(kind=exc.kind, url=exc.url) if exc.url else None


def context_said(error: str | None, problem: ContextProblem | None, words: dict[str, str]) -> str:
    """Why Prometheus told us nothing more, in the words' language (`ctx_<kind>`; the English error without kind)."""
    return words[f"ctx_{problem.kind}"].format(url=problem.url) if problem is not None else error or ""


class Facts(BaseModel):
    """What we know about one alert group; the model's whole world."""

    status: str
    alerts: list[AlertFact]
    alerts_total: int
    currency: str = ""
    alerted_series: list[SeriesStats] = Field(default_factory=list)
    top_workloads: list[Workload] = Field(default_factory=list)
    by_resource: list[ResourceCost] = Field(default_factory=list)
    bill: Bill | None = None
    egress: Egress | None = None
    money_at_stake_per_day: float | None = None
    context_error: str | None = None
    """Why Prometheus told us nothing more, in English (the model reads it)."""
    context_problem: ContextProblem | None = None
    """The same as a kind and an address, for the message in its reader's language (None in notifications stored
    before it existed: context_error is said then)."""
    diagnostics: list[DiagnosticFact] = Field(default_factory=list)
    actions: list[ActionFact] = Field(default_factory=list)
    actions_error: str | None = None

    def names(self) -> set[str]:
        """Every workload, resource, instance, action and process name we supplied: the only names an answer may
        mention (a diagnostic's words count: it names the processes and files it saw)."""
        out = {w.name for w in self.top_workloads} | {r.resource for r in self.by_resource}
        for alert in self.alerts:
            out |= {alert.cgroup, alert.resource, alert.instance, alert.name}
        out |= {a.name for a in self.actions} | {d.name for d in self.diagnostics}
        for d in self.diagnostics:
            for line in d.lines:
                out |= set(re.findall(r"[\w./@-]+", line))
        return {n for n in out if n}


def alert_facts(hook: Webhook) -> list[AlertFact]:
    return [
        AlertFact(
            name=clean(a.labels.get("alertname", "")),
            severity=clean(a.labels.get("severity", "")),
            status=a.status,
            instance=clean(a.labels.get("instance", "")),
            cgroup=clean(a.labels.get("cgroup", "")),
            resource=clean(a.labels.get("resource", "")),
            summary=clean(a.annotations.get("summary", ""), TEXT_CHARS) if i < DESCRIBED else None,
            description=clean(a.annotations.get("description", ""), TEXT_CHARS) if i < DESCRIBED else None,
            started=a.startsAt.strftime("%Y-%m-%d %H:%M UTC"),
            labels={k: clean(a.labels[k]) for k in alert_words.LABELS if k in a.labels},
            values=alert_words.parse_values(a.annotations.get("values", "")[:TEXT_CHARS]),
        )
        for i, a in enumerate(hook.alerts[:MAX_ALERTS])
    ]


def series_stats(window: str, values: npt.NDArray[np.float64]) -> SeriesStats | None:
    """min / mean / max / now of a cost-per-hour series; None when the window holds no samples."""
    values = values[np.isfinite(values)]
    if values.size == 0:
        return None
    now, mean = float(values[-1]), float(values.mean())
    return SeriesStats(
        window=window,
        now=sig(now),
        min=sig(float(values.min())),
        mean=sig(mean),
        max=sig(float(values.max())),
        now_vs_mean_pct=change_pct(now, mean),
    )


def workloads(now: dict[str, float], baseline: dict[str, float], top: int = 5) -> list[Workload]:
    """The most expensive workloads now, each against its own baseline (average before the alert started)."""
    ranked = sorted(now.items(), key=lambda kv: kv[1], reverse=True)[:top]
    return [
        Workload(
            name=clean(name),
            cost_per_hour=sig(cost),
            baseline_per_hour=sig(baseline.get(name, 0.0)),
            change_pct=change_pct(cost, baseline.get(name, 0.0)),
            extra_per_day=sig(max(0.0, cost - baseline.get(name, 0.0)) * 24),
        )
        for name, cost in ranked
    ]


def share(part: float, whole: float) -> float:
    return sig(part / whole * 100, 3) if whole else 0.0


def resources(now: dict[str, float]) -> list[ResourceCost]:
    total = sum(now.values())
    return [
        ResourceCost(resource=clean(name), cost_per_hour=sig(cost), share_pct=share(cost, total))
        for name, cost in sorted(now.items(), key=lambda kv: kv[1], reverse=True)
    ]


def slope_per_second(times: npt.NDArray[np.float64], values: npt.NDArray[np.float64]) -> float:
    """Least-squares pace of a period-to-date series (like PromQL deriv()); 0 with fewer than two samples."""
    ok = np.isfinite(values)
    if ok.sum() < 2:
        return 0.0
    slope = np.polyfit(times[ok] - times[ok][0], values[ok], 1)[0]
    return max(0.0, float(slope))


def bill(
    month_to_date: float,
    fixed_period: float,
    overage_so_far: float,
    overage_pace: float,
    seconds_left: float,
    budget: float | None,
) -> Bill:
    """The invoice at period end: the time-based part as the exporter prices it (caps included) plus egress overage so
    far and at its recent pace for the rest of the period, the same model as the forecast recording rule."""
    overage = overage_so_far + overage_pace * max(0.0, seconds_left)
    forecast = fixed_period + overage
    return Bill(
        month_to_date=sig(month_to_date),
        forecast_period_end=sig(forecast),
        days_left=sig(max(0.0, seconds_left) / 86400, 2),
        budget=None if budget is None else sig(budget),
        forecast_vs_budget_pct=None if not budget else sig(forecast / budget * 100, 3),
        egress_overage_forecast=sig(overage),
    )


def egress(used_bytes: float, pace_bytes_per_second: float, seconds_left: float, included: float | None) -> Egress:
    gib = float(2**30)
    forecast = used_bytes + pace_bytes_per_second * max(0.0, seconds_left)
    return Egress(
        used_gib=sig(used_bytes / gib),
        forecast_gib=sig(forecast / gib),
        included_gib=None if included is None else sig(included / gib),
        forecast_vs_included_pct=None if not included else sig(forecast / included * 100, 3),
    )


KINDS = {
    "CostwardenCostSpike": "cost", "CostwardenCostDrift": "cost", "CostwardenCostDrop": "drop",
    "CostwardenBudgetExceeded": "bill", "CostwardenBudgetForecastExceeded": "bill",
    "CostwardenProviderBillDiverges": "bill", "CostwardenProviderTransferForecast": "bill",
    "CostwardenEgressQuotaForecast": "bill", "CostwardenDiskFillForecast": "disk", "CostwardenSendTest": "test",
}  # fmt: skip
"""What an alert is about; every other alert of rules/ (all named Costwarden…) is about costwarden's own watching
(`watch`), and an alert from anybody else's rules (node_exporter's, say, routed to the receiver) is `other`."""


def alert_kind(name: str) -> str:
    """cost (spend above normal), drop (spend fell), bill (invoice, budget, quota), disk, test (send-test's sample),
    watch (costwarden's own monitoring is impaired) or other (not costwarden's: nothing is known of it): what a
    message may say about it, and whether money is at stake."""
    return KINDS.get(name, "watch" if name.startswith("Costwarden") else "other")


def money_at_stake(facts: Facts) -> float | None:
    """Per day, what this alert costs beyond normal: the alerted series' current rate above its 7-day mean, else the
    worst workload's extra, else the forecast overshoot of the budget spread over the days left. None for alerts that
    are not about spending more (a drop, a disk, costwarden's own health): no money is at stake there."""
    if not facts.alerts or alert_kind(facts.alerts[0].name) not in ("cost", "bill"):
        return None
    series = {s.window: s for s in facts.alerted_series}
    if "24h" in series and "7d" in series and series["24h"].now > series["7d"].mean:
        return sig((series["24h"].now - series["7d"].mean) * 24)
    extras = [w.extra_per_day for w in facts.top_workloads if w.extra_per_day > 0]
    if extras:
        return max(extras)
    b = facts.bill
    if b is not None and b.budget and b.forecast_period_end > b.budget and b.days_left > 0:
        return sig((b.forecast_period_end - b.budget) / max(b.days_left, 1))
    return None
