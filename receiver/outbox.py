"""The outbox: every accepted notification, durably in SQLite before Alertmanager hears 200, and every step of its
processing after that, so a restart resumes where the last process stopped.

Two connections, each on its own thread: one for intake, one for processing, so a burst of webhooks never queues
behind the worker's reads. WAL with synchronous=FULL so a committed row survives power loss; SQLite's single writer
lock orders the two (transactions are short). Processing commits with synchronous=NORMAL: atomic and crash-safe, and
only a power cut can undo the last steps, which are then redone (at worst a message sent twice); this keeps the
worker's commits from holding the write lock through an fsync each while webhooks wait. Concurrent webhooks are
committed together (group commit): one fsync acknowledges a whole burst.

A notification moves `pending` (stored) → `analysed` (facts, prompt, answer, verdict and text stored) → `done` (every
channel delivered). Deliveries are recorded per channel, so a retry never sends twice to a channel that succeeded.
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
CREATE TABLE IF NOT EXISTS deliveries (
    notification_id INTEGER NOT NULL REFERENCES notifications (id),
    channel TEXT NOT NULL,
    delivered_at REAL NOT NULL,
    PRIMARY KEY (notification_id, channel)
);
CREATE TABLE IF NOT EXISTS analysis_cache (
    key TEXT PRIMARY KEY,
    analysis TEXT NOT NULL,
    raw_answer TEXT NOT NULL,
    created_at REAL NOT NULL
);
"""

# Added after the first release of the table; created on open when missing (ALTER TABLE ADD COLUMN is cheap).
PROCESSING_COLUMNS = {
    "facts": "TEXT",
    "prompt": "TEXT",
    "raw_answer": "TEXT",
    "grounding": "TEXT",
    "analysis": "TEXT",
    "source": "TEXT",
    "rendered": "TEXT",
    "attempts": "INTEGER NOT NULL DEFAULT 0",
    "next_attempt_at": "REAL NOT NULL DEFAULT 0",
    "done_at": "REAL",
}


class OutboxError(Exception):
    """The outbox cannot store right now (disk full, read-only, locked): the caller answers 503 so it is retried."""


@dataclass(frozen=True)
class Stored:
    id: int
    duplicate: bool


@dataclass(frozen=True)
class Pending:
    """A notification not yet done, as the dispatcher needs it: light, so it can be listed often."""

    id: int
    group_key: str
    due: bool
    """False while a back-off runs; later snapshots of the same group wait behind it."""


@dataclass(frozen=True)
class Work:
    """A notification not yet done, with whatever its earlier processing stored."""

    id: int
    group_key: str
    status: str
    payload: str
    state: str
    attempts: int
    rendered: str | None
    source: str | None
    facts: str | None


@dataclass(frozen=True)
class Processed:
    """Everything needed to explain a message afterwards."""

    facts: str
    prompt: str
    raw_answer: str
    grounding: str
    analysis: str
    source: str
    rendered: str


_Request = tuple[str, str, str, str]


class _Lane:
    """One SQLite connection, used only from its own thread."""

    def __init__(self, name: str) -> None:
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self.db: sqlite3.Connection | None = None

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        return await asyncio.get_running_loop().run_in_executor(self.executor, self._call, fn, args)

    def _call(self, fn: Callable[..., T], args: tuple[object, ...]) -> T:
        if self.db is None:
            raise OutboxError("outbox is not open")
        return fn(self.db, *args)


