"""What every reader gives the sampler: usage per label, and what each label stands for."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from exporter.cgroupfs import Workload
    from exporter.collectors.host import HostReading
    from exporter.pricing import Usage


class Reading(Protocol):
    @property
    def errors(self) -> int:
        """Items skipped because they could not be read (not because they vanished)."""
        ...

    def entries(self) -> Iterator[tuple[str, Usage, Workload | None]]:
        """(label, usage, the workload it stands for, if any)."""
        ...

    @property
    def host(self) -> HostReading | None:
        """The whole host's own facts (boot, filesystems, egress), from the reader that has them."""
        ...


class Reader(Protocol):
    name: str

    def read(self) -> Reading: ...
