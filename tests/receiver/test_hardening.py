"""The receiver against hostile or unlucky conditions (issue 15): bodies intake takes are always processed, rows that
cannot be are parked and never hide newer ones, a full disk means 503 and a recovery without restart, auth never
fails open or answers 500, secrets in URLs are shown nowhere, and the wall clock stepping does not stall or park."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import errno
import io
import json
import logging
import re
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from receiver.app import create_app
from receiver.delivery.deliverer import Deliverer
from receiver.intake import parse_webhook
from receiver.metrics import Metrics
from receiver.settings import Delivery, Settings, SettingsError, load
from receiver.store import notifications, retention, sends
from receiver.store.db import connect
from receiver.store.outbox import Outbox
from receiver.store.sends import Send
from receiver.store.states import Note
from tests.conftest import receiver_process
from tests.receiver.conftest import dead_url, until
from tests.support.fakes import served
from tests.support.net import free_port

FIXTURES = Path(__file__).parents[1] / "fixtures" / "alertmanager"
FIRING: dict[str, Any] = json.loads((FIXTURES / "firing.json").read_text())
Client = Callable[..., Awaitable[TestClient]]  # type: ignore[type-arg]


def settings_for(data: Path, sent: Path, **extra: Any) -> Settings:
    return Settings.model_validate({
        "data_dir": str(data), "prometheus": {"url": dead_url()}, "ollama": {"enabled": False},
        "channels": extra.pop("channels", [{"type": "file", "path": str(sent)}]),
        "processing": {"page_first": [], **extra.pop("processing", {})}, "digest": {"daily": {"enabled": False}},
        **extra,
    })  # fmt: skip


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def hook(group: str, **changes: Any) -> dict[str, Any]:
    return {**FIRING, "groupKey": group, **changes}


# --- 1. one parser: what intake acknowledges, the worker can read -------------------------------------------------


async def test_every_body_intake_takes_is_delivered(aiohttp_client: Client, tmp_path: Path) -> None:
    """A BOM, deep nesting in an extra field and a lone surrogate in a label were acknowledged and then retried
    forever by a worker that parsed differently; UTF-16 and nesting past the parser's depth are refused."""
    settings = settings_for(tmp_path / "data", tmp_path / "sent.jsonl", alertmanager_url="https://am.example.com")
    client = await aiohttp_client(create_app(settings))
    nested: Any = "leaf"
    for _ in range(300):  # deeper than pydantic's JSON parser goes, and than a model dump of kept extras could
        nested = {"n": nested}
    surrogate = json.dumps(hook("lone")).replace('"cgroup": "miner"', '"cgroup": "min\\ud800er"')
    assert '"min\\ud800er"' in surrogate
    accepted = [
        b"\xef\xbb\xbf" + json.dumps(hook("bom")).encode(),
        json.dumps(hook("deep", extra=nested)).encode(),
        surrogate.encode(),
    ]
    for body in accepted:
        assert (await client.post("/alerts", data=body)).status == 200
    refused = {
        "utf16": json.dumps(hook("utf16")).encode("utf-16"),
        "too deep": b'{"version": "4", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    }
    for name, body in refused.items():
        resp = await client.post("/alerts", data=body)
        assert resp.status == 400, name
        assert (await resp.json())["error"] == "malformed_json", name
    await until(lambda: len(lines(tmp_path / "sent.jsonl")) == 3, 20)
    texts = "\n".join(line["text"] for line in lines(tmp_path / "sent.jsonl"))
    assert "min%5Cufffder" in texts  # in the silence link: U+FFFD, not a message that can never be encoded

    def states() -> set[str]:
        with sqlite3.connect(settings.outbox_path) as db:
            return {r[0] for r in db.execute("SELECT state FROM notifications")}

    # A notification is marked done just after its last send is written (the file line can come first).
    await until(lambda: states() == {"done"}, 20)
    with sqlite3.connect(settings.outbox_path) as db:
        (payload,) = db.execute("SELECT payload FROM notifications WHERE group_key = 'lone'").fetchone()
    assert parse_webhook(payload).alerts[0].labels["cgroup"] == "min\ufffder"


async def test_the_outbox_forgets_finished_history_past_keep_days(
    aiohttp_client: Client, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Every alert and digest (charts as base64 in each channel's part) stayed in the outbox for as long as the
    receiver ran: found reading it for the full-disk trial. A start forgets finished notifications older than
    keep_days with their parts, audit steps and digest claims, and old cached analyses; the rest is untouched."""
    settings = settings_for(tmp_path / "data", tmp_path / "sent.jsonl", keep_days=35)
    client = await aiohttp_client(create_app(settings))
    for group in ("old", "older", "recent"):
        assert (await client.post("/alerts", json=hook(group))).status == 200
    await until(lambda: len(lines(tmp_path / "sent.jsonl")) == 3, 20)

    def rows(sql: str) -> list[tuple[Any, ...]]:
        with sqlite3.connect(settings.outbox_path) as db:
            return list(db.execute(sql))

    await until(lambda: {r[0] for r in rows("SELECT state FROM notifications")} == {"done"}, 20)
    await client.close()
    day = 86400
    with sqlite3.connect(settings.outbox_path) as db:
        for group, days in (("old", 36), ("older", 400)):  # as if received and sent that long ago
            db.execute(
                "UPDATE notifications SET received_at = received_at - ? WHERE group_key = ?", (days * day, group)
            )
            db.execute("UPDATE sends SET created_at = created_at - ? WHERE group_key = ?", (days * day, group))
        old = db.execute("SELECT id FROM notifications WHERE group_key = 'old'").fetchone()[0]
        db.execute("INSERT INTO actions (notification_id, group_key, name, kind, state, at) VALUES (?, 'old', 'top',"
                   " 'diagnostic', 'done', 0)", (old,))  # fmt: skip
        db.execute(
            "INSERT INTO digests (key, channel, notification_id, created_at) VALUES ('day:x', 'f', ?, 0)", (old,)
        )
        db.execute("INSERT INTO analysis_cache VALUES ('stale', '{}', '', ?), ('fresh', '{}', '', ?)",
                   (time.time() - 40 * day, time.time()))  # fmt: skip
        db.commit()
    before = len(rows("SELECT id FROM sends"))
    caplog.set_level(logging.INFO, "receiver")
    client = await aiohttp_client(create_app(settings))
    await until(lambda: [r[0] for r in rows("SELECT group_key FROM notifications")] == ["recent"], 10)
    assert len(rows("SELECT id FROM sends")) == before - 2  # one part each on the file channel
    assert rows("SELECT COUNT(*) FROM actions") == [(0,)] and rows("SELECT COUNT(*) FROM digests") == [(0,)]
    assert rows("SELECT key FROM analysis_cache") == [("fresh",)]
    # Said once the batch's transaction has returned, which can be just after the rows are seen gone.
    said = "forgot 2 notification(s) and 2 message part(s) finished more than 35 days ago"
    await until(lambda: said in caplog.text, 10)
    assert (await client.post("/alerts", json=hook("after"))).status == 200  # and it goes on working
    await until(lambda: len(lines(tmp_path / "sent.jsonl")) == 4, 20)


def test_forgetting_keeps_what_is_unfinished_and_goes_a_batch_at_a_time(tmp_path: Path) -> None:
    """A notification whose part waits or is in flight, was queued again lately (a resend), or was marked lately (the
    digest counts 30 days of *Expected* marks by when they were made), or whose processing never finished, is kept
    however old (the last three found in review); a years-old outbox is forgotten in batches, each its own short
    transaction; old taps audited for a notification already gone go too."""
    path = tmp_path / "outbox.sqlite3"
    db = connect(path, "NORMAL")
    now = time.time()
    old, lately = now - 100 * 86400, now - 86400
    rows = [("done", "sent", old)] * (retention.BATCH + 1) + [
        ("done", "pending", old), ("done", "inflight", old), ("done", "sent", lately), ("done", "sent", old),
        ("analysed", "sent", old), ("parked", "parked", old),
    ]  # fmt: skip
    for i, (note, send, queued) in enumerate(rows):
        db.execute("INSERT INTO notifications (id, dedup_key, group_key, status, received_at, payload, state)"
                   " VALUES (?, 'k', 'g', 'firing', ?, '{}', ?)", (i + 1, old, note))  # fmt: skip
        db.execute("INSERT INTO sends (notification_id, group_key, channel, kind, part, parts, body, state, created_at)"
                   " VALUES (?, 'g', 'c', 'message', 0, 1, 'x', ?, ?)", (i + 1, send, queued))  # fmt: skip
    marked = retention.BATCH + 5  # done, sent long ago, marked Expected yesterday
    for note, at in ((marked, lately), (9999, old), (9998, lately)):  # the last two: taps on notifications long gone
        db.execute("INSERT INTO actions (notification_id, group_key, name, kind, state, at) VALUES (?, 'g',"
                   " 'button:expected', 'button', 'done', ?)", (note, at))  # fmt: skip
    first = retention.prune(db, now - 35 * 86400)
    assert (first.notifications, first.sends) == (retention.BATCH, retention.BATCH)
    second = retention.prune(db, now - 35 * 86400)
    assert second.notifications == 2  # the last of the batch and the parked one
    left = [r[0] for r in db.execute("SELECT id FROM notifications ORDER BY id")]
    assert left == [retention.BATCH + i for i in (2, 3, 4, 5, 6)]  # pending, in flight, queued again, marked, analysed
    assert [r[0] for r in db.execute("SELECT notification_id FROM actions ORDER BY id")] == [marked, 9998]
    assert retention.prune(db, now - 200 * 86400) == retention.Pruned()  # nothing that old
    db.close()


async def test_a_failure_to_forget_is_said_at_once_and_the_receiver_goes_on(
    aiohttp_client: Client, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Found in review: any error but the outbox's own (a damaged page, a bug) ended the hourly task without a word
    until shutdown. A trigger stands in for the damaged page."""
    settings = settings_for(tmp_path / "data", tmp_path / "sent.jsonl")
    outbox = Outbox(settings.outbox_path, 60)
    await outbox.open()
    await outbox.close()
    with sqlite3.connect(settings.outbox_path) as db:
        db.execute("CREATE TRIGGER damaged BEFORE DELETE ON analysis_cache BEGIN SELECT RAISE(ABORT, 'damaged'); END")
        db.execute("INSERT INTO analysis_cache VALUES ('stale', '{}', '', 0)")
    caplog.set_level(logging.INFO, "receiver")
    client = await aiohttp_client(create_app(settings))
    await until(lambda: "outbox: cannot forget old history; trying again in an hour" in caplog.text, 10)
    assert "damaged" in caplog.text
    assert (await client.post("/alerts", json=hook("after"))).status == 200
    await until(lambda: len(lines(tmp_path / "sent.jsonl")) == 1, 20)


async def test_unreadable_rows_are_parked_said_and_never_hide_newer_ones(
    aiohttp_client: Client, tmp_path: Path
) -> None:
    """1,000 rows the worker cannot read (as an older release stored them) used to fill the dispatcher's list of
    1,000 and retry forever: 20 later alerts were never delivered."""
    settings = settings_for(tmp_path / "data", tmp_path / "sent.jsonl", processing={"max_attempts": 2})
    client = await aiohttp_client(create_app(settings))
    with sqlite3.connect(settings.outbox_path) as db:
        rows = [(f"bad-{i}", "poison" if i < 990 else f"poison-{i}", "firing", time.time(), "{")
                for i in range(1000)]  # fmt: skip
        db.executemany(
            "INSERT INTO notifications (dedup_key, group_key, status, received_at, payload) VALUES (?, ?, ?, ?, ?)",
            rows,
        )
    for i in range(20):
        assert (await client.post("/alerts", json=hook(f"fresh-{i}"))).status == 200
    await until(lambda: sum(x["group_key"].startswith("fresh") for x in lines(tmp_path / "sent.jsonl")) == 20, 60)
    # The first unreadable row of each group fails twice (5 s apart) and is parked; the admin channel is told.
    await until(lambda: sum(x["status"] == "parked" for x in lines(tmp_path / "sent.jsonl")) >= 11, 60)
    notice = next(x for x in lines(tmp_path / "sent.jsonl") if x["status"] == "parked")
    assert "could not be processed" in notice["text"] and "failed 2 times" in notice["text"]
    assert "JSONDecodeError" in notice["text"] or "malformed_json" in notice["text"]
    with sqlite3.connect(settings.outbox_path) as db:
        parked = db.execute("SELECT COUNT(*) FROM notifications WHERE state = 'parked'").fetchone()[0]
        error = db.execute("SELECT error FROM notifications WHERE state = 'parked' LIMIT 1").fetchone()[0]
    assert parked >= 11 and "malformed_json" in error
    page = await (await client.get("/metrics")).text()
    gauge = next(x for x in page.splitlines() if x.startswith("costwarden_receiver_notifications_parked "))
    assert float(gauge.split()[1]) >= 11


# --- 2. a full disk: 503, not ready, one log line per change, recovery without restart ----------------------------


def fill(mount: Path) -> Path:
    """Every byte of the filesystem taken, as a runaway log would."""
    filler = mount / "filler"
    with filler.open("wb", buffering=0) as out:
        for size in (1 << 16, 1 << 12, 1):
            try:
                while True:
                    out.write(b"\0" * size)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
    return filler


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)],
                          capture_output=True, text=True)  # fmt: skip
    if done.returncode != 0:
        pytest.skip(f"mounting a 2 MiB tmpfs needs root: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@contextlib.asynccontextmanager
async def webhook_sink(on_post: Callable[[int], None]) -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []

    async def take(request: web.Request) -> web.Response:
        received.append(await request.json())
        on_post(len(received))
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/hook", take)
    async with served(app) as url:
        yield f"{url}/hook", received


async def test_a_full_disk_means_503_then_full_recovery_without_restart(
    aiohttp_client: Client, tmp_path: Path, small_disk: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The disk fills while a send is on the wire: its outcome cannot be recorded. That send used to stay in flight
    (its queue wedged until restart), the deliverer logged 24,741 lines in 17 s, and /-/ready said 200."""
    filler: list[Path] = []
    async with webhook_sink(lambda n: filler.append(fill(small_disk)) if n == 1 else None) as (url, received):
        settings = settings_for(small_disk / "data", tmp_path / "unused", channels=[{"type": "webhook", "url": url}],
                                delivery={"retry_base_seconds": 0.2, "retry_max_seconds": 1})  # fmt: skip
        client = await aiohttp_client(create_app(settings))
        caplog.set_level(logging.INFO)
        assert (await client.post("/alerts", json=hook("g"))).status == 200
        await until(lambda: bool(filler), 20)
        later = hook("g", commonAnnotations={"summary": "later"}, alerts=[{**FIRING["alerts"][0], "fingerprint": "2"}])
        assert (await client.post("/alerts", json=later)).status == 503  # Alertmanager keeps it and retries
        ready = await client.get("/-/ready")
        assert ready.status == 503 and "outbox not writable" in await ready.text()
        await asyncio.sleep(3)  # the deliverer keeps failing to record the outcome meanwhile
        filler[0].unlink()
        assert (await client.get("/-/ready")).status == 200  # space is back: noticed at once, no restart
        assert (await client.post("/alerts", json=later)).status == 200
        await until(lambda: len(received) >= 3, 20)  # the first again (its outcome was lost) and the later one
        with sqlite3.connect(settings.outbox_path) as db:
            await until(lambda: {r[0] for r in db.execute("SELECT state FROM sends")} == {"sent"}, 20)
    ids = [r["message"]["id"] for r in received]
    assert ids[0] == ids[1] and ids[-1] > ids[0]  # the first sent twice (its outcome was lost), then the later one
    failing = [r for r in caplog.records if "cannot be written" in r.getMessage()]
    recovered = [r for r in caplog.records if "takes writes again" in r.getMessage()]
    assert 1 <= len(failing) <= 2 and len(recovered) == len(failing), [r.getMessage() for r in failing + recovered]
    assert len(caplog.records) < 200


# --- 3, 5. authentication -----------------------------------------------------------------------------------------


async def test_auth_never_fails_open_and_never_answers_500(aiohttp_client: Client, tmp_path: Path) -> None:
    settings = settings_for(tmp_path / "data", tmp_path / "sent.jsonl",
                            auth={"bearer_token": "tok", "basic_username": "am", "basic_password": "pw"})  # fmt: skip
    client = await aiohttp_client(create_app(settings))
    basic = base64.b64encode(b"am:pw").decode()
    refused = ["", "Bearer", "Bearer ", "Bearer tok2", "bearer  tokx", "Bearer \xff", "Basic \xe9", "Basic !!",
               "Basic " + base64.b64encode(b"am").decode(), "Basic " + base64.b64encode(b"am:").decode(),
               "Basic " + base64.b64encode(b":pw").decode(), "Basic " + base64.b64encode(b"\xff:\xfe").decode(),
               "Token tok", "Digest x", f"Bearer {basic}", "Basic tok"]  # fmt: skip
    for header in refused:
        resp = await client.post("/alerts", json=hook("a"), headers={"Authorization": header} if header else {})
        assert resp.status == 401, header
    for header in ("Bearer tok", f"Basic {basic}", f"basic {basic}"):
        assert (await client.post("/alerts", json=hook("a"), headers={"Authorization": header})).status == 200


# --- 4. credentials in the Prometheus URL -------------------------------------------------------------------------


async def test_prometheus_credentials_are_sent_as_auth_and_shown_nowhere(
    aiohttp_client: Client, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[str] = []

    async def query(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Authorization", ""))
        return web.json_response({"status": "error", "errorType": "bad_data", "error": "refused for the test"},
                                 status=400)  # fmt: skip

    prom = web.Application()
    prom.router.add_get("/api/v1/query", query)
    prom.router.add_get("/api/v1/query_range", query)
    caplog.set_level(logging.DEBUG)
    async with served(prom) as url:
        secret_url = url.replace("http://", "http://admin:s3cr%40t@")
        settings = settings_for(tmp_path / "data", tmp_path / "sent.jsonl", prometheus={"url": secret_url})
        client = await aiohttp_client(create_app(settings))
        assert (await client.post("/alerts", json=hook("p"))).status == 200
        await until(lambda: len(lines(tmp_path / "sent.jsonl")) == 1, 20)
        metrics = await (await client.get("/metrics")).text()
    assert seen and set(seen) == {"Basic " + base64.b64encode(b"admin:s3cr@t").decode()}
    with sqlite3.connect(settings.outbox_path) as db:
        outbox = "\n".join(str(row) for table in ("notifications", "sends")
                           for row in db.execute(f"SELECT * FROM {table}"))  # noqa: S608 - fixed names # fmt: skip
    shown = [(tmp_path / "sent.jsonl").read_text(), outbox, metrics, "\n".join(r.getMessage() for r in caplog.records)]
    assert all("s3cr" not in text for text in shown)


async def test_an_unreachable_prometheus_is_named_without_its_password(aiohttp_client: Client, tmp_path: Path) -> None:
    url = dead_url()
    settings = settings_for(tmp_path / "data", tmp_path / "sent.jsonl",
                            prometheus={"url": url.replace("http://", "http://admin:s3cret@")})  # fmt: skip
    client = await aiohttp_client(create_app(settings))
    assert (await client.post("/alerts", json=hook("p"))).status == 200
    await until(lambda: len(lines(tmp_path / "sent.jsonl")) == 1, 20)
    text = (tmp_path / "sent.jsonl").read_text()
    assert f"Prometheus at {url} cannot be reached" in text and "s3cret" not in text


# --- 9. memory and log amplification ------------------------------------------------------------------------------


async def raw_request(port: int, head: bytes, body: bytes) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(head + body)
    await writer.drain()
    return reader, writer


async def test_big_bodies_wait_their_turn_and_a_huge_group_key_is_clipped(
    aiohttp_client: Client, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = settings_for(tmp_path / "data", tmp_path / "sent.jsonl",
                            intake={"max_body_bytes": 16 * 2**20, "max_inflight_bytes": 16 * 2**20})  # fmt: skip
    client = await aiohttp_client(create_app(settings))
    port = client.port
    assert port is not None
    big = json.dumps(hook("big")).encode()
    big += b" " * (15 * 2**20 - len(big))
    head = (f"POST /alerts HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {len(big)}\r\n"
            "Connection: close\r\n\r\n").encode()  # fmt: skip
    reader, writer = await raw_request(port, head, big[:1000])  # a slow 15 MiB upload holds its share
    await asyncio.sleep(0.3)
    second = await client.post("/alerts", data=io.BytesIO(big))
    assert second.status == 503 and second.headers["Retry-After"] == "5"
    assert (await second.json())["error"] == "busy"
    writer.write(big[1000:])
    await writer.drain()
    status = await reader.readline()
    writer.close()
    assert b" 200 " in status
    # The retry is taken once the first is done.
    assert (await client.post("/alerts", data=io.BytesIO(big))).status == 200
    caplog.set_level(logging.INFO)
    huge = "k" * (10 * 2**20)
    assert (await client.post("/alerts", data=io.BytesIO(json.dumps(hook(huge)).encode()))).status == 200
    await until(lambda: len(lines(tmp_path / "sent.jsonl")) == 2, 20)
    with sqlite3.connect(settings.outbox_path) as db:
        keys = [r[0] for r in db.execute("SELECT group_key FROM notifications UNION ALL SELECT group_key FROM sends")]
    assert max(map(len, keys)) <= 1100 and any("sha256" in k for k in keys)
    assert max(len(r.getMessage()) + len(str(getattr(r, "group_key", ""))) for r in caplog.records) < 4096


# --- 12. the wall clock stepping ----------------------------------------------------------------------------------


async def test_a_clock_step_neither_stalls_a_retry_nor_parks_a_send(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.sqlite3", 3600)
    await outbox.open()
    try:
        (stored,) = [await outbox.store(notifications.Arrival("k", "g", "firing", json.dumps(FIRING)))]
        queued = [Send("g", "hook", "message", 0, 1, "{}")]
        await outbox.write(notifications.advance, stored.id, Note.ANALYSED, queued, None, time.time())
        with sqlite3.connect(tmp_path / "outbox.sqlite3") as db:  # the clock went back a day after the back-offs
            db.execute("UPDATE sends SET next_attempt_at = ?", (time.time() + 86400,))
            db.execute("UPDATE notifications SET state = 'pending', next_attempt_at = ?", (time.time() + 86400,))
        now = time.time()
        assert [q.id for q in await outbox.read(sends.due, 10, now, 300)] != []  # due: no wait can be that long
        assert [p.id for p in await outbox.read(notifications.due, 10, now, 300)] == [stored.id]
        assert await outbox.read(sends.due, 10, now, 86400 * 2) == []  # (a wait within the horizon is respected)

        class Failing:
            def render(self, message: object) -> list[dict[str, object]]:
                return [{}]

            async def send(self, body: object, reply_to: str | None) -> str | None:
                from receiver.delivery.channels import RetryLater

                raise RetryLater("down for the test", None)

        cfg = Delivery(retry_base_seconds=0.01, retry_max_seconds=0.05, max_age_hours=1)
        deliverer = Deliverer(cfg, outbox, {"hook": Failing()}, Metrics())  # type: ignore[dict-item]
        await deliverer.start()
        await asyncio.sleep(0.5)  # it fails in this process, then the wall clock jumps 49 h forward
        with sqlite3.connect(tmp_path / "outbox.sqlite3") as db:
            db.execute("UPDATE sends SET created_at = created_at - 49 * 3600")
            (before,) = db.execute("SELECT attempts FROM sends").fetchone()
        await asyncio.sleep(2.5)
        await deliverer.stop(0)
        with sqlite3.connect(tmp_path / "outbox.sqlite3") as db:
            state, attempts = db.execute("SELECT state, attempts FROM sends").fetchone()
        assert before >= 1 and attempts > before and state in ("pending", "inflight")  # still retried, not parked
    finally:
        await outbox.close()


# --- 3, 5, 10, 13. start-up: refuse what would fail open, say what is wrong in one line ----------------------------


def test_a_password_in_the_prometheus_url_is_split_where_its_host_begins() -> None:
    from receiver.settings import Prometheus, without_userinfo

    raw = Prometheus(url="http://user:pa@ss@prom:9090/p?q=1")  # an unencoded @ in the password
    assert raw.credentials == ("user", "pa@ss") and without_userinfo(raw.url) == "http://prom:9090/p?q=1"
    encoded = Prometheus(url="https://u%40x:a%2Fb@prom")
    assert encoded.credentials == ("u@x", "a/b") and without_userinfo(encoded.url) == "https://prom"
    with pytest.raises(ValueError, match="percent-encode"):
        Prometheus(url="http://user:a/b@prom:9090")  # the password would be read as the path, and shown


def test_settings_refuse_what_would_fail_open_or_crash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert load(None).listen.host == "127.0.0.1"  # compose sets 0.0.0.0 inside its own network
    path = tmp_path / "receiver.yml"
    cases = {
        "actions: {url: 'http://127.0.0.1:9877', token: t}\n": "actions.url is set but intake auth is off",
        "auth: {basic_username: am}\n": "basic_username is set but basic_password is not",
        "auth: {bearer_token: ''}\n": "field auth.bearer_token: String should have at least 1 character",
        'auth: "x"\n': "receiver.yml:1: field auth: expected a mapping of fields, got str",
        'actions: "x"\n': "receiver.yml:1: field actions: expected a mapping of fields, got str",
    }
    for text, reason in cases.items():
        path.write_text(text)
        with pytest.raises(SettingsError, match=re.escape(reason)):
            load(path)
    monkeypatch.setenv("COSTWARDEN_RECEIVER_BASIC_PASSWORD", "pw")  # a password alone used to turn auth off
    path.write_text("{}\n")
    with pytest.raises(SettingsError, match="basic_password is set but basic_username is not"):
        load(path)
    monkeypatch.delenv("COSTWARDEN_RECEIVER_BASIC_PASSWORD")
    path.write_bytes("ollama: {model: 'caf\u00e9'}\n".encode("latin-1"))
    with pytest.raises(SettingsError, match=r"receiver\.yml: not UTF-8 text \(byte 20\)"):
        load(path)
    (tmp_path / "token").write_bytes(b"\xfftoken")
    monkeypatch.setenv("COSTWARDEN_RECEIVER_BEARER_TOKEN_FILE", str(tmp_path / "token"))
    with pytest.raises(SettingsError, match=r"COSTWARDEN_RECEIVER_BEARER_TOKEN_FILE=.*: not UTF-8 text"):
        load(None)


def start(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "receiver", "--config", str(config)], capture_output=True,
                          text=True, timeout=60)  # fmt: skip


def config_for(tmp_path: Path, data: Path, port: int) -> Path:
    path = tmp_path / f"receiver-{port}.yml"
    path.write_text(f"listen: {{host: 127.0.0.1, port: {port}}}\ndata_dir: {data}\nollama: {{enabled: false}}\n"
                    "digest: {daily: {enabled: false}}\n")  # fmt: skip
    return path


def one_clear_line(done: subprocess.CompletedProcess[str], expected: str) -> None:
    assert done.returncode == 2, done.stderr[-2000:]
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
    assert re.search(expected, done.stderr.strip().splitlines()[-1]), done.stderr[-2000:]


def test_start_up_failures_are_one_clear_line(tmp_path: Path, small_disk: Path) -> None:
    with receiver_process(tmp_path / "data") as (url, _):  # 10. a second receiver on the same data directory
        one_clear_line(start(config_for(tmp_path, tmp_path / "data", free_port())),
                       r"data: another receiver \(pid \d+\) is using this data directory")  # fmt: skip
        port = int(url.rsplit(":", 1)[1])
        one_clear_line(start(config_for(tmp_path, tmp_path / "other", port)),
                       rf"cannot listen on 127\.0\.0\.1:{port}: .*in use")  # fmt: skip
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    (damaged / "outbox.sqlite3").write_bytes(b"not a database, a truncated copy" * 200)
    one_clear_line(start(config_for(tmp_path, damaged, free_port())),
                   r"outbox\.sqlite3: cannot open the outbox: file is not a database")  # fmt: skip
    readonly = small_disk / "data"
    with receiver_process(readonly):
        pass  # an outbox that exists, on a filesystem then made read-only
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    one_clear_line(start(config_for(tmp_path, readonly, free_port())),
                   r"data: cannot use the data directory: Read-only file system")  # fmt: skip


# --- the dead man's switch ------------------------------------------------------------------------------------------


async def test_the_watchdog_pings_the_heartbeat_and_sends_no_message(aiohttp_client: Client, tmp_path: Path) -> None:
    pings: list[str] = []
    answers = [200, 500]

    async def ping(request: web.Request) -> web.Response:
        pings.append(request.method + " " + request.path)
        return web.Response(status=answers.pop(0) if answers else 200, text="OK")

    heartbeat = web.Application()
    heartbeat.router.add_route("*", "/ping/{key}", ping)
    watchdog = {"alertname": "CostwardenWatchdog", "severity": "info"}
    body = hook("{}:{alertname=\"CostwardenWatchdog\"}", commonLabels=watchdog,
                alerts=[{**FIRING["alerts"][0], "labels": watchdog}])  # fmt: skip
    async with served(heartbeat) as url:
        settings = settings_for(tmp_path / "data", tmp_path / "sent.jsonl",
                                heartbeat={"url": f"{url}/ping/k3y-secret"})  # fmt: skip
        client = await aiohttp_client(create_app(settings))
        for repeat in range(2):  # Alertmanager's repeats (after 5 minutes each) are new notifications
            again = {**body, "alerts": [{**body["alerts"][0], "startsAt": f"2026-11-28T10:0{repeat}:00Z"}]}
            assert (await client.post("/alerts", json=again)).status == 200
        await until(lambda: len(pings) == 2, 20)
        metrics = await (await client.get("/metrics")).text()
    assert pings == ["GET /ping/k3y-secret"] * 2
    assert 'costwarden_receiver_heartbeats_total{result="sent"} 1.0' in metrics
    assert 'costwarden_receiver_heartbeats_total{result="failed"} 1.0' in metrics
    await asyncio.sleep(0.3)
    assert not (tmp_path / "sent.jsonl").exists()  # no message for the watchdog
    with sqlite3.connect(settings.outbox_path) as db:
        rows = db.execute("SELECT state, source, rendered FROM notifications").fetchall()
    assert [(state, source) for state, source, _ in rows] == [("done", "heartbeat")] * 2
    assert "HTTP 200" in rows[0][2] and "HTTP 500" in rows[1][2] and "k3y" not in "".join(r[2] for r in rows)


async def test_the_watchdog_reaches_the_heartbeat_through_the_real_alertmanager_and_stops_with_it(
    aiohttp_client: Client, tmp_path: Path
) -> None:
    """The shipped route: Alertmanager sends the always-firing watchdog to the receiver (after its 10 s group_wait),
    which pings the heartbeat; once Alertmanager is gone, nothing pings — what the heartbeat service notices."""
    from tests.support.alertmanager import running_alertmanager

    pings: list[float] = []

    async def ping(request: web.Request) -> web.Response:
        pings.append(time.monotonic())
        return web.Response(text="OK")

    heartbeat = web.Application()
    heartbeat.router.add_get("/ping/{key}", ping)
    async with served(heartbeat) as url:
        settings = settings_for(tmp_path / "data", tmp_path / "sent.jsonl", heartbeat={"url": f"{url}/ping/k3y"})
        client = await aiohttp_client(create_app(settings))
        (tmp_path / "am").mkdir()
        with running_alertmanager(tmp_path / "am", str(client.make_url("/alerts"))) as am:
            alert = [{"labels": {"alertname": "CostwardenWatchdog", "severity": "none"},
                      "annotations": {"summary": "always firing"}}]  # fmt: skip
            async with aiohttp.ClientSession() as session, session.post(f"{am}/api/v2/alerts", json=alert) as sent:
                assert sent.status == 200
            await until(lambda: len(pings) == 1, 30)
        stopped = time.monotonic()
        await asyncio.sleep(2)
    assert [t for t in pings if t > stopped] == []
    assert not (tmp_path / "sent.jsonl").exists()  # a ping, never a message


def test_the_access_log_never_holds_a_query(tmp_path: Path) -> None:
    """A signed link's signature is a credential: the receiver's access log names the path only."""
    import urllib.error
    import urllib.request

    log = tmp_path / "receiver.log"
    (tmp_path / "data").mkdir()
    with receiver_process(tmp_path / "data", log=log) as (url, _):
        urllib.request.urlopen(f"{url}/metrics", timeout=5).close()  # noqa: S310 - loopback
        with contextlib.suppress(urllib.error.HTTPError):  # links are off here: 404, logged all the same
            urllib.request.urlopen(f"{url}/act/1/s1h?exp=1&sig=5ec12e7", timeout=5)  # noqa: S310 - loopback
        deadline = time.monotonic() + 5
        while "/act/1/s1h" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
    text = log.read_text()
    messages = [json.loads(line)["msg"] for line in text.splitlines() if line.startswith("{")]
    assert any('"GET /act/1/s1h" 404' in m for m in messages) and "5ec12e7" not in text
    # Found in an operator's trial: a quarter of the log was Prometheus' scrapes, every 15 s, saying nothing.
    assert not any('"GET /metrics"' in m for m in messages)
