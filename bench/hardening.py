"""Fault and hostile-load benchmark (issue 15), each against the real processes on loopback:

1. kill -9: 1,000 alerts posted while the receiver is killed three times and restarted; a rejected post is retried
   as Alertmanager would. Figures: acknowledged, delivered, lost, duplicates.
2. burst: 2,000 webhooks at 200 concurrent. Figures: statuses, acknowledgement p50/p99, against the same burst to a
   bare aiohttp process that answers 200 without storing (the ratio).
3. idle: 4,000 idle connections held open to the receiver and to the exporter. Figures: a normal request's latency
   with them against without them (the ratio), and each server's RSS against its compose memory limit.
4. disk full: the receiver's data directory on a 2 MiB tmpfs is filled, then freed. Figures: what intake and
   readiness answered, log lines written while full, seconds from space freed to ready and to the held alert
   delivered. Needs root (mount); skipped with a message otherwise.

    python -m bench.hardening [--only kill9,burst,idle,disk]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from tests.support.net import free_port, serve_app, wait_until_ok

ROOT = Path(__file__).parents[1]
FIRING: dict[str, Any] = json.loads((ROOT / "tests" / "fixtures" / "alertmanager" / "firing.json").read_text())
LIMITS_MIB = {"receiver": 256, "exporter": 128}  # docker-compose.yml mem_limit


def body(group: str) -> bytes:
    return json.dumps({**FIRING, "groupKey": group}).encode()


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@contextlib.asynccontextmanager
async def sink() -> AsyncIterator[tuple[str, list[str]]]:
    """A webhook channel's server: records the group of every message it is sent."""
    groups: list[str] = []

    async def take(request: web.Request) -> web.Response:
        groups.append((await request.json())["message"]["group_key"])
        return web.json_response({"ok": True})

    app = web.Application(client_max_size=64 * 2**20)
    app.router.add_post("/hook", take)
    runner, url = await serve_app(app)
    try:
        yield f"{url}/hook", groups
    finally:
        await runner.cleanup()


class Receiver:
    """`python -m receiver` on a free port with a webhook channel, restartable on the same data directory."""

    def __init__(self, data: Path, hook: str, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config = data.parent / f"receiver-{self.port}.yml"
        self.config.write_text(
            f"listen: {{host: 127.0.0.1, port: {self.port}}}\ndata_dir: {data}\nollama: {{enabled: false}}\n"
            f"prometheus: {{url: 'http://127.0.0.1:{free_port()}'}}\ndigest: {{daily: {{enabled: false}}}}\n"
            f"processing: {{page_first: []}}\nchannels: [{{type: webhook, url: '{hook}'}}]\n"
        )
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    async def start(self) -> None:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "receiver", "--config", str(self.config)],
                                         stdout=subprocess.DEVNULL, stderr=log, cwd=ROOT)  # fmt: skip
        await asyncio.to_thread(wait_until_ok, f"{self.url}/-/healthy", self.proc)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)


async def post(session: aiohttp.ClientSession, url: str, data: bytes) -> tuple[int, float]:
    started = time.perf_counter()
    try:
        async with session.post(f"{url}/alerts", data=data) as resp:
            await resp.read()
            return resp.status, time.perf_counter() - started
    except aiohttp.ClientError:
        return 0, time.perf_counter() - started


async def until(check: Any, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.1)
    return True


async def kill9(work: Path) -> list[tuple[str, str]]:
    async with sink() as (hook, groups), aiohttp.ClientSession() as session:
        receiver = Receiver(work / "data", hook, work / "receiver.log")
        await receiver.start()
        acknowledged: set[str] = set()
        queue = [f"k9-{i}" for i in range(1000)]

        async def sender() -> None:
            while queue:
                group = queue.pop(0)
                while (await post(session, receiver.url, body(group)))[0] != 200:  # Alertmanager retries
                    await asyncio.sleep(0.2)
                acknowledged.add(group)

        senders = [asyncio.create_task(sender()) for _ in range(10)]
        kills = 0
        for mark in (250, 500, 750):
            await until(lambda m=mark: len(acknowledged) >= m, 120)
            receiver.kill()
            kills += 1
            await asyncio.sleep(0.5)
            await receiver.start()
        await asyncio.gather(*senders)
        await until(lambda: len(set(groups)) >= 1000, 180)
        receiver.stop()
    delivered = Counter(groups)
    lost = len(acknowledged - set(delivered))
    dups = sum(n - 1 for n in delivered.values())
    return [("kill -9 runs", f"{kills} kills during 1,000 alerts"),
            ("acknowledged / delivered", f"{len(acknowledged)} / {len(delivered)}"),
            ("lost", str(lost)), ("duplicates", str(dups))]  # fmt: skip


