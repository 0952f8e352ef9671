"""Collectors against committed fixture trees: cgroup v2, v1 and hybrid layouts, and the host's procfs."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from exporter.cgroupfs import Kind
from exporter.collectors.cgroup import Layout
from exporter.pricing import GIB
from tests.support.readers import FIXTURES, cgroup_reader, host_reader

MIB = 2**20
A, B, C, D, E = ("a" * 63 + "1", "b" * 63 + "2", "c" * 63 + "3", "d" * 63 + "4", "e" * 63 + "5")


def by_name(root: Path, layout: str) -> dict[str, tuple[Kind, float, float | None, float | None]]:
    reading = cgroup_reader(root, layout).read()
    assert reading.errors == 0
    return {
        r.name: (r.workload.kind, r.usage["cpu"], r.usage.get("memory"), r.usage.get("network_egress"))
        for r in reading.workloads
    }


def test_cgroup_v2_finds_containers_and_services_once() -> None:
    got = by_name(FIXTURES, "cgroupv2")
    assert got == {
        "web": (Kind.DOCKER, 3600.0, 256 * MIB, float(GIB)),  # working set = current - inactive_file
        "miner": (Kind.DOCKER, 7200.0, 100 * MIB, None),  # host network: counted in the host total only
        "pod-db": (Kind.PODMAN, 1800.0, 500 * MIB, 5000.0),
        "ci-runner": (Kind.DOCKER, 60.0, 64 * MIB, 7000.0),  # its nested init.scope is not a second workload
        "dddddddddddd": (Kind.CONTAINERD, 900.0, 50 * MIB, 6000.0),  # no name source: short id
        "nginx.service": (Kind.SERVICE, 120.0, 16 * MIB, None),
        "docker.service": (Kind.SERVICE, 240.0, 80 * MIB, None),
        "user@1000.service": (Kind.SERVICE, 7.0, 1 * MIB, None),
        "cron.service": (Kind.SERVICE, 2.0, None, None),  # memory controller off: not measured, not an error
    }


def test_the_host_network_is_recognised_when_pid_1s_namespace_cannot_be_read(tree: Path) -> None:
    """Docker's AppArmor profile refuses a container the readlink of /proc/1/ns/net, even with SYS_PTRACE: a
    host-network container must still not report the host's egress as its own (counted twice)."""
    (tree / "proc" / "1" / "ns" / "net").unlink()
    host_dev = (tree / "proc" / "1" / "net" / "dev").read_text()
    (tree / "proc" / "1002" / "net" / "dev").write_text(host_dev)  # the miner, on the host network
    got = by_name(tree, "cgroupv2")
    assert got["miner"][3] is None
    assert got["web"][3] == float(GIB) and got["pod-db"][3] == 5000.0  # bridge containers still priced


def test_cgroup_v1_cgroupfs_driver() -> None:
    assert Layout(FIXTURES / "cgroupv1" / "sys" / "fs" / "cgroup").version == "v1"
    got = by_name(FIXTURES, "cgroupv1")
    assert got == {
        "web": (Kind.DOCKER, 3600.0, 256 * MIB, float(GIB)),
        "miner": (Kind.DOCKER, 7200.0, 100 * MIB, None),
        "nginx.service": (Kind.SERVICE, 120.0, 16 * MIB, None),
    }


def test_hybrid_uses_v1_controllers_when_unified_has_none() -> None:
    assert Layout(FIXTURES / "hybrid" / "sys" / "fs" / "cgroup").version == "v1"
    got = by_name(FIXTURES, "hybrid")
    assert got == {
        "web": (Kind.DOCKER, 3600.0, 256 * MIB, float(GIB)),
        "nginx.service": (Kind.SERVICE, 120.0, 16 * MIB, None),
    }


def test_vanished_container_is_skipped_silently(tree: Path) -> None:
    reader = cgroup_reader(tree, "cgroupv2")
    assert len(reader.read().workloads) == 9
    (tree / f"cgroupv2/sys/fs/cgroup/system.slice/docker-{A}.scope/cpu.stat").unlink()
    shutil.rmtree(tree / f"cgroupv2/sys/fs/cgroup/system.slice/libpod-{C}.scope")
    reading = reader.read()
    assert reading.errors == 0
    assert {r.name for r in reading.workloads} == {
        "miner", "ci-runner", "dddddddddddd", "nginx.service", "docker.service", "user@1000.service", "cron.service"
    }  # fmt: skip


def test_unreadable_or_garbled_file_counts_an_error_and_keeps_the_rest(tree: Path) -> None:
    base = tree / "cgroupv2/sys/fs/cgroup/system.slice"
    stat = base / f"docker-{B}.scope/memory.stat"
    stat.unlink()
    stat.mkdir()  # reading it fails with an OSError that is not "gone" (root can read any mode, so no chmod)
    (base / "nginx.service/cpu.stat").write_text("garbage\n")
    reading = cgroup_reader(tree, "cgroupv2").read()
    assert reading.errors == 2
    assert "web" in {r.name for r in reading.workloads}
    assert {"miner", "nginx.service"}.isdisjoint(r.name for r in reading.workloads)


def test_network_namespace_shared_by_two_containers_is_counted_once(tree: Path) -> None:
    base = tree / "cgroupv2/sys/fs/cgroup/system.slice"
    (base / f"libpod-{C}.scope/cgroup.procs").write_text("1001\n")  # pod-db joins web's namespace
    got = {r.name: r.usage.get("network_egress") for r in cgroup_reader(tree, "cgroupv2").read().workloads}
    assert [got["web"], got["pod-db"]].count(None) == 1
    assert float(GIB) in (got["web"], got["pod-db"])


def test_missing_cgroup_root_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no cgroup v2 controllers"):
        cgroup_reader(tmp_path, "nowhere").read()


def test_host_reader() -> None:
    reading = host_reader(FIXTURES).read()
    clk = 100  # the fixture's numbers assume USER_HZ = 100, as on every Linux build that matters here
    assert reading.usage["cpu"] == pytest.approx((10000 + 500 + 3000 + 100 + 200 + 50) / clk)
    assert reading.usage["memory"] == (4028416 - 2014208) * 1024
    assert reading.usage["network_egress"] == 2 * GIB  # eth0 only: lo, docker0, veth and wg0 excluded
    assert reading.boot_id == "3f1c2a9e-7d1b-4c55-9a0e-2b8f6f1d0c11"
    assert reading.boot_time == 1_790_000_000
    assert reading.filesystems[0].mountpoint == "/"
    assert 0 < reading.filesystems[0].used_bytes <= reading.filesystems[0].size_bytes
