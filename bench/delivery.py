"""Delivery benchmark: notifications delivered per second through the whole receiver (outbox → worker → send queue
→ Telegram channel) to a local fake Telegram, next to the same channel sending the same messages directly with the
same concurrency and no outbox (the ratio is the figure), and the latency the outbox adds per notification
(acknowledged → sent).

    python -m bench.delivery [--notifications 300]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

import aiohttp

from receiver import settings as s
from receiver.app import create_app
from receiver.delivery.channels.chat import TelegramChannel
from receiver.message.render import Message, Section
from receiver.settings import Settings
from tests.support.fakes.chat import FakeChat
from tests.support.net import free_port, serve_app

FIRING = json.loads((Path(__file__).parents[1] / "tests" / "fixtures" / "alertmanager" / "firing.json").read_text())
CONCURRENCY = 4


def _resolved(i: int) -> dict[str, object]:
    alert = {**FIRING["alerts"][0], "status": "resolved"}
    return {**FIRING, "status": "resolved", "groupKey": f"g{i}", "alerts": [alert]}


async def direct(fake_url: str, token: str, n: int) -> float:
    cfg = s.TelegramChannel(type="telegram", bot_token=token, chat_id=1, api_url=fake_url)
    message = Message(
        0, "g", "resolved", "critical", "message", "RESOLVED · CostwardenCostSpike on vps1",
        "A resource suddenly costs far more", (Section("", ("Started at 10:02",)),), "", (), "resolved",
    )  # fmt: skip
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(n):
        queue.put_nowait(i)
    async with aiohttp.ClientSession() as session:
        channel = TelegramChannel(cfg, session)
        (body,) = channel.render(message)

        async def worker() -> None:
            while not queue.empty():
                queue.get_nowait()
                await channel.send(dict(body), None)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        return n / (time.perf_counter() - started)


async def through_receiver(
    fake_url: str, token: str, n: int, tmp: str, rate: float | None = None
) -> tuple[float, float, float]:
    """(notifications/s, p50 ms, p99 ms acknowledged → sent); all at once, or paced at `rate` per second."""
    settings = Settings.model_validate(
        {
            "data_dir": tmp,
            "prometheus": {"url": f"http://127.0.0.1:{free_port()}"},
            "ollama": {"enabled": False},
            "delivery": {"concurrency": CONCURRENCY},
            "channels": [{"type": "telegram", "bot_token": token, "chat_id": 1, "api_url": fake_url}],
        }
    )
    runner, url = await serve_app(create_app(settings))
    db_path = settings.outbox_path
    started = time.perf_counter()
    async with aiohttp.ClientSession() as session:
        for i in range(n):
            if rate:
                await asyncio.sleep(max(0.0, started + i / rate - time.perf_counter()))
            async with session.post(f"{url}/alerts", json=_resolved(i)) as resp:
                assert resp.status == 200
    while True:
        with sqlite3.connect(db_path) as db:
            if db.execute("SELECT COUNT(*) FROM sends WHERE state = 'sent'").fetchone()[0] >= n:
                break
        await asyncio.sleep(0.05)
    rate = n / (time.perf_counter() - started)
    await runner.cleanup()
    with sqlite3.connect(db_path) as db:
        added = sorted(
            row[0] for row in db.execute(
                "SELECT s.sent_at - n.received_at FROM sends s JOIN notifications n ON n.id = s.notification_id"
            )
        )  # fmt: skip
    return rate, statistics.median(added) * 1000, added[int(len(added) * 0.99) - 1] * 1000


async def run(n: int) -> None:
    fake = FakeChat()
    runner, fake_url = await serve_app(fake.app())
    try:
        reference = await direct(fake_url, fake.telegram_token, n)
        with tempfile.TemporaryDirectory(prefix="cw-delivery-") as tmp:
            rate, p50, p99 = await through_receiver(fake_url, fake.telegram_token, n, tmp)
        with tempfile.TemporaryDirectory(prefix="cw-delivery-") as tmp:
            _, calm50, calm99 = await through_receiver(fake_url, fake.telegram_token, 100, tmp, rate=10.0)
    finally:
        await runner.cleanup()
    print(f"\nDelivery ({n} notifications to a local fake Telegram, {CONCURRENCY} sends at once)\n")
    print("| path | notifications/s | ratio | acknowledged to sent p50 ms | p99 ms |")
    print("|---|---:|---:|---:|---:|")
    print(f"| channel.send directly (no outbox) | {reference:.0f} | 1.00 | - | - |")
    print(f"| through the receiver (outbox, worker, send queue), {n} at once | {rate:.0f} | {rate / reference:.2f} | "
          f"{p50:.1f} | {p99:.1f} |")  # fmt: skip
    print(f"| through the receiver, 100 paced at 10/s | - | - | {calm50:.1f} | {calm99:.1f} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--notifications", type=int, default=300)
    asyncio.run(run(parser.parse_args().notifications))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
