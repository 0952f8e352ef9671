"""The exporter's command line as one typed value: what `build` wires from, instead of an argparse Namespace that
any attribute name type-checks against."""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Flags:
    config_file: Path | None
    config_check: bool
    listen: tuple[str, int]
    telemetry_path: str
    procfs: Path
    sysfs: Path
    cgroupfs: Path | None
    rootfs: Path
    docker_root: Path
    podman_root: Path
    state_file: Path
    interval: float
    mountpoints: str
    exclude_interfaces: re.Pattern[str]
    actions_file: Path | None
    log_level: str
    log_format: str
    collectors: dict[str, bool] = field(default_factory=dict)
    """Reader name -> on (`--collector.<name>` / `--no-collector.<name>`)."""

    @classmethod
    def parsed(cls, args: argparse.Namespace) -> Flags:
        values = dict(vars(args))
        collectors = {
            k.removeprefix("collector_"): bool(values.pop(k)) for k in list(values) if k.startswith("collector_")
        }
        return cls(**values, collectors=collectors)

    @property
    def cgroup_root(self) -> Path:
        return self.cgroupfs or self.sysfs / "fs" / "cgroup"

    @property
    def mountpoint_list(self) -> tuple[str, ...]:
        return tuple(m.strip() for m in self.mountpoints.split(",") if m.strip())
