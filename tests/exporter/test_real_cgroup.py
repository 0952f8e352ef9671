"""A real busy process in a real, freshly made cgroup: its CPU cost must rise. Needs root (CI runs as root)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from exporter import config
from exporter.collectors.cgroup import CgroupReader, Layout
from exporter.containers import NameResolver
from exporter.pricing import unit_prices
from exporter.sampler import Sampler
from tests.support.readers import EXCLUDE

ROOT = Path("/sys/fs/cgroup")


@pytest.fixture
def busy_service() -> Iterator[str]:
    if os.geteuid() != 0:
        pytest.skip("creating a cgroup needs root")
    layout = Layout(ROOT)
    name = f"costwarden-test-{os.getpid()}.service"
    directory = layout.cpu_root / name
    try:
        directory.mkdir()
    except OSError as exc:
        pytest.skip(f"cannot create a cgroup under {layout.cpu_root}: {exc}")
    burner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        (directory / "cgroup.procs").write_text(f"{burner.pid}\n")
        yield name
    finally:
        burner.kill()
        burner.wait()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                directory.rmdir()
                break
            except OSError:
                time.sleep(0.1)


@pytest.mark.root
def test_busy_process_in_a_fresh_cgroup_costs_money(busy_service: str, tmp_path: Path) -> None:
    table = config.load(None)
    reader = CgroupReader(ROOT, Path("/proc"), NameResolver(tmp_path, tmp_path), EXCLUDE)
    sampler = Sampler(table, [reader], tmp_path / "state.json")
    first = sampler.sample()
    assert ("cpu", busy_service) in first.cost_total
    time.sleep(1.5)
    snap = sampler.sample()
    price = unit_prices(table)["cpu"]
    assert snap.cost_total[("cpu", busy_service)] > 0.0
    # One spinning thread uses about one vCPU; shared CI machines may give it less, never more than ~1.
    assert 0.2 * price < snap.cost_per_hour[("cpu", busy_service)] < 1.2 * price
