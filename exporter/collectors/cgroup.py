"""Containers and services, from cgroup v2 or, where v2 has no controllers, the v1 hierarchies.

Both layouts are common on VPSes (a hybrid host mounts v1 controllers beside an empty v2 tree), so the walker
decides per host at start-up and reads the files directly: one directory walk and a handful of small reads per
workload, no Docker API.
"""

from __future__ import annotations

import errno
import logging
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from exporter import cgroupfs, procfs
from exporter.cgroupfs import Workload
from exporter.containers import NameResolver
from exporter.pricing import Usage

log = logging.getLogger(__name__)

_V1_CPU_DIRS = ("cpuacct", "cpu,cpuacct", "cpuacct,cpu")
_VANISHED = (FileNotFoundError, ProcessLookupError)


@dataclass(frozen=True)
class WorkloadReading:
    workload: Workload
    name: str
    usage: Usage


@dataclass(frozen=True)
class CgroupReading:
    workloads: tuple[WorkloadReading, ...]
    errors: int
    """Workloads skipped because a file could not be read (not because they vanished)."""

    def entries(self) -> Iterator[tuple[str, Usage, Workload | None]]:
        for reading in self.workloads:
            yield reading.name, reading.usage, reading.workload

    @property
    def host(self) -> None:
        return None


class Layout:
    """Where the cpu and memory files of a cgroup path live, for v2 or v1."""

    def __init__(self, root: Path) -> None:
        self.root = root
        controllers = root / "cgroup.controllers"
        self.v2 = controllers.exists() and {"cpu", "memory"} & set(controllers.read_text().split()) != set()
        if self.v2:
            self.cpu_root = self.memory_root = root
        else:
            cpu = next((root / d for d in _V1_CPU_DIRS if (root / d).is_dir()), None)
            if cpu is None:
                raise FileNotFoundError(errno.ENOENT, "no cgroup v2 controllers and no v1 cpuacct hierarchy", str(root))
            self.cpu_root = cpu
            self.memory_root = root / "memory"

    @property
    def version(self) -> str:
        return "v2" if self.v2 else "v1"


class CgroupReader:
    name = "cgroup"

    def __init__(
        self,
        cgroup_root: Path,
        procfs_root: Path,
        names: NameResolver,
        exclude_interfaces: re.Pattern[str],
    ) -> None:
        self._root = cgroup_root
        self._proc = procfs_root
        self._names = names
        self._exclude = exclude_interfaces
        self._layout: Layout | None = None

    @property
    def layout(self) -> Layout:
        if self._layout is None:
            self._layout = Layout(self._root)
            log.info("cgroup layout %s under %s", self._layout.version, self._root)
        return self._layout

    def read(self) -> CgroupReading:
        layout = self.layout
        host_netns = _netns(f"{self._proc}/1")
        # Where PID 1's namespace cannot be read (Docker's AppArmor profile refuses it to a container even with
        # SYS_PTRACE), the host's network is recognised by its interfaces instead: the same names as PID 1's.
        host_ifaces = None if host_netns else _interfaces(f"{self._proc}/1")
        seen_netns: set[str] = set()
        readings: list[WorkloadReading] = []
        errors = 0
        for workload in discover(layout.cpu_root):
            try:
                usage = self._usage(layout, workload, (host_netns, host_ifaces), seen_netns)
            except _VANISHED:
                continue  # Stopped between the walk and the read: not an error, just gone.
            except (OSError, ValueError, KeyError) as exc:
                errors += 1
                log.warning("cannot read cgroup %s: %s", workload.path, exc)
                continue
            readings.append(WorkloadReading(workload, self._names.name(workload), usage))
        self._names.forget_all_but({r.workload.ident for r in readings})
        return CgroupReading(tuple(readings), errors)

    def _usage(self, layout: Layout, workload: Workload, host: _HostNet, seen_netns: set[str]) -> Usage:
        # Plain string paths on this hot loop: pathlib's object churn was a third of a beat at 500 containers.
        cpu_dir = f"{layout.cpu_root}{workload.path}"
        mem_dir = f"{layout.memory_root}{workload.path}"
        if layout.v2:
            cpu_seconds = cgroupfs.parse_flat_keyed(_read(f"{cpu_dir}/cpu.stat"))["usage_usec"] / 1e6
        else:
            cpu_seconds = cgroupfs.parse_int(_read(f"{cpu_dir}/cpuacct.usage")) / 1e9
        usage = {"cpu": cpu_seconds}
        memory, sent = _memory(layout.v2, mem_dir), self._transmit(cpu_dir, workload, host, seen_netns)
        if memory is not None:
            usage["memory"] = memory
        if sent is not None:
            usage["network_egress"] = sent
        return usage

    def _transmit(self, cpu_dir: str, workload: Workload, host: _HostNet, seen: set[str]) -> float | None:
        """Bytes the workload's own network namespace sent; None on the host network (the host total has them)."""
        if not workload.is_container:
            return None
        pid = cgroupfs.first_pid(_read(f"{cpu_dir}/cgroup.procs"))
        if pid is None:
            return None
        proc = f"{self._proc}/{pid}"
        host_netns, host_ifaces = host
        netns = _netns(proc)
        if netns is None or netns == host_netns or netns in seen:
            return None  # Host network, or a namespace another container already reported (pods, network_mode).
        seen.add(netns)
        interfaces = procfs.parse_net_dev(_read(f"{proc}/net/dev"))
        if host_ifaces and frozenset(interfaces) == host_ifaces:
            return None  # the host's own interfaces: the host network, whose bytes the host total has
        return float(procfs.transmit_bytes(interfaces, self._exclude))