BARE = """
import sys
from aiohttp import web
async def ok(request):
    await request.read()
    return web.json_response({"status": "stored"})
app = web.Application(client_max_size=16 * 2**20)
app.router.add_post("/alerts", ok)
app.router.add_get("/-/healthy", lambda r: web.Response(text="OK"))
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
"""


@contextlib.contextmanager
def bare_server() -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", BARE, str(port)])
    try:
        wait_until_ok(f"http://127.0.0.1:{port}/-/healthy", proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


async def one_burst(url: str, prefix: str) -> tuple[Counter[int], list[float]]:
    connector = aiohttp.TCPConnector(limit=200)
    async with aiohttp.ClientSession(connector=connector) as session:
        results = await asyncio.gather(*(post(session, url, body(f"{prefix}-{i}")) for i in range(2000)))
    return Counter(status for status, _ in results), sorted(seconds for _, seconds in results)


def pct(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(q * len(values)))] * 1000


async def burst(work: Path) -> list[tuple[str, str]]:
    with bare_server() as bare:
        _, reference = await one_burst(bare, "bare")
    async with sink() as (hook, groups):
        receiver = Receiver(work / "data", hook, work / "receiver.log")
        await receiver.start()
        statuses, latencies = await one_burst(receiver.url, "burst")
        delivered = await until(lambda: len(set(groups)) >= statuses[200], 180)
        receiver.stop()
    late = "" if delivered else " (timeout)"
    return [("burst statuses", ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items()))),
            ("burst delivered", f"{len(set(groups))} of {statuses[200]} acknowledged{late}"),
            ("ack p50 / p99 (ms)", f"{pct(latencies, 0.5):.0f} / {pct(latencies, 0.99):.0f}"),
            ("bare aiohttp p50 / p99 (ms)", f"{pct(reference, 0.5):.0f} / {pct(reference, 0.99):.0f}"),
            ("p99 ratio (receiver / bare)", f"{pct(latencies, 0.99) / pct(reference, 0.99):.2f}")]  # fmt: skip


def idle_connections(port: int, n: int) -> list[socket.socket]:
    held = []
    for _ in range(n):
        for attempt in range(50):
            try:
                held.append(socket.create_connection(("127.0.0.1", port), timeout=5))
                break
            except OSError:
                time.sleep(0.01 * (attempt + 1))
    return held


def request_ms(url: str, n: int = 20) -> list[float]:
    import urllib.request

    out = []
    for _ in range(n):
        started = time.perf_counter()
        with urllib.request.urlopen(url, timeout=30) as resp:  # noqa: S310 - loopback
            resp.read()
        out.append((time.perf_counter() - started) * 1000)
    return sorted(out)


