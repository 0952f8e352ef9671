"""Exporter benchmark: scrape latency, CPU per scrape and RSS with 0, 100 and 500 containers, next to Debian's
node_exporter scraped in the same run on the same machine (the reference; the ratio is the figure that counts).

The exporter reads usage on its own beat (default every 15 s) and renders the exposition then, so a scrape only
serves the last rendering. The table therefore also shows the cost of one beat (walk + read + price + render),
measured in-process on the same generated tree, so that the work a scrape does not show is on the page too.

    python -m bench.exporter_scrape [--scrapes 200] [--containers 0,100,500]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psutil
from prometheus_client import CollectorRegistry

from exporter import config
from exporter.metrics import CostCollector, RenderedMetrics
from exporter.procfs import DEFAULT_EXCLUDED_INTERFACES
from exporter.sampler import Sampler
from tests.support.net import free_port, wait_until_ok
from tests.support.readers import EXCLUDE, cgroup_reader, host_reader

BEAT_SECONDS = 3
"""Shorter than the default 15 s so the run is quick; beats landing during the scrapes are part of the figure."""
NET_HEADER = "Inter-| Receive | Transmit\n face |bytes packets|bytes packets\n"


def generate_tree(root: Path, containers: int, services: int = 20) -> None:
    """A cgroup v2 host with `containers` Docker containers (each in its own netns) and some services."""
    cg = root / "cgroupv2" / "sys" / "fs" / "cgroup"
    (cg / "system.slice").mkdir(parents=True)
    (cg / "cgroup.controllers").write_text("cpu io memory pids\n")
    proc = root / "proc"
    (proc / "1" / "net").mkdir(parents=True)
    (proc / "1" / "ns").mkdir()
    (proc / "1" / "ns" / "net").symlink_to("net:[4026531840]")
    (proc / "1" / "net" / "dev").write_text(NET_HEADER + "  eth0: 1 1 0 0 0 0 0 0 5000 1 0 0 0 0 0 0\n")
    (proc / "stat").write_text("cpu  100 0 100 1000 0 0 0 0 0 0\nbtime 1\n")
    (proc / "meminfo").write_text("MemTotal: 4000000 kB\nMemAvailable: 2000000 kB\n")
    (proc / "sys" / "kernel" / "random").mkdir(parents=True)
    (proc / "sys" / "kernel" / "random" / "boot_id").write_text("bench\n")

    def cgroup(directory: Path, pid: int) -> None:
        directory.mkdir(parents=True)
        (directory / "cpu.stat").write_text(f"usage_usec {pid * 1000}\nuser_usec 1\nsystem_usec 1\n")
        (directory / "memory.current").write_text(f"{pid * 4096}\n")
        (directory / "memory.stat").write_text("anon 1\nfile 1\ninactive_file 4096\nactive_file 1\n")
        (directory / "cgroup.procs").write_text(f"{pid}\n")

    for i in range(containers):
        ident = f"{i:064x}"
        pid = 10_000 + i
        cgroup(cg / "system.slice" / f"docker-{ident}.scope", pid)
        (proc / str(pid) / "ns").mkdir(parents=True)
        (proc / str(pid) / "ns" / "net").symlink_to(f"net:[{4026540000 + i}]")
        (proc / str(pid) / "net").mkdir()
        (proc / str(pid) / "net" / "dev").write_text(NET_HEADER + f"  eth0: 1 1 0 0 0 0 0 0 {i} 1 0 0 0 0 0 0\n")
        conf = root / "docker" / "containers" / ident
        conf.mkdir(parents=True)
        (conf / "config.v2.json").write_text(json.dumps({"Name": f"/app-{i}"}))
    for i in range(services):
        cgroup(cg / "system.slice" / f"svc{i}.service", 20_000 + i)


@contextmanager
def running(cmd: list[str], url: str) -> Iterator[psutil.Process]:
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until_ok(url, proc)
        yield psutil.Process(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@dataclass
class Row:
    target: str
    p50_ms: float
    p99_ms: float
    cpu_ms: float
    rss_mib: float
    series: int


def scrape(name: str, process: psutil.Process, url: str, n: int) -> Row:
    body = b""
    for _ in range(5):  # warm up
        body = urllib.request.urlopen(url, timeout=10).read()  # noqa: S310 - loopback
    cpu_before = sum(process.cpu_times()[:2])
    latencies = []
    for _ in range(n):
        started = time.perf_counter()
        body = urllib.request.urlopen(url, timeout=10).read()  # noqa: S310 - loopback
        latencies.append(time.perf_counter() - started)
    cpu = sum(process.cpu_times()[:2]) - cpu_before
    series = sum(1 for line in body.decode().splitlines() if line and not line.startswith("#"))
    latencies.sort()
    return Row(
        name,
        statistics.median(latencies) * 1000,
        latencies[min(n - 1, int(n * 0.99))] * 1000,
        cpu / n * 1000,
        process.memory_info().rss / 2**20,
        series,
    )


def beat_cost(root: Path, rounds: int) -> tuple[float, float]:
    """Wall and CPU milliseconds per beat (read + price + render) over the generated tree, in this process,
    with the same objects the exporter wires up."""
    table = config.load(None)
    sampler = Sampler(table, [host_reader(root), cgroup_reader(root, "cgroupv2")], root / "state.json")
    metrics = RenderedMetrics(CostCollector(table, sampler), CollectorRegistry())
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(rounds):
        sampler.sample()
        metrics.refresh()
    return (time.perf_counter() - wall) / rounds * 1000, (time.process_time() - cpu) / rounds * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scrapes", type=int, default=200)
    parser.add_argument("--containers", default="0,100,500")
    args = parser.parse_args()
    node_exporter = shutil.which("prometheus-node-exporter") or shutil.which("node_exporter")
    if node_exporter is None:
        print("node_exporter not found: `make tools` installs Debian's prometheus-node-exporter", file=sys.stderr)
        return 1
    assert EXCLUDE.pattern == DEFAULT_EXCLUDED_INTERFACES

    rows: list[tuple[Row, tuple[float, float] | None]] = []
    port = free_port()
    url = f"http://127.0.0.1:{port}/metrics"
    with running([node_exporter, f"--web.listen-address=127.0.0.1:{port}"], url) as process:
        reference = scrape("node_exporter (default collectors, real host)", process, url, args.scrapes)
    rows.append((reference, None))

    for count in (int(c) for c in args.containers.split(",")):
        with tempfile.TemporaryDirectory(prefix="cw-bench-") as tmp:
            root = Path(tmp)
            generate_tree(root, count)
            port = free_port()
            url = f"http://127.0.0.1:{port}/metrics"
            cmd = [
                sys.executable, "-m", "exporter", f"--web.listen-address=127.0.0.1:{port}",
                f"--path.procfs={root / 'proc'}", f"--path.cgroupfs={root / 'cgroupv2/sys/fs/cgroup'}",
                f"--path.rootfs={root}", f"--path.docker-root={root / 'docker'}",
                f"--storage.state-file={root / 'state.json'}", f"--sample.interval={BEAT_SECONDS}s",
            ]  # fmt: skip
            with running(cmd, url) as process:
                time.sleep(BEAT_SECONDS * 1.2)  # a second beat, so rates exist and every series is in the scrape
                row = scrape(f"costwarden, {count} containers", process, url, args.scrapes)
            rows.append((row, beat_cost(root, 20)))

    print(f"\nExporter scrape benchmark ({args.scrapes} sequential scrapes each; ratio = p50 / node_exporter p50)\n")
    print(
        "| target | series | scrape p50 ms | p99 ms | ratio p50 | CPU ms/scrape | RSS MiB | beat ms (CPU ms) "
        "| beat / node_exporter p50 |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for row, beat in rows:
        ratio = row.p50_ms / reference.p50_ms
        beat_text = "-" if beat is None else f"{beat[0]:.1f} ({beat[1]:.1f})"
        beat_ratio = "-" if beat is None else f"{beat[0] / reference.p50_ms:.2f}"
        print(
            f"| {row.target} | {row.series} | {row.p50_ms:.2f} | {row.p99_ms:.2f} | {ratio:.2f} | {row.cpu_ms:.2f} "
            f"| {row.rss_mib:.1f} | {beat_text} | {beat_ratio} |"
        )
    print(f"\nmachine: {os.cpu_count()} cores, python {sys.version.split()[0]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
