"""Gather the facts of one alert group from Prometheus: a handful of queries, each with a timeout, then the maths.

Prometheus unreachable is not a failure of the notification: the facts say why they are thin and the analysis goes
on with the alert's own labels and annotations.
"""

from __future__ import annotations

import asyncio
import logging

from receiver.facts import model as f
from receiver.facts.prometheus import Prometheus, PrometheusError, matchers
from receiver.intake import Webhook

log = logging.getLogger("receiver.context")

PER_HOUR = "3600 * sum by ({by}) (rate(costwarden_cost_total{sel}[5m]))"
HOURLY = "avg_over_time(({per_hour})[1h:5m])"
"""Hourly means of 5-minute rates for the 7-day view: an hour with only part of its data is still read right."""
BASELINE = "3600 * avg_over_time((sum by (cgroup) (rate(costwarden_cost_total{sel}[5m])))[7d:5m] @ {at:.3f})"
"""Each workload's mean cost over the week before the alert started. A mean of 5-minute rates, not rate()[7d]:
rate() divides by the whole window, which would read a week-old install's day of history as a seventh of itself."""
SCOPE = ("instance", "job", "cgroup", "resource")
"""Labels of an alert that select the series it is about (a budget alert has only instance/job)."""


async def gather(hook: Webhook, prom: Prometheus | None, now: float) -> f.Facts:
    total = len(hook.alerts) + hook.truncatedAlerts
    facts = f.Facts(status=hook.status, alerts=f.alert_facts(hook), alerts_total=total)
    if prom is None or hook.status == "resolved":
        return facts
    try:
        await _enrich(facts, hook, prom, now)
    except PrometheusError as exc:
        log.warning("context incomplete: %s", exc)
        facts.context_error, facts.context_problem = f.unanswered(exc)
    facts.money_at_stake_per_day = f.money_at_stake(facts)
    return facts


async def _enrich(facts: f.Facts, hook: Webhook, prom: Prometheus, now: float) -> None:
    common = hook.commonLabels or hook.alerts[0].labels
    scope = {k: common[k] for k in SCOPE if k in common}
    host_labels = {k: v for k, v in scope.items() if k in ("instance", "job")}
    host = matchers(host_labels)
    alerted = matchers(scope)
    started = min(a.startsAt.timestamp() for a in hook.alerts)

    info = await prom.instant(f"costwarden_info{host}", now)  # alone first: if Prometheus is down, one call says so
    now_by_cgroup, base_by_cgroup, now_by_resource, day, week = await asyncio.gather(
        prom.by("cgroup", PER_HOUR.format(by="cgroup", sel=host), now),
        prom.by("cgroup", BASELINE.format(sel=host, at=min(started, now)), now),
        prom.by("resource", PER_HOUR.format(by="resource", sel=host), now),
        prom.series(PER_HOUR.format(by="instance", sel=alerted), now - 86400, now, 300),
        prom.series(HOURLY.format(per_hour=PER_HOUR.format(by="instance", sel=alerted)), now - 7 * 86400, now, 3600),
    )
    facts.currency = f.clean(next((dict(k).get("currency", "") for k in info), ""), 8)
    facts.alerted_series = [s for s in (f.series_stats("24h", day[1]), f.series_stats("7d", week[1])) if s]
    facts.top_workloads = f.workloads(now_by_cgroup, base_by_cgroup)
    facts.by_resource = f.resources(now_by_resource)
    facts.bill, facts.egress = await bill_and_egress(prom, host_labels, now)


async def bill_and_egress(prom: Prometheus, host: dict[str, str], now: float) -> tuple[f.Bill | None, f.Egress | None]:
    """One host's invoice so far and at period end (with the budget), and its egress against the included quota."""
    sel, overage_sel = matchers(host), matchers({**host, "component": "egress_overage"})
    mtd, fixed, overage, end, budget, used, included = await asyncio.gather(
        *(
            prom.scalar(query, now)
            for query in (
                f"sum(costwarden_bill_total{sel})",
                f"max(costwarden_bill_fixed_period{sel})",
                f"sum(costwarden_bill_total{overage_sel})",
                f"max(costwarden_billing_period_end_timestamp_seconds{sel})",
                f"max(costwarden_budget_monthly{sel})",
                f"max(costwarden_egress_period_bytes{sel})",
                f"max(costwarden_egress_included_bytes{sel})",
            )
        )
    )
    overage_6h, used_6h = await asyncio.gather(
        prom.series(f"sum(costwarden_bill_total{overage_sel})", now - 6 * 3600, now, 300),
        prom.series(f"max(costwarden_egress_period_bytes{sel})", now - 6 * 3600, now, 300),
    )
    left = (end - now) if end is not None else 0.0
    bill = None
    if mtd is not None and fixed is not None:
        bill = f.bill(mtd, fixed, overage or 0.0, f.slope_per_second(*overage_6h), left, budget)
    egress = None if used is None else f.egress(used, f.slope_per_second(*used_6h), left, included)
    return bill, egress
