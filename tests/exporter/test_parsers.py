"""Pure parsers and the workload classifier, against strings."""

from __future__ import annotations

import re

import pytest

from exporter import cgroupfs, procfs
from exporter.cgroupfs import Kind

ID = "0123456789abcdef" * 4


def test_proc_stat_counts_busy_states_only() -> None:
    text = "cpu  100 20 30 4000 50 6 7 8 90 10\ncpu0 1 1 1 1 1 1 1 1\nbtime 1700000000\n"
    times = procfs.parse_proc_stat(text, clk_tck=100)
    # user+nice+system+irq+softirq+steal; idle, iowait and guest (already inside user) excluded.
    assert times.busy_seconds == pytest.approx((100 + 20 + 30 + 6 + 7 + 8) / 100)
    assert times.boot_time == 1_700_000_000


def test_proc_stat_without_aggregate_line_is_an_error() -> None:
    with pytest.raises(ValueError, match="aggregate"):
        procfs.parse_proc_stat("cpu0 1 2 3 4\n")


def test_meminfo_working_set_uses_available() -> None:
    info = procfs.parse_meminfo("MemTotal: 1000 kB\nMemFree: 100 kB\nMemAvailable: 400 kB\nHugePages_Total: 0\n")
    assert info["MemTotal"] == 1000 * 1024
    assert info["HugePages_Total"] == 0
    assert procfs.memory_working_set(info) == 600 * 1024


def test_net_dev_and_billable_interfaces() -> None:
    text = (
        "Inter-|   Receive |  Transmit\n face |bytes packets|bytes\n"
        "    lo: 10 1 0 0 0 0 0 0 10 1 0 0 0 0 0 0\n"
        "  eth0: 20 1 0 0 0 0 0 0 300 1 0 0 0 0 0 0\n"
        "ens3:4 1 0 0 0 0 0 0 5000 1 0 0 0 0 0 0\n"
        "docker0: 1 1 0 0 0 0 0 0 70 1 0 0 0 0 0 0\n"
        "vethab12: 1 1 0 0 0 0 0 0 80 1 0 0 0 0 0 0\n"
        "wg0: 1 1 0 0 0 0 0 0 90 1 0 0 0 0 0 0\n"
    )
    interfaces = procfs.parse_net_dev(text)
    assert interfaces["eth0"] == (20, 300)
    assert interfaces["ens3"] == (4, 5000)  # no space after the colon, as the kernel prints long counters
    assert procfs.transmit_bytes(interfaces, re.compile(procfs.DEFAULT_EXCLUDED_INTERFACES)) == 5300


@pytest.mark.parametrize(
    ("path", "kind", "ident"),
    [
        (f"/system.slice/docker-{ID}.scope", Kind.DOCKER, ID),
        (f"/docker/{ID}", Kind.DOCKER, ID),
        (f"/machine.slice/libpod-{ID}.scope", Kind.PODMAN, ID),
        (f"/kubepods.slice/x.slice/cri-containerd-{ID}.scope", Kind.CONTAINERD, ID),
        (f"/kubepods.slice/crio-{ID}.scope", Kind.CRIO, ID),
        ("/system.slice/nginx.service", Kind.SERVICE, "nginx.service"),
        ("/user.slice/user-1000.slice/user@1000.service", Kind.SERVICE, "user@1000.service"),
    ],
)
def test_classify_workloads(path: str, kind: Kind, ident: str) -> None:
    workload = cgroupfs.classify(path)
    assert workload is not None
    assert (workload.kind, workload.ident, workload.path) == (kind, ident, path)


@pytest.mark.parametrize(
    "path",
    [
        "/system.slice",
        "/user.slice/user-1000.slice/session-3.scope",
        f"/system.slice/libpod-conmon-{ID}.scope",
        f"/elsewhere/{ID}",  # a bare id outside an engine's parent is not assumed to be a container
        "/init.scope",
        f"/system.slice/docker-{ID[:12]}.scope",
    ],
)
def test_classify_ignores_non_workloads(path: str) -> None:
    assert cgroupfs.classify(path) is None


def test_cgroup_file_parsers() -> None:
    stat = cgroupfs.parse_flat_keyed("usage_usec 1500\nuser_usec 1000\nbogus line here\nnr_periods x\n")
    assert stat == {"usage_usec": 1500, "user_usec": 1000}
    assert cgroupfs.parse_int("  4096\n") == 4096
    assert cgroupfs.first_pid("\n 42\n43\n") == 42
    assert cgroupfs.first_pid("") is None
    assert cgroupfs.working_set_v2(1000, {"inactive_file": 300}) == 700
    assert cgroupfs.working_set_v2(100, {"inactive_file": 300}) == 0
    assert cgroupfs.working_set_v1(1000, {"total_inactive_file": 250, "inactive_file": 1}) == 750
