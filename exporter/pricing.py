"""Pure cost maths: unit prices from a pricing table, money for an interval of usage, the month-to-date bill.

Money is a float in the table's currency. Nothing here reads a clock or a file, so every rule is testable.
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from datetime import datetime, timedelta

from exporter.config import PricingTable

GIB = float(2**30)
SECONDS_PER_HOUR = 3600.0

BILL_COMPONENTS = ("plan", "egress_overage", "volume", "snapshot", "backup", "ip")


@dataclass(frozen=True)
class Meter:
    """How a resource's readings become money: `counter` readings (CPU seconds, bytes sent) cost their increase over
    an interval; level readings (bytes in use) cost their average times the interval's hours (a trapezoid). `per` is
    how many units of the reading make one priced unit."""

    counter: bool
    per: float
    price: str
    """The priced unit's name, as --config.check shows it."""


METERS = {
    "cpu": Meter(counter=True, per=SECONDS_PER_HOUR, price="cpu_per_vcpu_hour"),
    "memory": Meter(counter=False, per=GIB, price="memory_per_gib_hour"),
    "disk": Meter(counter=False, per=GIB, price="disk_per_gib_hour"),
    "network_egress": Meter(counter=True, per=GIB, price="egress_per_gib"),
}
"""One per resource of costwarden.resources.RESOURCES (a test checks): adding a resource is one entry here."""

Usage = dict[str, float]
"""One reading of a host or a workload, per resource (cpu: CPU seconds; memory, disk: bytes in use; network_egress:
bytes sent); a resource not measured for it is absent."""
Prices = dict[str, float]
"""The price of one priced unit (Meter.price) per resource."""


def unit_prices(table: PricingTable) -> Prices:
    """Usage prices, deriving what the provider does not publish the way OpenCost does.

    The plan's hourly price minus its disk's share is split between CPU and memory so that
    cpu = ratio x memory per unit and a machine using every vCPU, every GiB and its whole disk costs exactly its plan.
    One given price fixes the other through the same ratio.
    """
    disk_h = table.unit_prices.disk_per_gib_month / table.hours_per_month
    given_cpu = table.unit_prices.cpu_per_vcpu_hour
    given_mem = table.unit_prices.memory_per_gib_hour
    ratio = table.cpu_ram_ratio
    if given_cpu is not None and given_mem is not None:
        cpu, mem = given_cpu, given_mem
    elif given_cpu is not None:
        cpu, mem = given_cpu, given_cpu / ratio
    elif given_mem is not None:
        cpu, mem = ratio * given_mem, given_mem
    else:
        remainder = table.plan_price.hourly - table.machine.disk_gib * disk_h
        mem = max(0.0, remainder) / (table.machine.vcpus * ratio + table.machine.memory_gib)
        cpu = ratio * mem
    # Egress inside the quota is free on the invoice, but every byte brings the overage closer: price it at the margin.
    return {"cpu": cpu, "memory": mem, "disk": disk_h, "network_egress": table.egress.overage_per_gib}


def _delta(now: float, before: float) -> float:
    # A counter that went down was reset (container restarted in the same cgroup, interface re-created):
    # what it shows now was all accrued since the reset.
    return now - before if now >= before else now


def interval_cost(before: Usage, now: Usage, seconds: float, prices: Prices) -> dict[str, float]:
    """Money spent per resource measured in both readings, `seconds` apart."""
    hours = seconds / SECONDS_PER_HOUR
    cost = {}
    for resource, meter in METERS.items():
        if resource not in now or resource not in before:
            continue
        if meter.counter:
            cost[resource] = _delta(now[resource], before[resource]) / meter.per * prices[resource]
        else:
            cost[resource] = (now[resource] + before[resource]) / 2 / meter.per * prices[resource] * hours
    return cost


def billing_period(now: datetime, timezone: str, cycle_day: int) -> tuple[datetime, datetime]:
    """The billing period containing `now`: from `cycle_day` 00:00 local time to the same day next month."""
    tz = zoneinfo.ZoneInfo(timezone)
    local = now.astimezone(tz)
    year, month = local.year, local.month
    if local.day < cycle_day:
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    start = datetime(year, month, cycle_day, tzinfo=tz)
    end_year, end_month = (year + 1, 1) if month == 12 else (year, month + 1)
    end = datetime(end_year, end_month, cycle_day, tzinfo=tz)
    return start, end


def _capped(hourly: float, hours: float, monthly_cap: float | None) -> float:
    accrued = hourly * hours
    return accrued if monthly_cap is None else min(accrued, monthly_cap)


def bill_to_date(table: PricingTable, period_start: datetime, now: datetime, egress_bytes: float) -> dict[str, float]:
    """The invoice accrued from `period_start` to `now`, per component.

    Providers bill hourly up to a monthly cap: the plan (and what is priced per month: volumes, snapshots, IPs) never
    exceeds its monthly price in one period. Egress costs money only past the period's included quota.
    """
    hours = max(0.0, (now - period_start) / timedelta(hours=1))
    per_month = table.hours_per_month
    plan = _capped(table.plan_price.hourly, hours, table.plan_price.monthly)

    def monthly_item(monthly: float) -> float:
        return _capped(monthly / per_month, hours, monthly)

    extras = table.extras
    overage_gib = max(0.0, egress_bytes / GIB - table.egress.included_gib)
    return {
        "plan": plan,
        "egress_overage": overage_gib * table.egress.overage_per_gib,
        "volume": sum(monthly_item(v.size_gib * v.per_gib_month) for v in extras.volumes),
        "snapshot": monthly_item(extras.snapshots.size_gib * extras.snapshots.per_gib_month),
        "backup": plan * extras.backups.percent_of_plan / 100.0,
        "ip": monthly_item(extras.ips.count * extras.ips.monthly_each),
    }


def full_machine_hourly(table: PricingTable, prices: Prices) -> float:
    """What the host costs per hour at 100 % of every priced resource; equals the plan when prices are derived."""
    m = table.machine
    return m.vcpus * prices["cpu"] + m.memory_gib * prices["memory"] + m.disk_gib * prices["disk"]


def plan_mismatch(table: PricingTable, vcpus: int, memory_bytes: int) -> str | None:
    """Why the costs will not add up to the plan's price, when this machine is not the plan's: more vCPUs or memory
    than the plan has priced at the plan's per-unit rates cost more per hour than the whole plan (a wrong or default
    plan, the first thing a new user meets), fewer leave money unaccounted. None when they match (memory within 15 %:
    the kernel keeps some of what the plan sells)."""
    memory_gib = memory_bytes / 2**30
    machine = table.machine
    if vcpus == machine.vcpus and 0.85 * machine.memory_gib <= memory_gib <= 1.05 * machine.memory_gib:
        return None
    return (f"this machine has {vcpus} vCPU and {memory_gib:.1f} GiB, but the plan {table.provider}/{table.plan} is "
            f"{machine.vcpus:g} vCPU and {machine.memory_gib:g} GiB: its prices per vCPU and GiB will not add up to "
            f"the plan's {table.plan_price.hourly:g} {table.currency}/h. Set your plan in the pricing table "
            "(--config.file; docs/configuration.md)")  # fmt: skip
