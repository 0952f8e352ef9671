"""The background sampler: reads usage on a fixed beat, prices it, and publishes an immutable snapshot.

Sampling on our own clock (not per scrape) keeps the cost counters and hourly-rate gauges independent of who scrapes
how often, and makes a scrape a cheap read of the last snapshot.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from prometheus_client.core import CounterMetricFamily, Metric

from exporter import state as egress_state
from exporter.cgroupfs import Workload
from exporter.collectors.base import Reader, Reading
from exporter.collectors.host import Filesystem, HostReading
from exporter.config import PricingTable
from exporter.pricing import Usage, bill_to_date, billing_period, interval_cost, unit_prices

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class CollectorStatus:
    duration_seconds: float
    success: bool
    errors_total: int


@dataclass(frozen=True)
class Snapshot:
    timestamp: float
    cost_total: dict[tuple[str, str], float]
    """(resource, cgroup) -> money accrued since the exporter started."""
    cost_per_hour: dict[tuple[str, str], float]
    usage: dict[str, Usage]
    """cgroup label -> the latest reading."""
    workloads: dict[str, Workload]
    filesystems: tuple[Filesystem, ...]
    host_transmit_bytes: float | None
    bill: dict[str, float]
    bill_fixed_at_period_end: float
    """The time-based part of the invoice (everything but egress overage) as it will stand when the period ends."""
    period_start: float
    period_end: float
    egress_bytes_this_period: float | None
    collectors: dict[str, CollectorStatus] = field(default_factory=dict)


class Sampler:
    def __init__(
        self,
        table: PricingTable,
        readers: Sequence[Reader],
        state_file: Path,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._table = table
        self._prices = unit_prices(table)
        self._readers = tuple(readers)
        self._state_file = state_file
        self._clock = clock
        self._egress = self._load_state()
        self._previous: tuple[float, dict[str, Usage]] | None = None
        self._totals: dict[tuple[str, str], float] = {}
        self._errors: dict[str, int] = {reader.name: 0 for reader in self._readers}
        self.snapshot: Snapshot | None = None

    def _load_state(self) -> egress_state.EgressState | None:
        try:
            return egress_state.load(self._state_file)
        except egress_state.StateError as exc:
            aside = self._state_file.with_name(f"{self._state_file.name}.corrupt-{int(time.time())}")
            self._state_file.replace(aside)
            log.error("%s; moved it to %s and starting month-to-date egress from now", exc, aside)
            return None

    def _timed(self, name: str, read: Callable[[], T]) -> tuple[T | None, CollectorStatus]:
        started = time.perf_counter()
        try:
            result: T | None = read()
            ok = True
        except Exception:  # A collector must never take the exporter down; the error is counted and logged.
            log.exception("collector %s failed", name)
            result, ok = None, False
            self._errors[name] += 1
        return result, CollectorStatus(time.perf_counter() - started, ok, self._errors[name])

    def sample(self) -> Snapshot:
        """Read, price and publish once; called on every beat and once at start-up so /metrics has data at once."""
        now = self._clock()
        statuses: dict[str, CollectorStatus] = {}
        usage: dict[str, Usage] = {}
        workloads: dict[str, Workload] = {}
        host: HostReading | None = None
        for reader in self._readers:
            reading: Reading | None
            reading, statuses[reader.name] = self._timed(reader.name, reader.read)
            if reading is None:
                continue
            if reading.errors:
                self._errors[reader.name] += reading.errors
                statuses[reader.name] = CollectorStatus(statuses[reader.name].duration_seconds, True,
                                                        self._errors[reader.name])  # fmt: skip
            for label, used, workload in reading.entries():
                if label in usage and workload is not None:  # two workloads of one name: told apart by id
                    label = f"{label}@{workload.ident[:12]}"
                usage[label] = used
                if workload is not None:
                    workloads[label] = workload
            host = reading.host or host

        rates = self._accrue(now, usage)
        start, end = billing_period(
            datetime.fromtimestamp(now, UTC), self._table.billing.timezone, self._table.billing.cycle_day
        )
        sent = host.usage.get("network_egress") if host is not None else None
        if host is not None and sent is not None:
            self._update_egress(host, sent, start.timestamp())
        egress_bytes = (
            self._egress.bytes_this_period if self._egress and self._egress.period_start == start.timestamp() else None
        )
        bill = bill_to_date(self._table, start, datetime.fromtimestamp(now, UTC), egress_bytes or 0.0)
        fixed_at_end = sum(bill_to_date(self._table, start, end, 0.0).values())
        snap = Snapshot(
            timestamp=now,
            cost_total=dict(self._totals),
            cost_per_hour=rates,
            usage=usage,
            workloads=workloads,
            filesystems=host.filesystems if host is not None else (),
            host_transmit_bytes=sent,
            bill=bill,
            bill_fixed_at_period_end=fixed_at_end,
            period_start=start.timestamp(),
            period_end=end.timestamp(),
            egress_bytes_this_period=egress_bytes,
            collectors=statuses,
        )
        self.snapshot = snap
        return snap

    def _accrue(self, now: float, usage: dict[str, Usage]) -> dict[tuple[str, str], float]:
        """Add each interval's money to the running totals; forget workloads that are gone."""
        rates: dict[tuple[str, str], float] = {}
        previous = self._previous
        self._previous = (now, usage)
        live = set(usage)
        self._totals = {key: value for key, value in self._totals.items() if key[1] in live}
        before_time, before = previous if previous is not None else (now, {})
        seconds = now - before_time
        for label, reading in usage.items():
            if label not in before:
                # First sight: expose zeros now so the counters exist from the start; money accrues from the next beat.
                for resource in interval_cost(reading, reading, 0.0, self._prices):
                    self._totals[(resource, label)] = 0.0
                continue
            if seconds <= 0:
                continue
            for resource, money in interval_cost(before[label], reading, seconds, self._prices).items():
                key = (resource, label)
                self._totals[key] = self._totals.get(key, 0.0) + money
                rates[key] = money / seconds * 3600.0
        return rates

    def _update_egress(self, host: HostReading, transmit_bytes: float, period_start: float) -> None:
        self._egress = egress_state.advance(self._egress, transmit_bytes, host.boot_id, host.boot_time, period_start)
        try:
            egress_state.save(self._state_file, self._egress)
        except OSError as exc:
            self._errors["host"] += 1
            log.error("cannot save month-to-date egress to %s: %s", self._state_file, exc)