async def idle(work: Path) -> list[tuple[str, str]]:
    rows = []
    port = free_port()
    exporter = subprocess.Popen([sys.executable, "-m", "exporter", f"--web.listen-address=127.0.0.1:{port}",
                                 f"--storage.state-file={work / 'state.json'}"], stderr=subprocess.DEVNULL)  # fmt: skip
    async with sink() as (hook, _):
        receiver = Receiver(work / "data", hook, work / "receiver.log")
        await receiver.start()
        try:
            wait_until_ok(f"http://127.0.0.1:{port}/-/healthy", exporter)
            for name, pid, target, url in (
                ("receiver", receiver.proc.pid, receiver.port, f"{receiver.url}/-/ready"),  # type: ignore[union-attr]
                ("exporter", exporter.pid, port, f"http://127.0.0.1:{port}/metrics"),
            ):
                before_ms, before_rss = request_ms(url), rss_mib(pid)
                held = await asyncio.to_thread(idle_connections, target, 4000)
                await asyncio.sleep(1)
                during_ms, during_rss = await asyncio.to_thread(request_ms, url), rss_mib(pid)
                for conn in held:
                    conn.close()
                rows += [
                    (f"{name}: idle connections held", str(len(held))),
                    (f"{name}: request median / max (ms)",
                     f"{statistics.median(during_ms):.1f} / {max(during_ms):.1f} "
                     f"(without: {statistics.median(before_ms):.1f} / {max(before_ms):.1f}; "
                     f"ratio {statistics.median(during_ms) / statistics.median(before_ms):.2f})"),
                    (f"{name}: RSS (MiB)", f"{during_rss:.0f} (without: {before_rss:.0f}; "
                     f"compose limit {LIMITS_MIB[name]})"),
                ]  # fmt: skip
        finally:
            receiver.stop()
            exporter.terminate()
            exporter.wait(timeout=10)
    return rows


async def disk(work: Path) -> list[tuple[str, str]]:
    mount = work / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], capture_output=True, text=True
    )
    if done.returncode != 0:
        return [("disk full", f"skipped: mounting a tmpfs needs root ({done.stderr.strip()})")]
    try:
        async with sink() as (hook, groups), aiohttp.ClientSession() as session:
            receiver = Receiver(mount / "data", hook, work / "disk.log")
            await receiver.start()
            assert (await post(session, receiver.url, body("before")))[0] == 200
            await until(lambda: "before" in groups, 30)
            filler = mount / "filler"
            with filler.open("wb", buffering=0) as out, contextlib.suppress(OSError):
                for size in (1 << 16, 1 << 12, 1):
                    with contextlib.suppress(OSError):
                        while True:
                            out.write(b"\0" * size)
            lines_before = len(receiver.log.read_text().splitlines())

            def lines_since() -> int:  # besides the access log's line per request
                return sum('"aiohttp.access"' not in x for x in receiver.log.read_text().splitlines()[lines_before:])

            full = Counter([(await post(session, receiver.url, body(f"full-{i}")))[0] for i in range(20)])
            async with session.get(f"{receiver.url}/-/ready") as resp:
                ready_full = resp.status
            await asyncio.sleep(5)
            lines_full = lines_since()
            filler.unlink()
            freed = time.monotonic()

            async def ready() -> bool:
                async with session.get(f"{receiver.url}/-/ready") as resp:
                    return resp.status == 200

            while not await ready():
                await asyncio.sleep(0.1)
            to_ready = time.monotonic() - freed
            while (await post(session, receiver.url, body("after")))[0] != 200:
                await asyncio.sleep(0.2)
            await until(lambda: "after" in groups, 60)
            to_delivered = time.monotonic() - freed
            receiver.stop()
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)
    return [("disk full: intake answers", ", ".join(f"{k}: {v}" for k, v in sorted(full.items()))),
            ("disk full: /-/ready", str(ready_full)),
            ("disk full: log lines in 5 s full (not access log)", str(lines_full)),
            ("space freed → ready / → held alert delivered (s)", f"{to_ready:.1f} / {to_delivered:.1f}")]  # fmt: skip


SCENARIOS = {"kill9": kill9, "burst": burst, "idle": idle, "disk": disk}


async def run(only: list[str]) -> None:
    rows: list[tuple[str, str]] = []
    for name in only:
        with tempfile.TemporaryDirectory() as tmp:
            started = time.perf_counter()
            rows += await SCENARIOS[name](Path(tmp))
            print(f"{name}: {time.perf_counter() - started:.0f} s", file=sys.stderr)
    width = max(len(k) for k, _ in rows)
    print(f"{'hardening':<{width}}  figure")
    for key, value in rows:
        print(f"{key:<{width}}  {value}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default=",".join(SCENARIOS), help="comma-separated: " + ", ".join(SCENARIOS))
    args = parser.parse_args()
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    asyncio.run(run(args.only.split(",")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
