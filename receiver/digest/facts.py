"""The spend digest: where the money went over a day or a week, said every morning even when all is quiet.

Every figure is computed here from Prometheus, in Python: spend is `increase()` of the exporter's cost counters over
the period's local days, compared with the period before and, for a day, the same weekday a week earlier; the invoice
and egress come from the same function as an alert's facts; the alerts are read back from Prometheus's own `ALERTS`
series. The verdict is a fixed rule over those numbers (below), so the model can only comment on it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Literal

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, Field

from receiver.digest.schedule import Period
from receiver.facts import model as f
from receiver.facts.gather import bill_and_egress
from receiver.facts.prometheus import Prometheus, PrometheusError

log = logging.getLogger("receiver.digest")

SPEND = "sum by ({by}) (increase(costwarden_cost_total{{{sel}}}[{seconds}s]))"
ALERTS = 'ALERTS{alertstate="firing",alertname!="CostwardenWatchdog"}'
"""The watchdog always fires (the dead man's switch): never an alert of the period."""
ALERT_STEP = 60.0
"""Resolution of alert durations; a week is 10,080 points, inside Prometheus's 11,000 per series."""
SEVERITY_RANK = {"critical": 0, "warning": 1, "info": 2}
RISE_PCT = 25.0
"""Spend up this much against every comparison is worth a look ..."""
MATERIAL_PLAN_FRACTION = 0.05
"""... when the extra money is at least this fraction of the plan's price over the period (the warning alerts'
materiality floor), so a cent doubling on an idle server stays `normal`."""
NEAR_PCT = 90.0
"""Budget or included egress forecast to be this used by period end: watch."""

Verdict = Literal["normal", "watch", "act"]


class SpendLine(BaseModel):
    name: str
    instance: str = ""
    amount: float
    previous: float | None = None
    change_pct: float | None = None


class HostBill(BaseModel):
    instance: str
    bill: f.Bill | None
    egress: f.Egress | None


class AlertSpan(BaseModel):
    """One alert over the period: how many separate times it fired and for how long in all."""

    name: str
    severity: str
    instance: str
    subject: str
    times: int
    minutes: float


class Reason(BaseModel):
    """Why the verdict is what it is: a code the renderer words in each language, with its numbers."""

    code: Literal["critical_alert", "over_budget", "warning_alert", "egress_overage", "spend_up", "budget_near",
                  "egress_near", "no_data", "unreadable", "quiet"]  # fmt: skip
    verdict: Verdict
    subject: str = ""
    values: dict[str, float] = Field(default_factory=dict)


class DigestFacts(BaseModel):
    kind: Literal["day", "week"]
    first_day: str
    last_day: str
    timezone: str
    currency: str = ""
    total: float | None = None
    previous: float | None = None
    change_pct: float | None = None
    week_before: float | None = None
    """For a day: the same weekday a week earlier (the weekly shape makes it the fairer comparison)."""
    week_before_change_pct: float | None = None
    by_resource: list[SpendLine] = Field(default_factory=list)
    top_workloads: list[SpendLine] = Field(default_factory=list)
    hosts: list[HostBill] = Field(default_factory=list)
    alerts: list[AlertSpan] = Field(default_factory=list)
    alerts_more: int = 0
    verdict: Verdict = "normal"
    reasons: list[Reason] = Field(default_factory=list)
    context_error: str | None = None
    context_problem: f.ContextProblem | None = None
    expected: dict[str, int] = Field(default_factory=dict)
    """Alert name -> pages marked expected with the chat's button over the last 30 days (what to tune first)."""

    def names(self) -> set[str]:
        """Every name supplied: the only ones a commentary may mention."""
        out = {x.name for x in self.by_resource + self.top_workloads} | {h.instance for h in self.hosts}
        out |= {a.name for a in self.alerts} | {a.instance for a in self.alerts}
        return {n for n in out if n}


# --- the arithmetic (pure) ---------------------------------------------------------------------------------------


def lines(now: dict[tuple[str, str], float], before: dict[tuple[str, str], float], top: int) -> list[SpendLine]:
    """Spend per (instance, name), most first, each with its change against the period before."""
    ranked = sorted(now.items(), key=lambda kv: kv[1], reverse=True)[:top]
    return [
        SpendLine(
            name=f.clean(name),
            instance=f.clean(instance),
            amount=f.sig(amount),
            previous=None if (instance, name) not in before else f.sig(before[(instance, name)]),
            change_pct=f.change_pct(amount, before.get((instance, name), 0.0)),
        )
        for (instance, name), amount in ranked
    ]


def spans(
    series: list[tuple[dict[str, str], npt.NDArray[np.float64], npt.NDArray[np.float64]]], step: float
) -> list[AlertSpan]:
    """Alert durations from `ALERTS` sampled every `step`: a gap longer than a step starts a new firing."""
    merged: dict[tuple[str, str, str, str], tuple[int, int]] = {}
    for labels, times, _ in series:
        if times.size == 0:
            continue
        runs = 1 + int(np.count_nonzero(np.diff(times) > 1.5 * step))
        subject = " ".join(x for x in (labels.get("cgroup", ""), labels.get("resource", "")) if x)
        key = (labels.get("alertname", ""), labels.get("severity", ""), labels.get("instance", ""), subject)
        had_runs, had_points = merged.get(key, (0, 0))
        merged[key] = (had_runs + runs, had_points + int(times.size))
    out = [
        AlertSpan(name=f.clean(name), severity=f.clean(severity), instance=f.clean(instance), subject=f.clean(subject),
                  times=runs, minutes=f.sig(points * step / 60))
        for (name, severity, instance, subject), (runs, points) in merged.items()
    ]  # fmt: skip
    return sorted(out, key=lambda a: (SEVERITY_RANK.get(a.severity, 3), -a.minutes, a.name, a.instance))


def judge(d: DigestFacts, plan_money: float | None) -> list[Reason]:
    """The verdict's reasons, worst first: `act` when money is being lost now (a critical alert, the budget
    forecast exceeded); `watch` when it may be (a warning alert, egress overage, spend up materially against every
    comparison, budget or quota nearly used, no data or no Prometheus); otherwise `normal`."""
    reasons: list[Reason] = []
    for a in d.alerts:
        if a.severity in ("critical", "warning"):
            code: Literal["critical_alert", "warning_alert"] = f"{a.severity}_alert"  # type: ignore[assignment]
            subject = f"{a.name} ({a.instance})" if a.instance else a.name
            reasons.append(Reason(code=code, verdict="act" if a.severity == "critical" else "watch", subject=subject,
                                  values={"minutes": a.minutes}))  # fmt: skip
    for h in d.hosts:
        b, e = h.bill, h.egress
        if b is not None and b.forecast_vs_budget_pct is not None and b.budget is not None:
            values = {"forecast": b.forecast_period_end, "budget": b.budget, "pct": b.forecast_vs_budget_pct}
            if b.forecast_vs_budget_pct > 100:
                reasons.append(Reason(code="over_budget", verdict="act", subject=h.instance, values=values))
            elif b.forecast_vs_budget_pct >= NEAR_PCT:
                reasons.append(Reason(code="budget_near", verdict="watch", subject=h.instance, values=values))
        if b is not None and b.egress_overage_forecast > 0 and not (e is not None and e.metered):
            reasons.append(Reason(code="egress_overage", verdict="watch", subject=h.instance,
                                  values={"money": b.egress_overage_forecast}))  # fmt: skip
        elif e is not None and e.forecast_vs_included_pct is not None and e.forecast_vs_included_pct >= NEAR_PCT:
            reasons.append(Reason(code="egress_near", verdict="watch", subject=h.instance,
                                  values={"pct": e.forecast_vs_included_pct}))  # fmt: skip
    if d.total is not None and d.previous is not None and d.change_pct is not None:
        rises = [p for p in (d.change_pct, d.week_before_change_pct) if p is not None]
        extra = d.total - max(d.previous, d.week_before or 0.0)
        floor = MATERIAL_PLAN_FRACTION * (plan_money or 0.0)
        if all(p >= RISE_PCT for p in rises) and extra >= floor:
            values = {"pct": d.change_pct, "extra": f.sig(extra)}
            reasons.append(Reason(code="spend_up", verdict="watch", values=values))
    if d.context_error:
        reasons.append(Reason(code="unreadable", verdict="watch"))
    elif d.total is None:
        reasons.append(Reason(code="no_data", verdict="watch"))
    if not reasons:
        reasons.append(Reason(code="quiet", verdict="normal"))
    order = {"act": 0, "watch": 1, "normal": 2}
    return sorted(reasons, key=lambda r: order[r.verdict])


# --- reading Prometheus (I/O) ------------------------------------------------------------------------------------


def _keyed(result: dict[tuple[tuple[str, str], ...], float], label: str) -> dict[tuple[str, str], float]:
    return {(dict(k).get("instance", ""), dict(k).get(label, "")): v for k, v in result.items()}


async def gather(prom: Prometheus, period: Period, now: float, top: int = 5) -> DigestFacts:
    d = DigestFacts(kind=period.kind, first_day=period.first_day.isoformat(), last_day=period.last_day.isoformat(),
                    timezone=str(period.zone.key))  # fmt: skip
    plan_money = None
    try:
        plan_money = await _read(d, prom, period, now, top)
    except PrometheusError as exc:
        log.warning("digest incomplete: %s", exc)
        d.context_error, d.context_problem = f.unanswered(exc)
    d.reasons = judge(d, plan_money)
    d.verdict = d.reasons[0].verdict
    return d


async def _read(d: DigestFacts, prom: Prometheus, period: Period, now: float, top: int) -> float | None:
    info = await prom.instant("costwarden_info", now)
    d.currency = f.clean(next((dict(k).get("currency", "") for k in info), ""), 8)
    instances = sorted({dict(k).get("instance", "") for k in info})
    earlier = [period.shifted(-period.days)] + ([period.shifted(-7)] if period.kind == "day" else [])

    def spend(p: Period, by: str, sel: str) -> str:
        return SPEND.format(by=by, sel=sel, seconds=round(p.seconds))

    hosts = [prom.instant(spend(p, "instance, resource", 'cgroup="/"'), p.end.timestamp()) for p in [period, *earlier]]
    queries = hosts + [
        prom.instant(spend(p, "instance, cgroup", 'cgroup!="/"'), p.end.timestamp()) for p in [period, earlier[0]]
    ]
    spent, plan_per_hour, alerts = await asyncio.gather(
        asyncio.gather(*queries),
        prom.scalar("sum(costwarden_plan_price_per_hour)", period.end.timestamp()),
        prom.matrix(ALERTS, period.start.timestamp(), period.end.timestamp() - 1, ALERT_STEP),
    )
    hosts_now, hosts_before = _keyed(spent[0], "resource"), _keyed(spent[1], "resource")
    week_before = _keyed(spent[2], "resource") if period.kind == "day" else None
    workloads_now, workloads_before = _keyed(spent[-2], "cgroup"), _keyed(spent[-1], "cgroup")

    if hosts_now:
        d.total = f.sig(sum(hosts_now.values()))
    if hosts_before:
        d.previous = f.sig(sum(hosts_before.values()))
        d.change_pct = f.change_pct(sum(hosts_now.values()), sum(hosts_before.values())) if hosts_now else None
    if week_before:
        d.week_before = f.sig(sum(week_before.values()))
        d.week_before_change_pct = f.change_pct(sum(hosts_now.values()), sum(week_before.values()))
    d.by_resource = lines(_summed(hosts_now), _summed(hosts_before), 10)
    d.top_workloads = lines(workloads_now, workloads_before, top)
    if len(instances) < 2:
        for line in d.top_workloads:
            line.instance = ""
    all_spans = spans(alerts, ALERT_STEP)
    d.alerts, d.alerts_more = all_spans[:10], max(0, len(all_spans) - 10)
    bills = await asyncio.gather(*(bill_and_egress(prom, {"instance": i}, now) for i in instances))
    d.hosts = [HostBill(instance=f.clean(i), bill=b, egress=e) for i, (b, e) in zip(instances, bills, strict=True)]
    return None if plan_per_hour is None else plan_per_hour * period.seconds / 3600


def _summed(by_host: dict[tuple[str, str], float]) -> dict[tuple[str, str], float]:
    """Per resource over every host (keyed with an empty instance, as `lines` expects)."""
    out: dict[tuple[str, str], float] = {}
    for (_, resource), value in by_host.items():
        out[("", resource)] = out.get(("", resource), 0.0) + value
    return out
