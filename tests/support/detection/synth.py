"""Readable definitions of the labelled scenario corpus, and the generator that turns them into series.

A simulated VPS is a DigitalOcean s-1vcpu-1gb (the exporter's embedded default table, priced by the exporter's own
pricing code) running a web app, a database and a nightly backup. Usage has a daily shape (a peak around 13:00), a
weekly one (weekends at 65 %), multiplicative noise, and the backup's burst at ~02:00 with a jittered start. Each
scenario adds one thing that should (or should not) alert. Minute 0 is a Monday 00:00 at `base`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

from costwarden.corpus import Anomaly, Scenario, Series
from exporter import config
from exporter.pricing import GIB, unit_prices

DAY = 1440
HOUR = 60
JOB = "costwarden-exporter"
TABLE = config.load(None)
PRICES = unit_prices(TABLE)
PLAN_HOURLY = TABLE.plan_price.hourly
PLAN_MONTHLY = TABLE.plan_price.monthly or 0.0
INFO_LABELS = (("currency", TABLE.currency), ("plan", TABLE.plan), ("provider", TABLE.provider), ("region", ""))


@dataclass
class Host:
    """Hourly usage per (cgroup, resource), in resource units: vCPUs, GiB of memory/disk, GiB/h of egress."""

    instance: str
    usage: dict[tuple[str, str], np.ndarray]
    minutes: int


def _shape(minutes: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    t = np.arange(minutes)
    minute_of_day = t % DAY
    business = 0.5 + 0.5 * np.exp(-(((minute_of_day - 13 * HOUR) / 180.0) ** 2))
    weekday = np.where((t // DAY) % 7 < 5, 1.0, 0.65)
    return business * weekday, t


def _noise(rng: np.random.Generator, n: int, sd: float = 0.05) -> np.ndarray:
    return np.clip(rng.normal(1.0, sd, n), 0.5, 1.5)


def steady_host(instance: str, minutes: int, seed: int) -> Host:
    rng = np.random.default_rng(seed)
    load, t = _shape(minutes, rng)
    backup = np.full(minutes, 0.02)
    for day in range(minutes // DAY + 1):
        start = day * DAY + 2 * HOUR + int(rng.integers(-10, 11))
        backup[max(0, start) : max(0, start + 30)] = 0.6
    usage = {
        ("app", "cpu"): 0.3 * load * _noise(rng, minutes),
        ("app", "memory"): 0.4 * _noise(rng, minutes, 0.02),
        ("app", "network_egress"): 0.5 * load * _noise(rng, minutes, 0.1),
        ("db", "cpu"): 0.1 * np.sqrt(load) * _noise(rng, minutes),
        ("db", "memory"): 0.3 * _noise(rng, minutes, 0.01),
        ("backup", "cpu"): backup * _noise(rng, minutes),
    }
    usage[("/", "cpu")] = usage[("app", "cpu")] + usage[("db", "cpu")] + usage[("backup", "cpu")] + 0.05
    usage[("/", "memory")] = usage[("app", "memory")] + usage[("db", "memory")] + 0.2
    usage[("/", "disk")] = 20.0 + 0.05 * t / DAY
    usage[("/", "network_egress")] = usage[("app", "network_egress")] + 0.02
    return Host(instance, usage, minutes)


def _fmt_series(metric: str, labels: dict[str, str], kind: str, ts: np.ndarray, values: np.ndarray) -> Series:
    return Series(metric, labels, kind, [float(x) for x in ts], [float(v) for v in values])


@dataclass
class Billing:
    period_start_min: int = -12 * DAY  # the scenario starts 12 days into a 30-day billing period
    period_days: int = 30
    budget: float | None = None
    egress_included_gib: float = 1000.0
    egress_before_gib: float = 120.0  # sent in this period before the scenario starts
    overage_per_day_from: tuple[int, float] | None = None  # (minute, money/day) of egress overage


def host_series(
    host: Host,
    base: float,
    billing: Billing,
    restarts: tuple[int, ...] = (),
    gap: int = 2,
) -> list[Series]:
    """The exporter's metrics for one host, as Prometheus would have scraped them every minute."""
    n = host.minutes
    ts = base + np.arange(n) * 60.0
    alive = np.ones(n, dtype=bool)
    for r in restarts:
        alive[r : r + gap] = False
    labels = {"instance": host.instance, "job": JOB}

    def counter(per_minute: np.ndarray) -> np.ndarray:
        # Cumulative since the exporter started; it restarts at 0 after each restart, as the exporter does.
        out = np.cumsum(per_minute)
        for r in restarts:
            out[r:] -= out[r + gap - 1] if r + gap - 1 < n else 0.0
        return np.where(alive, out, np.nan)

    series: list[Series] = []
    for (cgroup, resource), amount in sorted(host.usage.items()):
        money_per_hour = amount * PRICES[resource]
        series.append(
            _fmt_series(
                "costwarden_cost_total",
                {**labels, "cgroup": cgroup, "resource": resource},
                "counter",
                ts,
                counter(money_per_hour / 60.0),
            )
        )
    egress_bytes_per_min = host.usage[("/", "network_egress")] * GIB / 60.0
    series.append(
        _fmt_series("costwarden_network_transmit_bytes_total", labels, "counter", ts, counter(egress_bytes_per_min))
    )
    period_bytes = billing.egress_before_gib * GIB + np.cumsum(egress_bytes_per_min)
    hours_in = (np.arange(n) - billing.period_start_min) / 60.0
    plan = np.minimum(PLAN_HOURLY * hours_in, PLAN_MONTHLY)
    overage = np.zeros(n)
    if billing.overage_per_day_from is not None:
        start, per_day = billing.overage_per_day_from
        overage = np.clip((np.arange(n) - start) / DAY * per_day, 0.0, None)
    constant = {
        "costwarden_plan_price_per_hour": PLAN_HOURLY,
        "costwarden_egress_included_bytes": billing.egress_included_gib * GIB,
        "costwarden_bill_fixed_period": PLAN_MONTHLY,
        "costwarden_billing_period_end_timestamp_seconds": base
        + (billing.period_start_min + billing.period_days * DAY) * 60.0,
        "costwarden_filesystem_size_bytes": 80 * GIB,
    }
    if billing.budget is not None:
        constant["costwarden_budget_monthly"] = billing.budget
    for metric, value in constant.items():
        extra = {"mountpoint": "/"} if metric.startswith("costwarden_filesystem") else {}
        series.append(_fmt_series(metric, {**labels, **extra}, "gauge", ts, np.where(alive, value, np.nan)))
    gauges: dict[tuple[str, tuple[tuple[str, str], ...]], np.ndarray] = {
        ("costwarden_egress_period_bytes", ()): period_bytes,
        ("costwarden_filesystem_used_bytes", (("mountpoint", "/"),)): host.usage[("/", "disk")] * GIB,
        ("costwarden_bill_total", (("component", "plan"),)): plan,
        ("costwarden_bill_total", (("component", "egress_overage"),)): overage,
        ("costwarden_info", INFO_LABELS): np.ones(n),
        ("up", ()): alive.astype(float),
    }  # fmt: skip
    for (metric, extra_labels), values in gauges.items():
        kind = "counter" if metric.endswith("_total") else "gauge"
        shown = values if metric == "up" else np.where(alive, values, np.nan)
        series.append(_fmt_series(metric, {**labels, **dict(extra_labels)}, kind, ts, shown))
    return series


