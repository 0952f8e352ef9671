"""The sampler: money accrues exactly, rates follow usage, month-to-date egress survives restarts and reboots."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from exporter import config
from exporter.collectors.host import HOST
from exporter.pricing import GIB, unit_prices
from tests.conftest import Clock, SamplerFactory

A = "a" * 63 + "1"
T0 = datetime(2026, 11, 10, 12, tzinfo=UTC).timestamp()


def set_cpu_usec(tree: Path, usec: int) -> None:
    path = tree / f"cgroupv2/sys/fs/cgroup/system.slice/docker-{A}.scope/cpu.stat"
    path.write_text(f"usage_usec {usec}\n")


def set_host_tx(tree: Path, tx: int, boot_id: str | None = None) -> None:
    header = "Inter-| Receive | Transmit\n face |bytes|bytes\n"
    (tree / "proc/1/net/dev").write_text(header + f"  eth0: 1 1 0 0 0 0 0 0 {tx} 1 0 0 0 0 0 0\n")
    if boot_id is not None:
        (tree / "proc/sys/kernel/random/boot_id").write_text(boot_id + "\n")


def test_cost_accrues_from_usage_and_the_rate_follows(make_sampler: SamplerFactory, tree: Path) -> None:
    clock = Clock(T0)
    sampler = make_sampler(clock=clock)
    first = sampler.sample()
    assert first.cost_total[("cpu", "web")] == 0.0  # series exist from the first beat
    assert ("cpu", "web") not in first.cost_per_hour

    set_cpu_usec(tree, 3_600_000_000 + 30_000_000)  # 30 CPU-seconds more...
    clock.now += 60  # ...in one minute: half a vCPU
    snap = sampler.sample()
    cpu_price = unit_prices(config.load(None))["cpu"]
    assert snap.cost_total[("cpu", "web")] == pytest.approx(30 / 3600 * cpu_price)
    assert snap.cost_per_hour[("cpu", "web")] == pytest.approx(0.5 * cpu_price)
    assert snap.cost_per_hour[("cpu", "miner")] == 0.0
    assert snap.cost_total[("memory", "web")] > 0
    assert ("network_egress", "miner") not in snap.cost_total  # host network: no per-container egress


def test_vanished_workload_leaves_the_snapshot(make_sampler: SamplerFactory, tree: Path) -> None:
    clock = Clock(T0)
    sampler = make_sampler(clock=clock)
    sampler.sample()
    (tree / f"cgroupv2/sys/fs/cgroup/system.slice/docker-{A}.scope/cpu.stat").unlink()
    clock.now += 15
    snap = sampler.sample()
    assert "web" not in snap.usage
    assert not any(label == "web" for _, label in snap.cost_total)


def test_egress_this_period_survives_restart_and_reboot(
    make_sampler: SamplerFactory, tree: Path, tmp_path: Path
) -> None:
    state = tmp_path / "state.json"
    clock = Clock(T0)
    set_host_tx(tree, 1000)
    # The fixture host booted before the period began, so bytes sent before the first run are not this month's.
    assert make_sampler(clock=clock, state_file=state).sample().egress_bytes_this_period == 0.0

    set_host_tx(tree, 5000)  # sent while the exporter was down
    clock.now += 3600
    restarted = make_sampler(clock=clock, state_file=state)
    assert restarted.sample().egress_bytes_this_period == 4000.0

    set_host_tx(tree, 700, boot_id="new-boot")  # reboot: counter restarted from zero
    clock.now += 3600
    assert make_sampler(clock=clock, state_file=state).sample().egress_bytes_this_period == 4700.0


def test_egress_rolls_over_with_the_billing_period(make_sampler: SamplerFactory, tree: Path) -> None:
    clock = Clock(datetime(2026, 11, 30, 23, 59, tzinfo=UTC).timestamp())
    sampler = make_sampler(clock=clock)
    set_host_tx(tree, 10 * 2**30)
    sampler.sample()
    set_host_tx(tree, 10 * 2**30 + 500)
    clock.now += 120  # into December
    snap = sampler.sample()
    assert snap.period_start == datetime(2026, 12, 1, tzinfo=UTC).timestamp()
    assert snap.egress_bytes_this_period == 500.0


def test_overage_reaches_the_bill(make_sampler: SamplerFactory, tree: Path) -> None:
    table = config.resolve({"provider": "digitalocean", "plan": "s-1vcpu-1gb", "egress": {"included_gib": 1}})
    clock = Clock(T0)
    sampler = make_sampler(clock=clock, table=table)
    set_host_tx(tree, 0)
    sampler.sample()
    set_host_tx(tree, int(3 * GIB))
    clock.now += 60
    assert sampler.sample().bill["egress_overage"] == pytest.approx(2 * 0.01)


def test_corrupt_state_file_is_moved_aside(make_sampler: SamplerFactory, tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    state.write_text("{not json")
    snap = make_sampler(state_file=state).sample()
    assert snap.egress_bytes_this_period is not None
    assert list(tmp_path.glob("state.json.corrupt-*"))


def test_a_failing_collector_is_counted_and_the_rest_still_works(make_sampler: SamplerFactory, tree: Path) -> None:
    (tree / "proc/stat").unlink()
    snap = make_sampler().sample()
    assert snap.collectors["host"].success is False
    assert snap.collectors["host"].errors_total == 1
    assert snap.collectors["cgroup"].success is True
    assert HOST not in snap.usage
    assert "web" in snap.usage
    assert snap.bill["plan"] > 0


def test_fixed_part_at_period_end_respects_the_monthly_cap(make_sampler: SamplerFactory) -> None:
    # November has 720 hours; DigitalOcean caps the s-1vcpu-1gb plan at 6.00 after 672 of them.
    snap = make_sampler(clock=Clock(T0)).sample()
    assert snap.bill_fixed_at_period_end == pytest.approx(6.00)
    ec2 = config.resolve({"provider": "ec2", "plan": "t3.small", "extras": {"ips": {"count": 0}}})
    assert make_sampler(clock=Clock(T0), table=ec2).sample().bill_fixed_at_period_end == pytest.approx(0.0208 * 720)
