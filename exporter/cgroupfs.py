"""Pure parsers for cgroup v1/v2 files and the rules that decide which cgroup is a workload worth pricing.

A workload is a container (Docker, podman, containerd, CRI-O) or a systemd service. The walker stops at the first
workload on a path, so a parent and its children are never priced together; slices are never workloads.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    DOCKER = "docker"
    PODMAN = "podman"
    CONTAINERD = "containerd"
    CRIO = "crio"
    SERVICE = "service"


@dataclass(frozen=True)
class Workload:
    kind: Kind
    ident: str
    """Container id (64 hex) or the systemd unit name."""
    path: str
    """Path relative to the cgroup root, with a leading slash."""

    @property
    def is_container(self) -> bool:
        return self.kind is not Kind.SERVICE


_SCOPE_PATTERNS: tuple[tuple[re.Pattern[str], Kind], ...] = (
    (re.compile(r"^docker-([0-9a-f]{64})\.scope$"), Kind.DOCKER),
    (re.compile(r"^libpod-([0-9a-f]{64})\.scope$"), Kind.PODMAN),
    (re.compile(r"^cri-containerd-([0-9a-f]{64})\.scope$"), Kind.CONTAINERD),
    (re.compile(r"^crio-([0-9a-f]{64})\.scope$"), Kind.CRIO),
)
_BARE_ID = re.compile(r"^[0-9a-f]{64}$")
_BARE_PARENTS = {"docker": Kind.DOCKER, "libpod_parent": Kind.PODMAN, "machine.slice": Kind.PODMAN}
_SERVICE = re.compile(r"^[^/]+\.service$")


def classify(path: str) -> Workload | None:
    """The workload a cgroup path denotes, or None for slices, scopes of sessions and anything else.

    Covers the systemd cgroup driver (`system.slice/docker-<id>.scope`) and the cgroupfs driver (`/docker/<id>`).
    """
    parent, _, name = path.rstrip("/").rpartition("/")
    for pattern, kind in _SCOPE_PATTERNS:
        match = pattern.match(name)
        if match:
            return Workload(kind, match.group(1), path)
    if _BARE_ID.match(name):
        bare_kind = _BARE_PARENTS.get(parent.rpartition("/")[2])
        if bare_kind is not None:
            return Workload(bare_kind, name, path)
    if _SERVICE.match(name):
        return Workload(Kind.SERVICE, name, path)
    return None


def parse_flat_keyed(text: str) -> dict[str, int]:
    """`key value` lines, as in cpu.stat, memory.stat and cpuacct.stat."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2:
            try:
                out[parts[0]] = int(parts[1])
            except ValueError:
                continue
    return out


def parse_int(text: str) -> int:
    """A file holding one integer (memory.current, cpuacct.usage); v2 writes `max` for no limit, which is not usage."""
    return int(text.strip())


def first_pid(text: str) -> int | None:
    """The first pid of cgroup.procs: any process shares the cgroup's network namespace, so one is enough."""
    for line in text.splitlines():
        line = line.strip()
        if line:
            return int(line)
    return None


def working_set_v2(memory_current: int, memory_stat: dict[str, int]) -> int:
    """cAdvisor's working set: usage minus the page cache the kernel can drop at once."""
    return max(0, memory_current - memory_stat.get("inactive_file", 0))


def working_set_v1(usage_in_bytes: int, memory_stat: dict[str, int]) -> int:
    return max(0, usage_in_bytes - memory_stat.get("total_inactive_file", memory_stat.get("inactive_file", 0)))
