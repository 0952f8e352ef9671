"""The outbox: every accepted notification, durably in SQLite before Alertmanager hears 200.

One connection on one thread does every write (SQLite allows one writer; a single-thread executor makes that the
design rather than a lock fight), WAL with synchronous=FULL so a committed row survives power loss.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

SCHEMA = """
CREATE TABLE IF NOT EXISTS notifications (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    dedup_key TEXT NOT NULL,
    group_key TEXT NOT NULL,
    status TEXT NOT NULL,
    received_at REAL NOT NULL,
    payload TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending'
);
CREATE INDEX IF NOT EXISTS notifications_dedup ON notifications (dedup_key, received_at);
CREATE INDEX IF NOT EXISTS notifications_state ON notifications (state, id);
"""


class OutboxError(Exception):
    """The outbox cannot store right now (disk full, read-only, locked): the caller answers 503 so it is retried."""


@dataclass(frozen=True)
class Stored:
    id: int
    duplicate: bool


class Outbox:
    def __init__(self, path: Path, dedup_window_seconds: float) -> None:
        self._path = path
        self._window = dedup_window_seconds
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="outbox")
        self._db: sqlite3.Connection | None = None

    async def open(self) -> None:
        await self._run(self._open)

    def _open(self) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        # A writer that holds the database longer than this is a fault: answer 503 and let Alertmanager retry, well
        # inside its 10 s webhook timeout.
        db = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False, timeout=2.0)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.executescript(SCHEMA)
        self._db = db

    async def close(self) -> None:
        await self._run(self._close)
        self._executor.shutdown(wait=True)

    def _close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    async def _run(self, fn: Callable[..., T], *args: object) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise OutboxError("outbox is not open")
        return self._db

    async def store(self, dedup_key: str, group_key: str, status: str, payload: str) -> Stored:
        """Store a notification unless the same one arrived within the window; resolved ones are always kept."""
        try:
            return await self._run(self._store, dedup_key, group_key, status, payload, time.time())
        except sqlite3.Error as exc:
            raise OutboxError(str(exc)) from exc

    def _store(self, dedup_key: str, group_key: str, status: str, payload: str, now: float) -> Stored:
        db = self._conn()
        db.execute("BEGIN IMMEDIATE")
        try:
            if status != "resolved":
                row = db.execute(
                    "SELECT id FROM notifications WHERE dedup_key = ? AND received_at >= ? ORDER BY id LIMIT 1",
                    (dedup_key, now - self._window),
                ).fetchone()
                if row is not None:
                    db.execute("COMMIT")
                    return Stored(int(row[0]), duplicate=True)
            cursor = db.execute(
                "INSERT INTO notifications (dedup_key, group_key, status, received_at, payload) VALUES (?, ?, ?, ?, ?)",
                (dedup_key, group_key, status, now, payload),
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return Stored(int(cursor.lastrowid or 0), duplicate=False)

    async def writable(self) -> bool:
        """Readiness: a write transaction can be opened and the file is on a writable filesystem."""
        try:
            await self._run(self._probe)
        except (sqlite3.Error, OutboxError):
            return False
        return True

    def _probe(self) -> None:
        db = self._conn()
        db.execute("BEGIN IMMEDIATE")
        db.execute("ROLLBACK")

    async def depth(self) -> tuple[int, float | None]:
        """Pending notifications and the age of the oldest, for the outbox gauges."""
        return await self._run(self._depth, time.time())

    def _depth(self, now: float) -> tuple[int, float | None]:
        count, oldest = (
            self._conn()
            .execute("SELECT COUNT(*), MIN(received_at) FROM notifications WHERE state = 'pending'")
            .fetchone()
        )
        return int(count), None if oldest is None else now - float(oldest)