class Heartbeat:
    """Whether the sampler still completes its beats: /-/healthy says no when it has not for a while, so a sampler
    that fails on every beat is noticed instead of serving frozen numbers as fresh."""

    def __init__(self, interval: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._interval = interval
        self._clock = clock
        self._ok_at = clock()
        self.failures = 0
        self.last_error = ""

    def run(self, beat: Callable[[], None]) -> None:
        """One beat; an error is logged and counted, never raised (it would end the sampler thread)."""
        try:
            beat()
        except Exception as exc:
            self.failures += 1
            self.last_error = f"{type(exc).__name__}: {exc}"[:300]
            log.exception("sampling beat failed (%d so far); the last good numbers stay served", self.failures)
        else:
            self._ok_at = self._clock()

    def collect(self) -> Iterator[Metric]:
        yield CounterMetricFamily("costwarden_exporter_beat_failures",
                                  "Sampling beats that failed (read, price or render); the last good numbers stayed.",
                                  value=self.failures)  # fmt: skip

    def problem(self) -> str | None:
        """None while beats complete; else since when they have not, and the last error."""
        late = self._clock() - self._ok_at
        if late <= 3 * self._interval + 10:
            return None
        return f"no sampling beat has completed for {late:.0f} s ({self.failures} failed; last: {self.last_error})"


def every(interval: float, stop: threading.Event, beat: Callable[[], None]) -> None:
    """Call `beat` every `interval` seconds until `stop` is set, keeping the rhythm when a beat is slow."""
    next_at = time.monotonic() + interval
    while not stop.wait(max(0.0, next_at - time.monotonic())):
        beat()
        next_at += interval
        if next_at < time.monotonic():
            next_at = time.monotonic() + interval  # Fell behind (suspend, overload): skip, don't burst.
