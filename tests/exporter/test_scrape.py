"""A whole scrape: golden exposition, promtool's lint, and the real exporter process over HTTP."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from exporter import config
from exporter.exposition import render_text
from exporter.metrics import CostCollector
from tests.conftest import Clock, SamplerFactory
from tests.support.net import free_port, wait_until_ok

GOLDEN = Path(__file__).parent / "golden" / "scrape_cgroupv2.prom"
A = "a" * 63 + "1"
# Timings, and whatever depends on the real disk the fixture tree sits on (statvfs cannot be pointed at a fixture).
VOLATILE = re.compile(
    r"^(costwarden_exporter_collector_duration_seconds|costwarden_filesystem_\w+"
    r"|costwarden_cost(?:_total|_per_hour)(?=\{cgroup=\"/\",resource=\"disk\"))(\{[^}]*\})? .*$"
)


def scrape_text(make_sampler: SamplerFactory, tree: Path) -> str:
    table = config.resolve({"provider": "hetzner", "plan": "cx22", "region": "fsn1", "budget": {"monthly": 10}})
    clock = Clock(datetime(2026, 11, 10, 12, tzinfo=UTC).timestamp())
    sampler = make_sampler(clock=clock, table=table)
    sampler.sample()
    (tree / f"cgroupv2/sys/fs/cgroup/system.slice/docker-{A}.scope/cpu.stat").write_text("usage_usec 3660000000\n")
    clock.now += 60
    sampler.sample()
    registry = CollectorRegistry()
    registry.register(CostCollector(table, sampler))
    text = generate_latest(registry).decode()
    return "\n".join(VOLATILE.sub(r"\1\2 <volatile>", line) for line in text.splitlines()) + "\n"


def test_scrape_matches_golden_file(make_sampler: SamplerFactory, tree: Path) -> None:
    text = scrape_text(make_sampler, tree)
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.write_text(text)
    assert text == GOLDEN.read_text(), "exposition changed; review the diff, then rerun with UPDATE_GOLDEN=1"


def test_scrape_passes_promtool_check_metrics(make_sampler: SamplerFactory, tree: Path) -> None:
    text = scrape_text(make_sampler, tree).replace("<volatile>", "1")
    proc = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 - loopback URL built by the test
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@pytest.fixture
def exporter_process(tree: Path, tmp_path: Path):  # type: ignore[no-untyped-def]
    port = free_port()
    cmd = [
        sys.executable, "-m", "exporter",
        f"--web.listen-address=127.0.0.1:{port}",
        f"--path.procfs={tree / 'proc'}",
        f"--path.cgroupfs={tree / 'cgroupv2/sys/fs/cgroup'}",
        f"--path.rootfs={tree}",
        f"--path.docker-root={tree / 'docker'}",
        f"--path.podman-root={tree / 'containers/storage'}",
        f"--storage.state-file={tmp_path / 'state.json'}",
        "--sample.interval=200ms",
        "--log.format=json",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    wait_until_ok(base + "/-/healthy", proc)
    yield base, proc
    proc.terminate()
    proc.wait(timeout=10)


def test_exporter_serves_metrics_landing_page_and_stops_on_sigterm(exporter_process, tree: Path) -> None:  # type: ignore[no-untyped-def]
    base, proc = exporter_process
    status, body = get(base + "/metrics")
    assert status == 200
    assert 'costwarden_cost_total{cgroup="web",resource="cpu"}' in body
    assert 'costwarden_info{currency="USD",plan="s-1vcpu-1gb",provider="digitalocean",region=""} 1.0' in body
    assert "process_resident_memory_bytes" in body

    # The background sampler keeps pricing without anyone scraping: usage grows, the counter follows.
    (tree / f"cgroupv2/sys/fs/cgroup/system.slice/docker-{A}.scope/cpu.stat").write_text("usage_usec 3700000000\n")
    deadline = time.monotonic() + 10
    value = 0.0
    while time.monotonic() < deadline and value == 0.0:
        time.sleep(0.3)
        match = re.search(r'costwarden_cost_total\{cgroup="web",resource="cpu"\} (\S+)', get(base + "/metrics")[1])
        value = float(match.group(1)) if match else 0.0
    assert value > 0.0

    status, page = get(base + "/")
    assert status == 200
    assert "<a href='/metrics'>Metrics</a>" in page
    assert get(base + "/nope")[0] == 404

    proc.terminate()
    assert proc.wait(timeout=10) == 0
    _, stderr = proc.communicate()
    assert '"msg": "stopping"' in stderr


def test_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        proc = subprocess.run(
            [sys.executable, "-m", "exporter", f"--web.listen-address=127.0.0.1:{port}",
             f"--storage.state-file={tmp_path / 's.json'}"],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
    assert proc.returncode == 1
    assert "cannot listen on 127.0.0.1:" in proc.stderr
    assert "Address already in use" in proc.stderr


def test_help_lists_presets_and_flags() -> None:
    proc = subprocess.run([sys.executable, "-m", "exporter", "--help"], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0
    for needle in ("--web.listen-address", "--path.cgroupfs", "--no-collector.cgroup", "hetzner: cax11"):
        assert needle in proc.stdout


def test_fast_renderer_is_byte_identical_to_prometheus_client(make_sampler: SamplerFactory, tree: Path) -> None:
    table = config.resolve({"provider": "hetzner", "plan": "cx22", "region": 'a "quoted"\\region\nwith newline'})
    clock = Clock(datetime(2026, 11, 10, 12, tzinfo=UTC).timestamp())
    sampler = make_sampler(clock=clock, table=table)
    sampler.sample()
    clock.now += 60
    sampler.sample()
    collector = CostCollector(table, sampler)
    registry = CollectorRegistry()
    registry.register(collector)
    assert render_text(collector.collect()) == generate_latest(registry)


def test_fast_renderer_refuses_types_it_does_not_write() -> None:
    from prometheus_client.core import HistogramMetricFamily

    with pytest.raises(ValueError, match="not histogram"):
        render_text([HistogramMetricFamily("h", "help", buckets=[("+Inf", 1)], sum_value=1)])
