"""The exporter's readers pointed at the fixture trees (tests/fixtures): what the collector tests and
bench/exporter_scrape.py read."""

from __future__ import annotations

import re
from pathlib import Path

from exporter.collectors.cgroup import CgroupReader
from exporter.collectors.host import HostReader
from exporter.containers import NameResolver
from exporter.procfs import DEFAULT_EXCLUDED_INTERFACES

FIXTURES = Path(__file__).parents[1] / "fixtures"
EXCLUDE = re.compile(DEFAULT_EXCLUDED_INTERFACES)


def cgroup_reader(root: Path, layout: str) -> CgroupReader:
    return CgroupReader(
        root / layout / "sys" / "fs" / "cgroup",
        root / "proc",
        NameResolver(root / "docker", root / "containers" / "storage"),
        EXCLUDE,
    )


def host_reader(root: Path) -> HostReader:
    return HostReader(root / "proc", root, ("/",), EXCLUDE)