def spike(host: Host, key: tuple[str, str], start: int, end: int, factor: float) -> None:
    usage = host.usage[key]
    extra = usage[start:end] * (factor - 1.0)
    usage[start:end] += extra
    cgroup, resource = key
    if cgroup != "/":
        host.usage[("/", resource)][start:end] += extra


def _window(scenario: str, start: int, end: int, base: float, **kw: object) -> Anomaly:
    return Anomaly(name=scenario, start=base + start * 60.0, end=base + end * 60.0, **kw)  # type: ignore[arg-type]


LAST_DAY = 7 * DAY  # minute 0 of the eighth day, a Monday again


def _add_miner(host: Host, name: str, base: float) -> Anomaly:
    """A crypto-miner: the app container's CPU x3.5 from Monday 10:00 to the end; must warn in 15 min, page in 30."""
    onset = LAST_DAY + 10 * HOUR
    spike(host, ("app", "cpu"), onset, host.minutes, 3.5)
    return _window(name, onset, host.minutes, base, alert="CostwardenCostSpike", expect="critical",
                   labels={"instance": host.instance, "job": JOB, "cgroup": "app", "resource": "cpu"},
                   warning_within=15 * 60.0, critical_within=30 * 60.0)  # fmt: skip


def build(base: float = 0.0) -> list[Scenario]:
    """Every scenario of the corpus, with series timestamps starting at `base` (Unix seconds)."""
    out: list[Scenario] = []
    eight_days = 8 * DAY

    steady = steady_host("steady", eight_days, seed=1)
    out.append(
        Scenario(
            "steady-week",
            "A normal week: daily and weekly shape, noise, a nightly backup burst. Nothing may page.",
            True,
            host_series(steady, base, Billing()),
        )
    )

    miner = steady_host("miner", eight_days, seed=2)
    mined = _add_miner(miner, "miner", base)  # before host_series: it changes the usage the series are made of
    out.append(
        Scenario(
            "miner",
            "A crypto-miner in the app container: its CPU cost x3.5 from Monday 10:00.",
            False,
            host_series(miner, base, Billing()),
            [mined],
        )
    )

    ddos = steady_host("ddos", eight_days, seed=3)
    onset = LAST_DAY + 20 * HOUR
    spike(ddos, ("app", "network_egress"), onset, onset + 2 * HOUR, 20.0)
    out.append(
        Scenario(
            "ddos-egress",
            "A DDoS makes the app send x20 its egress for two hours, Monday 20:00-22:00.",
            False,
            host_series(ddos, base, Billing()),
            [
                _window("ddos", onset, onset + 2 * HOUR, base, alert="CostwardenCostSpike", expect="critical",
                        labels={"instance": "ddos", "job": JOB, "cgroup": "/", "resource": "network_egress"},
                        warning_within=15 * 60.0, critical_within=30 * 60.0),
            ],
        )
    )  # fmt: skip

    ten_days = 10 * DAY
    leak = steady_host("leak", ten_days, seed=4)
    leak.usage[("/", "disk")] = 20.0 * 1.05 ** (np.arange(ten_days) / DAY)  # runaway logs: +5 % a day
    out.append(
        Scenario(
            "slow-leak",
            "Runaway logs: disk use grows 5 % a day, compounding, for ten days.",
            False,
            host_series(leak, base, Billing()),
            [
                _window("leak", 7 * DAY, ten_days, base, alert="CostwardenCostDrift", expect="warning",
                        labels={"instance": "leak", "job": JOB, "cgroup": "/", "resource": "disk"}),
            ],
        )
    )  # fmt: skip

    cents = steady_host("cents", eight_days, seed=5)
    cents.usage[("cron", "cpu")] = np.where(np.arange(eight_days) < LAST_DAY + 9 * HOUR, 0.0001, 0.0005) / PRICES["cpu"]
    out.append(
        Scenario(
            "cents-jump",
            "A tiny job goes from 0.0001 to 0.0005 per hour (+400 %): not worth anyone's attention.",
            True,
            host_series(cents, base, Billing()),
            forbid=[{"alertname": "CostwardenCostSpike"}],
        )
    )

    budget = steady_host("budget", eight_days, seed=6)
    out.append(
        Scenario(
            "budget-overrun",
            "Egress overage starts on day 5 at 0.40 a day; with 13 days left the period will pass the budget of 8.",
            False,
            host_series(budget, base, Billing(budget=8.0, overage_per_day_from=(5 * DAY, 0.4))),
            [
                _window("budget", 5 * DAY, eight_days, base, alert="CostwardenBudgetForecastExceeded",
                        expect="warning", labels={"instance": "budget", "job": JOB}),
            ],
        )
    )  # fmt: skip

    quota = steady_host("quota", eight_days, seed=7)
    quota.usage[("app", "network_egress")][3 * DAY :] += 2.0
    quota.usage[("/", "network_egress")][3 * DAY :] += 2.0
    out.append(
        Scenario(
            "egress-quota",
            "A popular download adds 2 GiB/h of egress from day 3; 500 GiB were already sent: the 1000 GiB quota "
            "will run out before the period ends.",
            False,
            host_series(quota, base, Billing(egress_before_gib=500.0)),
            [
                _window("quota", 3 * DAY, eight_days, base, alert="CostwardenEgressQuotaForecast",
                        expect="warning", labels={"instance": "quota", "job": JOB}),
            ],
        )
    )  # fmt: skip

    fresh = steady_host("fresh", HOUR, seed=8)
    spike(fresh, ("app", "cpu"), 20, HOUR, 3.5)
    out.append(
        Scenario(
            "new-install",
            "One hour of history and a budget below the plan: the forecast works at once, spike rules wait.",
            False,
            host_series(fresh, base, Billing(budget=5.0)),
            [
                _window("fresh", 0, HOUR, base, alert="CostwardenBudgetForecastExceeded", expect="warning",
                        labels={"instance": "fresh", "job": JOB}, warning_within=45 * 60.0),
            ],
            forbid=[{"alertname": "CostwardenCostSpike|CostwardenCostDrift"}],
        )
    )  # fmt: skip

    quiet = steady_host("fleet-a", eight_days, seed=9)
    noisy = steady_host("fleet-b", eight_days, seed=10)
    mined = _add_miner(noisy, "fleet-b miner", base)
    out.append(
        Scenario(
            "fleet",
            "Two hosts; only fleet-b gets the miner. Only fleet-b may alert.",
            False,
            host_series(quiet, base, Billing()) + host_series(noisy, base, Billing()),
            [mined],
            forbid=[{"instance": "fleet-a", "severity": "warning|critical"}],
        )
    )

    resets = steady_host("restarts", eight_days, seed=11)
    out.append(
        Scenario(
            "counter-resets",
            "The exporter restarts three times on the last day (counters back to 0, two missed scrapes each).",
            True,
            host_series(
                resets, base, Billing(), restarts=(LAST_DAY + 6 * HOUR, LAST_DAY + 12 * HOUR, LAST_DAY + 18 * HOUR)
            ),
        )
    )
    return out


def monday_base(days_back: int = 21) -> float:
    """A Monday 00:00 UTC far enough back that every scenario lies in the past."""
    day = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=days_back)
    return (day - timedelta(days=day.weekday())).timestamp()