class Outbox:
    def __init__(self, path: Path, dedup_window_seconds: float) -> None:
        self._path = path
        self._window = dedup_window_seconds
        self._intake = _Lane("outbox-intake")
        self._processing = _Lane("outbox-processing")
        self._batch: list[tuple[_Request, asyncio.Future[Stored]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def open(self) -> None:
        for lane, sync in ((self._intake, "FULL"), (self._processing, "NORMAL")):
            lane.db = await asyncio.get_running_loop().run_in_executor(lane.executor, self._connect, sync)

    def _connect(self, synchronous: str) -> sqlite3.Connection:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        # A writer that holds the database longer than this is a fault: answer 503 and let Alertmanager retry, well
        # inside its 10 s webhook timeout.
        db = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False, timeout=2.0)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA synchronous={synchronous}")
        if synchronous == "FULL":
            # Checkpoints (copying the WAL back into the database, with fsyncs) run on the processing connection's
            # commits, never inside a webhook's: they were the slowest 1 % of acknowledgements.
            db.execute("PRAGMA wal_autocheckpoint=0")
        db.executescript(SCHEMA)
        have = {row[1] for row in db.execute("PRAGMA table_info(notifications)")}
        for column, kind in PROCESSING_COLUMNS.items():
            if column not in have:
                db.execute(f"ALTER TABLE notifications ADD COLUMN {column} {kind}")
        return db

    async def close(self) -> None:
        if self._flusher is not None:
            await asyncio.shield(self._flusher)
        for lane in (self._intake, self._processing):
            if lane.db is not None:
                await lane.run(sqlite3.Connection.close)
                lane.db = None
            lane.executor.shutdown(wait=True)

    async def _write(self, fn: Callable[..., T], *args: object) -> T:
        try:
            return await self._processing.run(fn, *args)
        except sqlite3.Error as exc:
            raise OutboxError(str(exc)) from exc

    # --- intake -------------------------------------------------------------------------------------------------

    async def store(self, dedup_key: str, group_key: str, status: str, payload: str) -> Stored:
        """Store a notification unless the same one arrived within the window; resolved ones are always kept.

        Requests that arrive while a commit is running wait for the next one and share its fsync.
        """
        future: asyncio.Future[Stored] = asyncio.get_running_loop().create_future()
        self._batch.append(((dedup_key, group_key, status, payload), future))
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        try:
            while self._batch:
                batch, self._batch = self._batch, []
                try:
                    results = await self._intake.run(self._store_many, [r for r, _ in batch], time.time())
                except (sqlite3.Error, OutboxError) as exc:
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(OutboxError(str(exc)))
                    continue
                for (_, future), result in zip(batch, results, strict=True):
                    if not future.done():  # the client may have gone away; the row is stored all the same
                        future.set_result(result)
        finally:
            self._flusher = None

    def _store_many(self, db: sqlite3.Connection, requests: list[_Request], now: float) -> list[Stored]:
        db.execute("BEGIN IMMEDIATE")
        try:
            results = [self._store_one(db, request, now) for request in requests]
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return results

    def _store_one(self, db: sqlite3.Connection, request: _Request, now: float) -> Stored:
        dedup_key, group_key, status, payload = request
        if status != "resolved":
            row = db.execute(
                "SELECT id FROM notifications WHERE dedup_key = ? AND received_at >= ? ORDER BY id LIMIT 1",
                (dedup_key, now - self._window),
            ).fetchone()
            if row is not None:
                return Stored(int(row[0]), duplicate=True)
        cursor = db.execute(
            "INSERT INTO notifications (dedup_key, group_key, status, received_at, payload) VALUES (?, ?, ?, ?, ?)",
            (dedup_key, group_key, status, now, payload),
        )
        return Stored(int(cursor.lastrowid or 0), duplicate=False)

    async def writable(self) -> bool:
        """Readiness: a write transaction can be opened and the file is on a writable filesystem."""
        try:
            await self._intake.run(self._probe)
        except (sqlite3.Error, OutboxError):
            return False
        return True

    @staticmethod
    def _probe(db: sqlite3.Connection) -> None:
        db.execute("BEGIN IMMEDIATE")
        db.execute("ROLLBACK")

    # --- processing ---------------------------------------------------------------------------------------------

    async def depth(self) -> tuple[int, float | None]:
        """Notifications not yet done and the age of the oldest, for the outbox gauges."""
        return await self._write(self._depth, time.time())

    @staticmethod
    def _depth(db: sqlite3.Connection, now: float) -> tuple[int, float | None]:
        count, oldest = db.execute(
            "SELECT COUNT(*), MIN(received_at) FROM notifications WHERE state != 'done'"
        ).fetchone()
        return int(count), None if oldest is None else now - float(oldest)

    async def pending(self, limit: int) -> list[Pending]:
        """Unfinished notifications in arrival order, with whether each is due (not waiting out a back-off)."""
        return await self._write(self._pending, limit, time.time())

    @staticmethod
    def _pending(db: sqlite3.Connection, limit: int, now: float) -> list[Pending]:
        rows = db.execute(
            "SELECT id, group_key, next_attempt_at <= ? FROM notifications WHERE state != 'done' ORDER BY id LIMIT ?",
            (now, limit),
        )
        return [Pending(int(r[0]), str(r[1]), bool(r[2])) for r in rows]

    async def load(self, notification_id: int) -> Work:
        return await self._write(self._load, notification_id)

    @staticmethod
    def _load(db: sqlite3.Connection, notification_id: int) -> Work:
        r = db.execute(
            "SELECT id, group_key, status, payload, state, attempts, rendered, source, facts FROM notifications"
            " WHERE id = ?",
            (notification_id,),
        ).fetchone()
        return Work(
            id=r[0], group_key=r[1], status=r[2], payload=r[3], state=r[4], attempts=r[5], rendered=r[6],
            source=r[7], facts=r[8],
        )  # fmt: skip

    async def save_analysis(self, notification_id: int, processed: Processed) -> None:
        await self._write(self._save_analysis, notification_id, processed)

    @staticmethod
    def _save_analysis(db: sqlite3.Connection, notification_id: int, p: Processed) -> None:
        db.execute(
            "UPDATE notifications SET state = 'analysed', facts = ?, prompt = ?, raw_answer = ?, grounding = ?,"
            " analysis = ?, source = ?, rendered = ? WHERE id = ?",
            (p.facts, p.prompt, p.raw_answer, p.grounding, p.analysis, p.source, p.rendered, notification_id),
        )

    async def delivered(self, notification_id: int) -> set[str]:
        return await self._write(self._delivered, notification_id)

    @staticmethod
    def _delivered(db: sqlite3.Connection, notification_id: int) -> set[str]:
        rows = db.execute("SELECT channel FROM deliveries WHERE notification_id = ?", (notification_id,))
        return {row[0] for row in rows}

    async def mark_delivered(self, notification_id: int, channel: str) -> None:
        await self._write(self._mark_delivered, notification_id, channel, time.time())

    @staticmethod
    def _mark_delivered(db: sqlite3.Connection, notification_id: int, channel: str, now: float) -> None:
        db.execute(
            "INSERT OR IGNORE INTO deliveries (notification_id, channel, delivered_at) VALUES (?, ?, ?)",
            (notification_id, channel, now),
        )

    async def finish(self, notification_id: int) -> None:
        await self._write(self._finish, notification_id, time.time())

    @staticmethod
    def _finish(db: sqlite3.Connection, notification_id: int, now: float) -> None:
        db.execute("UPDATE notifications SET state = 'done', done_at = ? WHERE id = ?", (now, notification_id))

    async def retry_later(self, notification_id: int, delay: float) -> None:
        await self._write(self._retry_later, notification_id, time.time() + delay)

    @staticmethod
    def _retry_later(db: sqlite3.Connection, notification_id: int, when: float) -> None:
        db.execute(
            "UPDATE notifications SET attempts = attempts + 1, next_attempt_at = ? WHERE id = ?",
            (when, notification_id),
        )

    async def cached(self, key: str) -> tuple[str, str] | None:
        """(analysis, raw answer) stored for this key, if any: the same facts to the same model are not asked twice."""
        return await self._write(self._cached, key)

    @staticmethod
    def _cached(db: sqlite3.Connection, key: str) -> tuple[str, str] | None:
        row = db.execute("SELECT analysis, raw_answer FROM analysis_cache WHERE key = ?", (key,)).fetchone()
        return None if row is None else (str(row[0]), str(row[1]))

    async def cache(self, key: str, analysis: str, raw_answer: str) -> None:
        await self._write(self._cache, key, analysis, raw_answer, time.time())

    @staticmethod
    def _cache(db: sqlite3.Connection, key: str, analysis: str, raw_answer: str, now: float) -> None:
        db.execute(
            "INSERT OR REPLACE INTO analysis_cache (key, analysis, raw_answer, created_at) VALUES (?, ?, ?, ?)",
            (key, analysis, raw_answer, now),
        )
