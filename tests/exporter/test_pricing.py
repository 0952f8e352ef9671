"""Cost maths: derived prices, monthly caps, egress overage, billing periods, interval costs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from costwarden.resources import RESOURCES
from exporter import config
from exporter.pricing import (
    GIB,
    METERS,
    bill_to_date,
    billing_period,
    full_machine_hourly,
    interval_cost,
    plan_mismatch,
    unit_prices,
)

ALL_PRESETS = [(p, plan) for p, plans in config.preset_names().items() for plan in plans]


@pytest.mark.parametrize(("provider", "plan"), ALL_PRESETS)
def test_derived_unit_prices_make_a_fully_used_machine_cost_its_plan(provider: str, plan: str) -> None:
    table = config.resolve({"provider": provider, "plan": plan})
    prices = unit_prices(table)
    assert full_machine_hourly(table, prices) == pytest.approx(table.plan_price.hourly, rel=1e-9)
    assert prices["cpu"] == pytest.approx(config.DEFAULT_CPU_RAM_RATIO * prices["memory"])
    assert prices["cpu"] > 0


def test_one_given_price_fixes_the_other_through_the_ratio() -> None:
    table = config.resolve(
        {"provider": "hetzner", "plan": "cx22", "cpu_ram_ratio": 4.0, "unit_prices": {"cpu_per_vcpu_hour": 0.002}}
    )
    prices = unit_prices(table)
    assert prices["memory"] == pytest.approx(0.0005)
    both = config.resolve(
        {"provider": "hetzner", "plan": "cx22", "unit_prices": {"cpu_per_vcpu_hour": 0.1, "memory_per_gib_hour": 0.2}}
    )
    assert (unit_prices(both)["cpu"], unit_prices(both)["memory"]) == (0.1, 0.2)


def test_plan_accrues_hourly_and_stops_at_the_monthly_cap() -> None:
    table = config.resolve({"provider": "digitalocean", "plan": "s-1vcpu-1gb"})  # 0.00893/h, 6.00 cap, 672 h
    start = datetime(2026, 1, 1, tzinfo=UTC)
    ten_hours = bill_to_date(table, start, start + timedelta(hours=10), 0.0)
    assert ten_hours["plan"] == pytest.approx(0.0893)
    assert bill_to_date(table, start, start + timedelta(hours=671), 0.0)["plan"] == pytest.approx(0.00893 * 671)
    assert bill_to_date(table, start, start + timedelta(hours=700), 0.0)["plan"] == 6.00
    assert bill_to_date(table, start, start + timedelta(days=31), 0.0)["plan"] == 6.00


def test_no_cap_keeps_accruing() -> None:
    table = config.resolve({"provider": "ec2", "plan": "t3.small"})
    start = datetime(2026, 1, 1, tzinfo=UTC)
    assert bill_to_date(table, start, start + timedelta(hours=744), 0.0)["plan"] == pytest.approx(0.0208 * 744)


def test_egress_costs_only_beyond_the_included_quota() -> None:
    table = config.resolve(
        {"provider": "digitalocean", "plan": "s-1vcpu-1gb", "egress": {"included_gib": 100, "overage_per_gib": 0.01}}
    )
    start = datetime(2026, 1, 1, tzinfo=UTC)
    now = start + timedelta(days=3)
    assert bill_to_date(table, start, now, 99.9 * GIB)["egress_overage"] == 0.0
    assert bill_to_date(table, start, now, 100 * GIB)["egress_overage"] == 0.0
    assert bill_to_date(table, start, now, 350 * GIB)["egress_overage"] == pytest.approx(2.50)


def test_extras_backups_volumes_snapshots_ips() -> None:
    table = config.resolve(
        {
            "provider": "digitalocean",
            "plan": "s-1vcpu-1gb",
            "extras": {
                "volumes": [{"name": "data", "size_gib": 100, "per_gib_month": 0.10}],
                "snapshots": {"size_gib": 50},
                "backups": {"percent_of_plan": 20},
                "ips": {"count": 2, "monthly_each": 5.0},
            },
        }
    )
    start = datetime(2026, 1, 1, tzinfo=UTC)
    half = bill_to_date(table, start, start + timedelta(hours=336), 0.0)  # half of DO's 672-hour month
    assert half["volume"] == pytest.approx(5.0)
    assert half["snapshot"] == pytest.approx(50 * 0.06 / 2)
    assert half["backup"] == pytest.approx(0.2 * half["plan"])
    assert half["ip"] == pytest.approx(5.0)
    full = bill_to_date(table, start, start + timedelta(days=31), 0.0)
    assert (full["volume"], full["ip"], full["backup"]) == (
        pytest.approx(10.0),
        pytest.approx(10.0),
        pytest.approx(1.2),
    )


def test_currency_comes_from_the_preset_and_can_be_overridden() -> None:
    assert config.resolve({"provider": "hetzner", "plan": "cx22"}).currency == "EUR"
    assert config.resolve({"provider": "hetzner", "plan": "cx22", "currency": "CHF"}).currency == "CHF"


@pytest.mark.parametrize(
    ("now", "tz", "day", "start", "end"),
    [
        (
            datetime(2026, 3, 15, 12, tzinfo=UTC),
            "UTC",
            1,
            datetime(2026, 3, 1, tzinfo=UTC),
            datetime(2026, 4, 1, tzinfo=UTC),
        ),
        (
            datetime(2026, 12, 31, 23, tzinfo=UTC),
            "UTC",
            1,
            datetime(2026, 12, 1, tzinfo=UTC),
            datetime(2027, 1, 1, tzinfo=UTC),
        ),
        (
            datetime(2026, 1, 3, tzinfo=UTC),
            "UTC",
            5,
            datetime(2025, 12, 5, tzinfo=UTC),
            datetime(2026, 1, 5, tzinfo=UTC),
        ),
        # 23:30 UTC on 31 March is already 1 April in Berlin: the new period has begun there.
        (
            datetime(2026, 3, 31, 23, 30, tzinfo=UTC),
            "Europe/Berlin",
            1,
            datetime(2026, 3, 31, 22, tzinfo=UTC),
            datetime(2026, 4, 30, 22, tzinfo=UTC),
        ),
    ],
)
def test_billing_period(now: datetime, tz: str, day: int, start: datetime, end: datetime) -> None:
    got_start, got_end = billing_period(now, tz, day)
    assert (got_start, got_end) == (start, end)


def test_interval_cost_prices_each_resource() -> None:
    table = config.resolve({"provider": "hetzner", "plan": "cx22"})
    prices = unit_prices(table)
    before = {"cpu": 100.0, "memory": 1 * GIB, "disk": 10 * GIB, "network_egress": 0.0}
    after = {"cpu": 100.0 + 1800.0, "memory": 3 * GIB, "disk": 10 * GIB, "network_egress": 2 * GIB}
    cost = interval_cost(before, after, 3600.0, prices)
    assert cost["cpu"] == pytest.approx(0.5 * prices["cpu"])  # half a vCPU for an hour
    assert cost["memory"] == pytest.approx(2 * prices["memory"])  # trapezoid: 1 -> 3 GiB averages 2
    assert cost["disk"] == pytest.approx(10 * prices["disk"])
    assert cost["network_egress"] == pytest.approx(2 * table.egress.overage_per_gib)


def test_interval_cost_after_a_counter_reset_counts_from_zero() -> None:
    prices = unit_prices(config.resolve({"provider": "hetzner", "plan": "cx22"}))
    before = {"cpu": 5000.0}
    after = {"cpu": 36.0}
    cost = interval_cost(before, after, 60.0, prices)
    assert cost == {"cpu": pytest.approx(36.0 / 3600 * prices["cpu"])}


def test_a_machine_that_is_not_its_plan_is_named_at_start() -> None:
    """Issue 20: the default plan priced a 2-vCPU host above its plan's own price, without a word."""
    table = config.load(None)  # digitalocean s-1vcpu-1gb: 1 vCPU, 1 GiB
    assert plan_mismatch(table, 1, int(0.95 * 2**30)) is None  # the kernel keeps a little of the plan's memory
    said = plan_mismatch(table, 2, 8 * 2**30)
    assert said is not None and said.startswith("this machine has 2 vCPU and 8.0 GiB, but the plan ")
    assert "digitalocean/s-1vcpu-1gb is 1 vCPU and 1 GiB" in said and "0.00893 USD/h" in said
    assert plan_mismatch(table, 1, 4 * 2**30) is not None  # the same vCPUs, four times the memory


def test_every_resource_of_the_metric_contract_has_a_meter_and_a_price() -> None:
    """A resource added to costwarden.resources without saying how it is priced would never cost anything."""
    assert list(METERS) == list(RESOURCES)
    assert set(unit_prices(config.load(None))) == set(RESOURCES)
