"""Telegram buttons benchmark: a tap on *Silence 1 h* until the silence is active in the real Alertmanager and the
message's buttons are edited, through the receiver's long poll of a local fake Bot API, next to the same silence
posted straight to Alertmanager's API (the reference; the ratio is the figure). The goal is a tap answered within 2 s.

    python -m bench.buttons [--taps 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp.test_utils import TestClient, TestServer

from receiver.app import create_app
from receiver.settings import Settings
from tests.support.alertmanager import running_alertmanager
from tests.support.fakes import served
from tests.support.fakes.chat import FakeChat

FIRING = json.loads((Path(__file__).parents[1] / "tests" / "fixtures" / "alertmanager" / "firing.json").read_text())
CHAT = -100123


def firing(i: int) -> dict[str, Any]:
    labels = {**FIRING["groupLabels"], "cgroup": f"app{i}"}
    alert = {**FIRING["alerts"][0], "labels": {**FIRING["alerts"][0]["labels"], "cgroup": f"app{i}"}}
    return {**FIRING, "groupKey": f"bench-{i}", "groupLabels": labels, "commonLabels": alert["labels"],
            "alerts": [alert]}  # fmt: skip


async def active(session: aiohttp.ClientSession, am: str) -> int:
    async with session.get(f"{am}/api/v2/silences") as answer:
        return sum(1 for s in await answer.json() if s["status"]["state"] == "active")


async def direct(am: str, n: int) -> list[float]:
    """The reference: the same silence posted straight to Alertmanager, and seen active."""
    out = []
    async with aiohttp.ClientSession() as session:
        for i in range(n):
            started = time.perf_counter()
            now = datetime.now(UTC)
            body = {"matchers": [{"name": "cgroup", "value": f"direct{i}", "isRegex": False, "isEqual": True}],
                    "startsAt": now.isoformat(), "endsAt": (now + timedelta(hours=1)).isoformat(),
                    "createdBy": "bench", "comment": "reference"}  # fmt: skip
            async with session.post(f"{am}/api/v2/silences", json=body) as answer:
                await answer.read()
            while await active(session, am) < i + 1:
                await asyncio.sleep(0.01)
            out.append(time.perf_counter() - started)
    return out


async def taps(work: Path, am: str, n: int) -> list[float]:
    fake = FakeChat()
    out = []
    async with served(fake.app()) as url, aiohttp.ClientSession() as session:
        cfg = Settings.model_validate({
            "data_dir": str(work / "data"), "prometheus": {"url": "http://127.0.0.1:9"}, "ollama": {"enabled": False},
            "processing": {"page_first": []}, "digest": {"daily": {"enabled": False}},
            "channels": [{"type": "telegram", "bot_token": fake.telegram_token, "chat_id": CHAT, "api_url": url}],
            "buttons": {"alertmanager_api": am, "poll_timeout_seconds": 25},
        })  # fmt: skip
        async with TestClient(TestServer(create_app(cfg))) as client:
            for i in range(n):
                await client.post("/alerts", json=firing(i))
            while len(fake.received["telegram"]) < n:
                await asyncio.sleep(0.05)
            before = await active(session, am)
            for i, sent in enumerate(fake.received["telegram"][:n]):
                data = sent["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
                started = time.perf_counter()
                fake.tap(CHAT, sent["message_id"], data)
                while not (len(fake.received["editMessageReplyMarkup"]) > i and await active(session, am) > before + i):
                    await asyncio.sleep(0.01)
                out.append(time.perf_counter() - started)
    return out


def row(name: str, seconds: list[float], reference: float) -> str:
    p50 = statistics.median(seconds) * 1000
    p95 = sorted(seconds)[max(0, round(0.95 * len(seconds)) - 1)] * 1000
    return f"| {name} | {len(seconds)} | {p50:.1f} | {p95:.1f} | {p50 / reference:.1f} |"


async def main_async(n: int) -> None:
    with tempfile.TemporaryDirectory(prefix="cw-buttons-") as tmp:
        work = Path(tmp)
        (work / "am").mkdir()
        with running_alertmanager(work / "am", "http://127.0.0.1:9/alerts") as am:
            reference = await direct(am, n)
            tapped = await taps(work, am, n)
    ref = statistics.median(reference) * 1000
    print(f"\nTelegram buttons ({n} taps, each on its own alert; the real Alertmanager, a local fake Bot API)\n")
    print("| path | taps | p50 ms | p95 ms | ratio p50 |")
    print("|---|---:|---:|---:|---:|")
    print(row("silence posted straight to Alertmanager (reference)", reference, ref))
    print(row("tap → silence active and buttons edited (receiver)", tapped, ref))
    worst = max(tapped)
    print(f"\nslowest tap {worst * 1000:.0f} ms; goal 2000 ms: {'met' if worst <= 2 else 'NOT met'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--taps", type=int, default=20)
    asyncio.run(main_async(parser.parse_args().taps))


if __name__ == "__main__":
    main()
