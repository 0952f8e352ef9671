"""Receiver intake benchmark: acknowledgement latency at a fixed 200 requests/s and maximum throughput, with the
durable outbox (SQLite, WAL, synchronous=FULL), next to a bare aiohttp handler that answers 200 without storing,
both served from this process and driven by the same client (the ratio is the figure).

    python -m bench.receiver_intake [--seconds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
from aiohttp import web

from receiver.app import create_app
from receiver.settings import Settings
from tests.support.net import free_port, serve_app

FIRING = (Path(__file__).parents[1] / "tests" / "fixtures" / "alertmanager" / "firing.json").read_text()


def _bodies() -> Iterator[bytes]:
    i = 0
    while True:
        i += 1
        yield json.dumps({**json.loads(FIRING), "groupKey": f"g{i}"}).encode()


async def _paced(session: aiohttp.ClientSession, url: str, rate: float, seconds: float) -> list[float]:
    bodies = _bodies()
    latencies: list[float] = []

    async def one(body: bytes) -> None:
        started = time.perf_counter()
        async with session.post(url, data=body) as resp:
            await resp.read()
            assert resp.status == 200
        latencies.append(time.perf_counter() - started)

    tasks = []
    start = time.perf_counter()
    for n in range(int(rate * seconds)):
        await asyncio.sleep(max(0.0, start + n / rate - time.perf_counter()))
        tasks.append(asyncio.create_task(one(next(bodies))))
    await asyncio.gather(*tasks)
    return latencies


async def _throughput(session: aiohttp.ClientSession, url: str, seconds: float, workers: int = 16) -> float:
    bodies = _bodies()
    done = 0
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            async with session.post(url, data=next(bodies)) as resp:
                await resp.read()
            done += 1

    await asyncio.gather(*(worker() for _ in range(workers)))
    return done / seconds


async def _bare(_: web.Request) -> web.Response:
    return web.json_response({"status": "stored", "id": 0})


async def run(seconds: float) -> None:
    with tempfile.TemporaryDirectory(prefix="cw-intake-") as tmp:
        # The worker runs too, as in production; the model is off and Prometheus absent so it only renders and files.
        settings = Settings.model_validate(
            {
                "data_dir": tmp,
                "prometheus": {"url": f"http://127.0.0.1:{free_port()}"},
                "ollama": {"enabled": False},
                "channels": [{"type": "file", "path": f"{tmp}/sent.jsonl"}],
            }
        )
        bare = web.Application()
        bare.router.add_post("/alerts", _bare)
        rows = []
        for name, app in (
            ("bare aiohttp handler (no storage)", bare),
            ("costwarden intake (SQLite FULL)", create_app(settings)),
        ):
            runner, base = await serve_app(app)
            url = f"{base}/alerts"
            async with aiohttp.ClientSession() as session:
                lat = sorted(await _paced(session, url, 200.0, seconds))
                rps = await _throughput(session, url, seconds)
            await runner.cleanup()
            rows.append((name, statistics.median(lat) * 1000, lat[int(len(lat) * 0.99) - 1] * 1000, rps))
    ref = rows[0][3]
    print(f"\nReceiver intake ({seconds:.0f} s at 200 req/s, then {seconds:.0f} s flat out with 16 clients)\n")
    print("| handler | ack p50 ms @200/s | ack p99 ms @200/s | throughput req/s | throughput ratio |")
    print("|---|---:|---:|---:|---:|")
    for name, p50, p99, rps in rows:
        print(f"| {name} | {p50:.2f} | {p99:.2f} | {rps:.0f} | {rps / ref:.2f} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0)
    asyncio.run(run(parser.parse_args().seconds))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
