"""The whole host: CPU, memory, disk and egress, from the (injectable) procfs and psutil's statvfs."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil

from exporter import procfs
from exporter.cgroupfs import Workload
from exporter.pricing import Usage


@dataclass(frozen=True)
class Filesystem:
    mountpoint: str
    used_bytes: int
    size_bytes: int


HOST = "/"
"""The `cgroup` label of the whole host."""


@dataclass(frozen=True)
class HostReading:
    usage: Usage
    boot_time: float
    boot_id: str
    filesystems: tuple[Filesystem, ...]
    errors: int = 0

    def entries(self) -> Iterator[tuple[str, Usage, Workload | None]]:
        yield HOST, self.usage, None

    @property
    def host(self) -> HostReading:
        return self


class HostReader:
    name = "host"

    def __init__(
        self, procfs_root: Path, rootfs: Path, mountpoints: tuple[str, ...], exclude_interfaces: re.Pattern[str]
    ) -> None:
        self._proc = procfs_root
        self._rootfs = rootfs
        self._mountpoints = mountpoints
        self._exclude = exclude_interfaces
        self._clk_tck = os.sysconf("SC_CLK_TCK")

    def read(self) -> HostReading:
        cpu = procfs.parse_proc_stat((self._proc / "stat").read_text(), self._clk_tck)
        memory = procfs.memory_working_set(procfs.parse_meminfo((self._proc / "meminfo").read_text()))
        interfaces = procfs.parse_net_dev((self._proc / "1" / "net" / "dev").read_text())
        try:
            boot_id = (self._proc / "sys" / "kernel" / "random" / "boot_id").read_text().strip()
        except FileNotFoundError:
            boot_id = f"btime-{cpu.boot_time:.0f}"
        filesystems = tuple(self._filesystem(m) for m in self._mountpoints)
        return HostReading(
            usage={
                "cpu": cpu.busy_seconds,
                "memory": float(memory),
                "disk": float(sum(fs.used_bytes for fs in filesystems)),
                "network_egress": float(procfs.transmit_bytes(interfaces, self._exclude)),
            },
            boot_time=cpu.boot_time,
            boot_id=boot_id,
            filesystems=filesystems,
        )

    def _filesystem(self, mountpoint: str) -> Filesystem:
        usage = psutil.disk_usage(str(self._rootfs / mountpoint.lstrip("/")))
        return Filesystem(mountpoint, usage.used, usage.total)
