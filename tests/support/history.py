"""The known history the receiver's tests (and bench/grounding.py) load into a real Prometheus: 30 hours of what the
exporter would have exported, a miner's jump in the last hour."""

from __future__ import annotations

import time

from tests.support.detection.engine import Points

HOST = {"instance": "vps1", "job": "costwarden-exporter"}
NOW = float(int(time.time()) // 60 * 60)
HOURS = 30
GIB = 2.0**30
RULE = "instance_cgroup_resource:costwarden_cost_per_hour"
USUAL_PEAK = 0.0015
USUAL_LOW = 0.0008
"""The rules' usual range for the miner's CPU, as recorded: what its chart draws the cost against."""


def rate_at(cgroup: str, t: float) -> float:
    """Currency per hour of each workload: `web` steady, `miner` jumps twenty-fold for the last hour."""
    if cgroup == "web":
        return 0.002
    return 0.02 if t >= NOW - 3600 else 0.001


def history() -> Points:
    """30 hours of what the exporter would have exported, one sample a minute, ending now."""
    times = [NOW - HOURS * 3600 + 60 * i for i in range(HOURS * 60 + 1)]
    series: Points = []
    for cgroup in ("web", "miner"):
        total, points = 0.0, []
        for t in times:
            points.append((t, total))
            total += rate_at(cgroup, t) / 60
        series.append(("costwarden_cost_total", {**HOST, "cgroup": cgroup, "resource": "cpu"}, points))
    series.append(("costwarden_cost_total", {**HOST, "cgroup": "web", "resource": "network_egress"},
                   [(t, 0.0005 * (t - times[0]) / 3600) for t in times]))  # fmt: skip
    series += [
        ("costwarden_info", {**HOST, "provider": "hetzner", "plan": "cx22", "currency": "EUR", "region": "fsn1"},
         [(t, 1.0) for t in times]),
        ("costwarden_bill_total", {**HOST, "component": "plan"},
         [(t, 2.0 + (t - times[0]) / 3600 * 0.006) for t in times]),
        ("costwarden_bill_total", {**HOST, "component": "egress_overage"},
         [(t, max(0.0, (t - (NOW - 6 * 3600)) / 3600 * 0.01)) for t in times]),
        ("costwarden_bill_fixed_period", HOST, [(t, 4.5) for t in times]),
        ("costwarden_billing_period_end_timestamp_seconds", HOST, [(t, NOW + 10 * 86400) for t in times]),
        ("costwarden_budget_monthly", HOST, [(t, 5.0) for t in times]),
        ("costwarden_egress_period_bytes", HOST, [(t, 100 * GIB + (t - times[0]) / 3600 * GIB) for t in times]),
        ("costwarden_egress_included_bytes", HOST, [(t, 1000 * GIB) for t in times]),
        (f"{RULE}:usual_peak", {**HOST, "cgroup": "miner", "resource": "cpu"}, [(t, USUAL_PEAK) for t in times]),
        (f"{RULE}:usual_low", {**HOST, "cgroup": "miner", "resource": "cpu"}, [(t, USUAL_LOW) for t in times]),
    ]  # fmt: skip
    return series
