"""Pure parsers for the few /proc files the host collector prices; they take text so tests need no host."""

from __future__ import annotations

import re
from dataclasses import dataclass

DEFAULT_EXCLUDED_INTERFACES = (
    r"^(lo|veth.*|docker.*|br-.*|virbr.*|cni.*|flannel.*|cali.*|vxlan.*|podman.*|tun.*|tap.*|wg.*|tailscale.*"
    r"|zt.*|kube-.*|nodelocaldns|dummy.*|ifb.*)$"
)
"""Interfaces whose bytes are not host egress: loopback, container bridges and veths (their traffic leaves through
the physical interface too), and tunnels (encapsulated over the physical interface, so counting both double-counts)."""


@dataclass(frozen=True)
class CpuTimes:
    busy_seconds: float
    boot_time: float


def parse_proc_stat(text: str, clk_tck: int = 100) -> CpuTimes:
    """Busy CPU time of the whole host: every state but idle and iowait (guest time is already inside user)."""
    busy = None
    boot_time = 0.0
    for line in text.splitlines():
        fields = line.split()
        if not fields:
            continue
        if fields[0] == "cpu":
            values = [int(v) for v in fields[1:]]
            values += [0] * (8 - len(values))
            user, nice, system, _idle, _iowait, irq, softirq, steal = values[:8]
            busy = (user + nice + system + irq + softirq + steal) / clk_tck
        elif fields[0] == "btime":
            boot_time = float(fields[1])
    if busy is None:
        raise ValueError("no aggregate 'cpu' line in /proc/stat")
    return CpuTimes(busy_seconds=busy, boot_time=boot_time)


def parse_meminfo(text: str) -> dict[str, int]:
    """/proc/meminfo as bytes (the file says kB, meaning KiB)."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        parts = rest.split()
        if not parts:
            continue
        scale = 1024 if len(parts) > 1 and parts[1] == "kB" else 1
        out[key.strip()] = int(parts[0]) * scale
    return out


def memory_working_set(meminfo: dict[str, int]) -> int:
    """Memory the host cannot give back without swapping: total minus what the kernel says is available."""
    return meminfo["MemTotal"] - meminfo.get("MemAvailable", meminfo.get("MemFree", 0))


def parse_net_dev(text: str) -> dict[str, tuple[int, int]]:
    """/proc/<pid>/net/dev as {interface: (receive_bytes, transmit_bytes)}."""
    out: dict[str, tuple[int, int]] = {}
    for line in text.splitlines()[2:]:
        name, sep, rest = line.partition(":")
        if not sep:
            continue
        fields = rest.split()
        if len(fields) < 9:
            continue
        out[name.strip()] = (int(fields[0]), int(fields[8]))
    return out


def transmit_bytes(interfaces: dict[str, tuple[int, int]], exclude: re.Pattern[str]) -> int:
    """Bytes sent on the interfaces that reach the outside world."""
    return sum(tx for name, (_rx, tx) in interfaces.items() if not exclude.match(name))