def _read(path: str) -> str:
    """A small kernel file in one read; cgroup and proc files are generated per read and never large."""
    fd = os.open(path, os.O_RDONLY)
    try:
        chunks = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
        return b"".join(chunks).decode()
    finally:
        os.close(fd)


def _memory(v2: bool, mem_dir: str) -> float | None:
    """Working set, or None where the memory controller does not cover this cgroup (not an error: not measured)."""
    try:
        if v2:
            current = cgroupfs.parse_int(_read(f"{mem_dir}/memory.current"))
            return float(cgroupfs.working_set_v2(current, cgroupfs.parse_flat_keyed(_read(f"{mem_dir}/memory.stat"))))
        usage = cgroupfs.parse_int(_read(f"{mem_dir}/memory.usage_in_bytes"))
        return float(cgroupfs.working_set_v1(usage, cgroupfs.parse_flat_keyed(_read(f"{mem_dir}/memory.stat"))))
    except FileNotFoundError:
        return None


_HostNet = tuple[str | None, frozenset[str] | None]
"""The host's network namespace (None where unreadable), and its interface names when that is the case."""


def _interfaces(proc_pid: str) -> frozenset[str] | None:
    try:
        return frozenset(procfs.parse_net_dev(_read(f"{proc_pid}/net/dev")))
    except OSError:
        return None


def _netns(proc_pid: str) -> str | None:
    try:
        return os.readlink(f"{proc_pid}/ns/net")  # noqa: PTH115 - string paths on purpose, see _usage
    except OSError:
        return None


def discover(root: Path) -> list[Workload]:
    """Every workload below `root`, stopping at the first one on each path (children belong to their parent)."""
    found: list[Workload] = []
    stack = [("", root)]
    while stack:
        rel, directory = stack.pop()
        try:
            entries = list(os.scandir(directory))
        except OSError:
            continue  # Removed while walking, or not readable: the workloads inside are simply not there now.
        for entry in entries:
            try:
                if not entry.is_dir(follow_symlinks=False):
                    continue
            except OSError:
                continue
            path = f"{rel}/{entry.name}"
            workload = cgroupfs.classify(path)
            if workload is not None:
                found.append(workload)
            else:
                stack.append((path, Path(entry.path)))
    found.sort(key=lambda w: w.path)
    return found
