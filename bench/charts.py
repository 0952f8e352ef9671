"""Charts benchmark: the time to draw one chart, against the least any 800 x 400 PNG costs (zlib-compressing its raw
pixels, measured in the same run: the ratio is the figure); and the whole receiver with charts on and off, as a
process against the real Prometheus (the tests' known history) — its resident memory after the same alerts, and how
long a critical page takes from acknowledged to written (the page must not wait for its picture, nor compete with
the pictures of the pages before it), and how long after the last page the last chart is written.

    python -m bench.charts [--renders 60] [--alerts 40]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import yaml

from receiver.chart import draw, plots
from receiver.facts.model import AlertFact, Facts
from receiver.message import catalogue
from tests.support.detection.engine import import_series, serve
from tests.support.history import history
from tests.support.net import free_port

ROOT = Path(__file__).parents[1]
FIRING = json.loads((ROOT / "tests" / "fixtures" / "alertmanager" / "firing.json").read_text())


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def renders(n: int) -> dict[str, list[float]]:
    """Seconds per chart (alert: three lines of 24 h at 5-minute steps; digest: three days laid over each other) and
    per reference encode of the same pixels' worth of raw RGBA."""
    now = time.time()
    rng = np.random.default_rng(7)
    data = plots.sample(now)
    alert = AlertFact(name="CostwardenCostSpike", severity="critical", status="firing", instance="vps1", cgroup="miner",
                      resource="network_egress", summary=None, description=None, started="")  # fmt: skip
    facts = Facts(status="firing", alerts=[alert], alerts_total=1, currency="EUR", money_at_stake_per_day=0.96)
    words = catalogue.of("en").chart
    day = np.arange(0, 86400, 300.0)
    period = plots.PeriodData("day", tuple((k, day, 0.01 + 0.002 * rng.random(day.size))
                                           for k in ("this_day", "day_before", "week_before")))  # fmt: skip
    draw.warm()
    pixels = rng.integers(0, 255, (400, 800, 4), dtype=np.uint8)
    pixels[:, :, :] = 255  # a chart is mostly white: compress what a chart's pixels look like
    pixels[200, :, :3] = 0
    out: dict[str, list[float]] = {"alert": [], "digest": [], "reference": []}
    for _ in range(n):
        for key, plot in (("alert", plots.alert_plot(data, facts, words, True)),
                          ("digest", plots.period_plot(period, "EUR", words, True))):  # fmt: skip
            started = time.perf_counter()
            draw.png(plot, "DejaVu Sans")
            out[key].append(time.perf_counter() - started)
        started = time.perf_counter()
        zlib.compress(pixels.tobytes(), 6)
        out["reference"].append(time.perf_counter() - started)
    return out


def written(path: Path) -> list[str]:
    """The file channel's complete lines (one being written is not read half-way)."""
    return path.read_text().split("\n")[:-1] if path.exists() else []


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def receiver_run(work: Path, prometheus: str, charts: bool, alerts: int) -> dict[str, Any]:
    """A receiver process, charts on or off: RSS at idle and after `alerts` critical alerts (each its own group),
    and each page's latency from acknowledged to its line in the file channel."""
    port = free_port()
    data = work / ("on" if charts else "off")
    sent = data / "sent.jsonl"
    config = work / f"receiver-{'on' if charts else 'off'}.yml"
    config.write_text(yaml.safe_dump({
        "listen": {"port": port}, "data_dir": str(data), "prometheus": {"url": prometheus},
        "ollama": {"enabled": False}, "charts": {"enabled": charts}, "digest": {"daily": {"enabled": False}},
        "channels": [{"type": "file", "path": str(sent)}],
    }))  # fmt: skip
    proc = subprocess.Popen([sys.executable, "-m", "receiver", "--config", str(config)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    latencies: list[float] = []
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(200):
                try:
                    async with session.get(f"{url}/-/ready") as r:
                        if r.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
            await asyncio.sleep(2.0)  # the chart warm-up (matplotlib, fonts) is part of idle
            idle = rss_mib(proc.pid)
            for i in range(alerts):
                body = {**FIRING, "groupKey": f"bench-{i}"}
                started = time.perf_counter()
                async with session.post(f"{url}/alerts", json=body) as r:
                    note = (await r.json())["id"]
                while not any(json.loads(x)["id"] == note for x in written(sent)):
                    await asyncio.sleep(0.002)
                latencies.append(time.perf_counter() - started)
            last_page = time.perf_counter()
            deadline = last_page + 60
            while charts and time.perf_counter() < deadline:  # the charts, drawn once the pages stop, all written
                if sum(1 for x in written(sent) if json.loads(x).get("kind") == "chart") >= alerts:
                    break
                await asyncio.sleep(0.05)
            drained = time.perf_counter() - last_page
            lines = [json.loads(x) for x in written(sent)]
            return {"idle": idle, "after": rss_mib(proc.pid), "latencies": latencies, "drained": drained,
                    "charts": sum(1 for x in lines if x.get("kind") == "chart")}  # fmt: skip
    finally:
        proc.terminate()
        proc.wait(20)


async def main_async(n: int, alerts: int) -> None:
    times = renders(n)
    ref = statistics.median(times["reference"])
    print(f"chart rendering ({n} each; reference: zlib of an 800 x 400 RGBA buffer, p50 {ref * 1000:.1f} ms)")
    print(f"{'chart':<8} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'p50 / reference':>16}")
    for key in ("alert", "digest"):
        v = times[key]
        print(f"{key:<8} {pct(v, 50) * 1000:>8.1f} {pct(v, 95) * 1000:>8.1f} {max(v) * 1000:>8.1f} "
              f"{pct(v, 50) / ref:>16.1f}")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="costwarden-bench-charts-") as tmp:
        work = Path(tmp)
        import_series(history(), work / "tsdb", work)
        with serve(work / "tsdb", work) as prometheus:
            off = await receiver_run(work, prometheus, False, alerts)
            on = await receiver_run(work, prometheus, True, alerts)
    print(f"\nthe receiver as a process, {alerts} critical alerts (page first), file channel, real Prometheus")
    print(f"{'charts':<7} {'RSS idle MiB':>13} {'RSS after MiB':>14} {'charts sent':>12} {'page p50 ms':>12} "
          f"{'page p95 ms':>12} {'last chart s':>13}")  # fmt: skip
    for name, r in (("off", off), ("on", on)):
        lat = r["latencies"]
        print(f"{name:<7} {r['idle']:>13.1f} {r['after']:>14.1f} {r['charts']:>12} {pct(lat, 50) * 1000:>12.1f} "
              f"{pct(lat, 95) * 1000:>12.1f} {r['drained'] if r['charts'] else 0:>13.1f}")  # fmt: skip
    print(f"RSS growth with charts on: {on['after'] - off['after']:+.1f} MiB (goal ≤ 60); page p50 on/off: "
          f"{pct(on['latencies'], 50) / pct(off['latencies'], 50):.2f}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--renders", type=int, default=60)
    parser.add_argument("--alerts", type=int, default=40)
    args = parser.parse_args()
    os.environ.setdefault("MPLBACKEND", "Agg")
    asyncio.run(main_async(args.renders, args.alerts))


if __name__ == "__main__":
    main()
