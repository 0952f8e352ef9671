"""Render the sampler's latest snapshot as Prometheus metric families; every name here is in docs/metrics.md."""

from __future__ import annotations

import threading
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from exporter.billing.poller import Poller
from exporter.cgroupfs import Workload
from exporter.config import PricingTable
from exporter.exposition import render_text
from exporter.pricing import GIB, Usage
from exporter.sampler import Sampler, Snapshot


class CostCollector(Collector):
    def __init__(self, table: PricingTable, sampler: Sampler, billing: Poller | None = None) -> None:
        self._table = table
        self._sampler = sampler
        self._billing = billing

    def collect(self) -> Iterator[Metric]:
        """The pricing table, the provider's numbers, then what the last sampler beat saw: spend, the invoice so
        far, usage, filesystems and the collectors' own health."""
        yield from self._table_metrics()
        if self._billing is not None:
            yield from self._billing.collect(self._table.currency)
        snap = self._sampler.snapshot
        if snap is None:
            return
        yield from self._spend(snap)
        yield from self._invoice(snap)
        yield from self._usage(snap.usage, snap.workloads)
        yield from self._filesystems(snap)
        yield from self._health(snap)

    def _table_metrics(self) -> Iterator[Metric]:
        table = self._table
        currency = table.currency
        info = GaugeMetricFamily(
            "costwarden_info",
            "The pricing table in force; always 1.",
            labels=["provider", "plan", "currency", "region"],
        )
        info.add_metric([table.provider, table.plan, currency, table.region], 1.0)
        yield info
        yield GaugeMetricFamily(
            "costwarden_plan_price_per_hour",
            f"The plan's flat list price per hour, in {currency}.",
            value=table.plan_price.hourly,
        )
        if table.budget.monthly is not None:
            yield GaugeMetricFamily(
                "costwarden_budget_monthly",
                f"The monthly budget from the pricing table, in {currency}.",
                value=table.budget.monthly,
            )
        yield GaugeMetricFamily(
            "costwarden_egress_included_bytes",
            "Egress included in the plan per billing period, in bytes.",
            value=table.egress.included_gib * GIB,
        )

    def _spend(self, snap: Snapshot) -> Iterator[Metric]:
        currency = self._table.currency
        cost_total = CounterMetricFamily(
            "costwarden_cost",
            f'Usage-priced spend accrued since the exporter started, in {currency}; cgroup="/" is the whole host.',
            labels=["resource", "cgroup"],
        )
        for (resource, cgroup), value in sorted(snap.cost_total.items()):
            cost_total.add_metric([resource, cgroup], value)
        yield cost_total
        per_hour = GaugeMetricFamily(
            "costwarden_cost_per_hour",
            f"Current spend rate over the last sampling interval, in {currency} per hour.",
            labels=["resource", "cgroup"],
        )
        for (resource, cgroup), value in sorted(snap.cost_per_hour.items()):
            per_hour.add_metric([resource, cgroup], value)
        yield per_hour

    def _invoice(self, snap: Snapshot) -> Iterator[Metric]:
        currency = self._table.currency
        bill = CounterMetricFamily(
            "costwarden_bill",
            f"Estimated invoice for the current billing period so far, in {currency}; resets when a period starts.",
            labels=["component"],
        )
        for component, value in snap.bill.items():
            bill.add_metric([component], value)
        yield bill
        yield GaugeMetricFamily(
            "costwarden_bill_fixed_period",
            f"What the time-based part of this period's invoice (plan with its monthly cap, volumes, snapshots, "
            f"backups, IPs; not egress) will be when the period ends, in {currency}.",
            value=snap.bill_fixed_at_period_end,
        )
        yield GaugeMetricFamily(
            "costwarden_billing_period_start_timestamp_seconds",
            "Start of the current billing period.",
            value=snap.period_start,
        )
        yield GaugeMetricFamily(
            "costwarden_billing_period_end_timestamp_seconds",
            "End of the current billing period.",
            value=snap.period_end,
        )
        if snap.egress_bytes_this_period is not None:
            yield GaugeMetricFamily(
                "costwarden_egress_period_bytes",
                "Host egress sent in the current billing period (kept across restarts), in bytes.",
                value=snap.egress_bytes_this_period,
            )
        if snap.host_transmit_bytes is not None:
            yield CounterMetricFamily(
                "costwarden_network_transmit",
                "Bytes the host sent on billable interfaces (no loopback, container bridges, veths or tunnels).",
                unit="bytes",
                value=snap.host_transmit_bytes,
            )

    @staticmethod
    def _filesystems(snap: Snapshot) -> Iterator[Metric]:
        used = GaugeMetricFamily(
            "costwarden_filesystem_used_bytes", "Bytes used on a priced filesystem.", labels=["mountpoint"]
        )
        size = GaugeMetricFamily(
            "costwarden_filesystem_size_bytes", "Size of a priced filesystem.", labels=["mountpoint"]
        )
        for fs in snap.filesystems:
            used.add_metric([fs.mountpoint], fs.used_bytes)
            size.add_metric([fs.mountpoint], fs.size_bytes)
        if snap.filesystems:
            yield used
            yield size

    @staticmethod
    def _health(snap: Snapshot) -> Iterator[Metric]:
        duration = GaugeMetricFamily(
            "costwarden_exporter_collector_duration_seconds",
            "How long the collector's last read took.",
            labels=["collector"],
        )
        success = GaugeMetricFamily(
            "costwarden_exporter_collector_success", "1 if the collector's last read succeeded.", labels=["collector"]
        )
        errors = CounterMetricFamily(
            "costwarden_exporter_errors", "Reads that failed, whole or for one workload.", labels=["collector"]
        )
        for name, status in sorted(snap.collectors.items()):
            duration.add_metric([name], status.duration_seconds)
            success.add_metric([name], 1.0 if status.success else 0.0)
            errors.add_metric([name], status.errors_total)
        yield duration
        yield success
        yield errors
        yield GaugeMetricFamily(
            "costwarden_exporter_last_sample_timestamp_seconds",
            "When the sampler last read usage.",
            value=snap.timestamp,
        )

    @staticmethod
    def _usage(usage: dict[str, Usage], workloads: dict[str, Workload]) -> Iterator[Metric]:
        cpu = CounterMetricFamily("costwarden_cgroup_cpu_usage_seconds", "CPU time used.", labels=["cgroup"])
        memory = GaugeMetricFamily(
            "costwarden_cgroup_memory_working_set_bytes",
            "Memory in use that cannot be reclaimed at once.",
            labels=["cgroup"],
        )
        transmit = CounterMetricFamily(
            "costwarden_cgroup_network_transmit_bytes",
            "Bytes sent from the cgroup's own network namespace (absent on the host network).",
            labels=["cgroup"],
        )
        for label, reading in sorted(usage.items()):
            cpu.add_metric([label], reading["cpu"])
            if "memory" in reading:
                memory.add_metric([label], reading["memory"])
            if "network_egress" in reading:
                transmit.add_metric([label], reading["network_egress"])
        yield cpu
        yield memory
        yield transmit
        info = GaugeMetricFamily(
            "costwarden_cgroup_info",
            "What a cgroup label stands for; always 1.",
            labels=["cgroup", "kind", "id", "path"],
        )
        for label, workload in sorted(workloads.items()):
            info.add_metric([label, workload.kind.value, workload.ident, workload.path], 1.0)
        yield info


class RenderedMetrics:
    """The exposition of the cost metrics, rendered once per sampler beat instead of once per scrape.

    The snapshot only changes on a beat, so rendering it again for every scraper (Prometheus HA pairs, a curious
    human) would repeat the same work; with hundreds of containers that rendering is the bulk of a scrape.
    The exporter's own process metrics change continuously and are cheap, so they are rendered live.
    """

    def __init__(self, collector: CostCollector, live: CollectorRegistry) -> None:
        self._collector = collector
        self._live = live
        self._body = b""
        self._lock = threading.Lock()

    def refresh(self) -> None:
        body = render_text(self._collector.collect())
        with self._lock:
            self._body = body

    def render(self) -> bytes:
        with self._lock:
            body = self._body
        return body + generate_latest(self._live)
