"""`costwarden-exporter`: flags in node_exporter's style, logging, start-up checks, and the main loop."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import re
import signal
import sys
import threading
from pathlib import Path

import psutil
from prometheus_client import CollectorRegistry
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

from costwarden.logs import setup_logging
from costwarden.secrets import SecretFileError, env_or_file
from exporter import __version__, config
from exporter.actions import table as actions_table
from exporter.actions.diagnostics import Host
from exporter.actions.service import ActionService
from exporter.billing import poller
from exporter.billing.poller import Poller
from exporter.collectors import READERS, enabled
from exporter.containers import NameResolver
from exporter.flags import Flags
from exporter.http import make_app, serve
from exporter.metrics import CostCollector, RenderedMetrics
from exporter.pricing import METERS, full_machine_hourly, plan_mismatch, unit_prices
from exporter.procfs import DEFAULT_EXCLUDED_INTERFACES
from exporter.sampler import Heartbeat, Sampler, every

log = logging.getLogger("exporter")

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h)$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def duration(text: str) -> float:
    """Prometheus-style durations (`500ms`, `15s`, `1m`) in seconds."""
    match = _DURATION.match(text.strip())
    if not match or float(match.group(1)) <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive duration such as 15s or 1m")
    return float(match.group(1)) * _UNITS[match.group(2)]


def listen_address(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"{text!r} is not [host]:port, e.g. :9877 or 127.0.0.1:9877")
    return host.strip("[]"), int(port)


def regex(text: str) -> re.Pattern[str]:
    try:
        return re.compile(text)
    except re.error as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a valid regular expression: {exc}") from exc


def build_parser() -> argparse.ArgumentParser:
    presets = config.preset_names()
    epilog = "Built-in presets (provider: plans):\n" + "\n".join(
        f"  {provider}: {', '.join(plans)}" for provider, plans in sorted(presets.items())
    )
    epilog += (
        "\n\nWith no --config.file the exporter prices this host as a DigitalOcean s-1vcpu-1gb Droplet, so numbers"
        "\nappear at once; write a pricing.yml (see docs/configuration.md) for your real plan."
    )
    p = argparse.ArgumentParser(
        prog="costwarden-exporter",
        description="Serve Prometheus metrics that turn this host's and its containers' usage into money.",
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--config.file", dest="config_file", type=Path, help="pricing table (YAML); default: embedded")
    p.add_argument(
        "--config.check",
        dest="config_check",
        action="store_true",
        help="validate the pricing table, print the resolved prices as JSON, and exit",
    )
    p.add_argument(
        "--web.listen-address",
        dest="listen",
        type=listen_address,
        default=("", 9877),
        metavar="[HOST]:PORT",
        help="where to serve (default :9877)",
    )
    p.add_argument("--web.telemetry-path", dest="telemetry_path", default="/metrics", help="default /metrics")
    p.add_argument("--path.procfs", dest="procfs", type=Path, default=Path("/proc"), help="default /proc")
    p.add_argument("--path.sysfs", dest="sysfs", type=Path, default=Path("/sys"), help="default /sys")
    p.add_argument(
        "--path.cgroupfs",
        dest="cgroupfs",
        type=Path,
        help="cgroup mount (default <path.sysfs>/fs/cgroup); v2, or v1 hierarchies below it",
    )
    p.add_argument(
        "--path.rootfs",
        dest="rootfs",
        type=Path,
        default=Path("/"),
        help="host root for disk usage (default /; /host in the container)",
    )
    p.add_argument(
        "--path.docker-root",
        dest="docker_root",
        type=Path,
        default=Path("/var/lib/docker"),
        help="Docker's data root, read for container names (default /var/lib/docker)",
    )
    p.add_argument(
        "--path.podman-root",
        dest="podman_root",
        type=Path,
        default=Path("/var/lib/containers/storage"),
        help="podman's storage root, read for container names",
    )
    p.add_argument(
        "--storage.state-file",
        dest="state_file",
        type=Path,
        default=Path("data/exporter-state.json"),
        help="keeps month-to-date egress across restarts (default data/exporter-state.json)",
    )
    p.add_argument(
        "--sample.interval",
        dest="interval",
        type=duration,
        default=15.0,
        help="how often usage is read and priced (default 15s)",
    )
    p.add_argument(
        "--collector.host.mountpoints",
        dest="mountpoints",
        default="/",
        help="comma-separated filesystems priced as disk (default /)",
    )
    p.add_argument(
        "--collector.host.exclude-interfaces",
        dest="exclude_interfaces",
        type=regex,
        default=re.compile(DEFAULT_EXCLUDED_INTERFACES),
        help="interfaces whose bytes are not egress (default: loopback, bridges, veths, tunnels)",
    )
    for name, spec in READERS.items():
        p.add_argument(
            f"--collector.{name}",
            dest=f"collector_{name}",
            action=argparse.BooleanOptionalAction,
            default=True,
            help=f"price {spec.what} (default on; --no-collector.{name} to disable)",
        )
    p.add_argument(
        "--actions.file",
        dest="actions_file",
        type=Path,
        help="diagnostics and remediation per alert (default: embedded read-only diagnostics); served on /actions "
        "only when COSTWARDEN_ACTIONS_TOKEN (or _FILE) is set; see docs/actions.md",
    )
    p.add_argument("--log.level", dest="log_level", default="info", choices=["debug", "info", "warn", "error"])
    p.add_argument("--log.format", dest="log_format", default="logfmt", choices=["logfmt", "json"])
    p.add_argument("--version", action="version", version=f"costwarden-exporter {__version__}")
    return p


def build(
    args: Flags, table: config.PricingTable, billing: Poller | None = None
) -> tuple[RenderedMetrics, Sampler, Heartbeat]:
    """Wire readers, sampler and registry from the flags; the single place where paths become objects."""
    sampler = Sampler(table, enabled(args), args.state_file)
    live = CollectorRegistry()
    ProcessCollector(registry=live)
    PlatformCollector(registry=live)
    GCCollector(registry=live)
    heart = Heartbeat(args.interval)
    live.register(heart)  # rendered live, so it still counts when rendering the snapshot is what fails
    return RenderedMetrics(CostCollector(table, sampler, billing), live), sampler, heart


def build_actions(args: Flags) -> tuple[ActionService | None, str | None]:
    """The /actions service when a token is set (the endpoint does not exist without one)."""
    try:
        token = (env_or_file("COSTWARDEN_ACTIONS_TOKEN", os.environ) or "").strip()
    except SecretFileError as exc:
        raise config.ConfigError(str(exc)) from exc
    table = actions_table.load(args.actions_file)
    if not token:
        if args.actions_file:
            log.warning("--actions.file is set but COSTWARDEN_ACTIONS_TOKEN is not: /actions stays off")
        return None, None
    host = Host(args.procfs, args.rootfs, args.docker_root, NameResolver(args.docker_root, args.podman_root),
                args.exclude_interfaces)  # fmt: skip
    log.info("serving /actions: %d diagnostics, %d remediation (%d enabled)", len(table.diagnostics),
             len(table.remediation), sum(r.enabled for r in table.remediation))  # fmt: skip
    return ActionService(table, host), token


def main(argv: list[str] | None = None) -> int:
    args = Flags.parsed(build_parser().parse_args(argv))
    setup_logging(args.log_level, args.log_format)
    # Start-up errors are printed once, as one line, not also logged (they would show twice on the same terminal).
    try:
        table = config.load(args.config_file)
    except config.ConfigError as exc:
        print(f"costwarden-exporter: {exc}", file=sys.stderr)
        return 2
    prices = unit_prices(table)
    try:
        billing = poller.build(table)  # before --config.check too: a check that passes must mean a start that works
    except config.ConfigError as exc:
        said = exc.within(str(args.config_file or "<embedded default>"))
        if args.config_file:
            said = config.on_its_line(said, args.config_file)
        print(f"costwarden-exporter: {said}", file=sys.stderr)
        return 2
    if args.config_check:
        resolved = dataclasses.asdict(table)
        resolved["derived_unit_prices"] = {METERS[r].price: price for r, price in prices.items()}
        resolved["full_machine_hourly"] = full_machine_hourly(table, prices)
        print(json.dumps(resolved, indent=2))
        return 0

    metrics, sampler, heart = build(args, table, billing)
    mismatch = plan_mismatch(table, psutil.cpu_count() or 1, psutil.virtual_memory().total)
    if mismatch:
        log.warning(mismatch)
    try:
        actions, actions_token = build_actions(args)
    except config.ConfigError as exc:
        print(f"costwarden-exporter: {exc}", file=sys.stderr)
        return 2

    def beat() -> None:
        def once() -> None:
            sampler.sample()
            metrics.refresh()

        heart.run(once)

    beat()
    host, port = args.listen
    try:
        app = make_app(metrics, table, args.telemetry_path, actions, actions_token, heart.problem)
        server, _ = serve(host, port, app)
    except OSError as exc:
        log.error("cannot listen on %s:%d: %s", host or "*", port, exc.strerror or exc)
        return 1
    log.info(
        "serving %s on %s:%d; pricing %s/%s in %s (cpu %.5f/vCPU-h, memory %.5f/GiB-h); sampling every %gs",
        args.telemetry_path,
        host or "*",
        port,
        table.provider,
        table.plan or "-",
        table.currency,
        prices["cpu"],
        prices["memory"],
        args.interval,
    )
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    worker = threading.Thread(target=every, args=(args.interval, stop, beat), name="sampler", daemon=True)
    worker.start()
    if billing is not None:
        log.info("polling the %s billing API every %gs", billing.api, billing.interval)
        threading.Thread(target=billing.run, args=(stop,), name="billing", daemon=True).start()
    while not stop.wait(1.0):
        pass
    log.info("stopping")
    server.shutdown()
    worker.join(timeout=5)
    return 0
