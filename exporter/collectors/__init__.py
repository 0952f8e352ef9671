"""Readers of usage: each returns plain readings; pricing and exposition happen elsewhere.

`READERS` is the one list of them: it makes the `--collector.<name>` flags and the readers the sampler loops over, so
a new reader is a module here and one entry below (and its errors, durations and success are counted under its name).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from exporter.collectors.base import Reader
from exporter.collectors.cgroup import CgroupReader
from exporter.collectors.host import HostReader
from exporter.containers import NameResolver
from exporter.flags import Flags


@dataclass(frozen=True)
class Spec:
    what: str
    """What it prices, for --help."""
    build: Callable[[Flags], Reader]


READERS: dict[str, Spec] = {
    "host": Spec("the whole host", lambda f: HostReader(f.procfs, f.rootfs, f.mountpoint_list, f.exclude_interfaces)),
    "cgroup": Spec(
        "containers and services",
        lambda f: CgroupReader(
            f.cgroup_root, f.procfs, NameResolver(f.docker_root, f.podman_root), f.exclude_interfaces
        ),
    ),
}


def enabled(flags: Flags) -> list[Reader]:
    """The readers the flags turn on, in READERS' order."""
    return [spec.build(flags) for name, spec in READERS.items() if flags.collectors.get(name, True)]
