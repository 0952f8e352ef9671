"""The outbox: every accepted notification, durably in SQLite before Alertmanager hears 200, and every step of its
processing after that, so a restart resumes where the last process stopped.

Two connections, each on its own thread: one for intake, one for processing, so a burst of webhooks never queues
behind the worker's reads. WAL with synchronous=FULL so a committed row survives power loss; SQLite's single writer
lock orders the two (transactions are short). Processing commits with synchronous=NORMAL: atomic and crash-safe, and
only a power cut can undo the last steps, which are then redone (at worst a message sent twice); this keeps the
worker's commits from holding the write lock through an fsync each while webhooks wait. Concurrent webhooks are
committed together (group commit): one fsync acknowledges a whole burst.

A digest is stored as a notification already `analysed` (its text rendered, its sends queued) with one `digests` row
per channel in the same transaction: the row's key (period, channel) is what makes a digest go out once, whichever
process or restart claims it first.

A notification moves `pending` (stored) → [`paged`: a critical alert's facts queued for sending at once] →
`analysed` (facts, prompt, answer, verdict and text stored, and one `sends` row per channel and message part queued in
the same transaction) → `done` (every send sent or parked); or, after `processing.max_attempts` failed tries, `parked`
with its error (and a notice to the admin channels queued). A send moves `pending` → `inflight` → `sent` after the
channel's success answer, or `parked` with the reason when it can never succeed; one left in flight by a crash or an
unrecordable outcome is sent again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

log = logging.getLogger("receiver.outbox")

PROBE_SECONDS = 5.0
"""While writes work, readiness re-probes with a committed write at most this often."""
MIN_FREE_BYTES = 512 * 1024
"""Below this much free space on the data directory's filesystem the receiver says it is not ready: SQLite needs
room for the write-ahead log before it can take a notification."""


@contextlib.contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[None]:
    """BEGIN IMMEDIATE … COMMIT, rolled back on any error — unless SQLite already rolled it back itself (a full disk
    at COMMIT does), which would otherwise replace the real error with "cannot rollback - no transaction is active"."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")
        raise


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
CREATE INDEX IF NOT EXISTS notifications_group ON notifications (group_key, state, id);
CREATE TABLE IF NOT EXISTS sends (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    notification_id INTEGER NOT NULL REFERENCES notifications (id),
    group_key TEXT NOT NULL,
    channel TEXT NOT NULL,
    kind TEXT NOT NULL,
    part INTEGER NOT NULL,
    parts INTEGER NOT NULL,
    body TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    sent_at REAL,
    last_error TEXT,
    reply TEXT,
    UNIQUE (notification_id, channel, kind, part)
);
CREATE INDEX IF NOT EXISTS sends_queue ON sends (channel, group_key, state, id);
CREATE INDEX IF NOT EXISTS sends_state ON sends (state, next_attempt_at);
CREATE TABLE IF NOT EXISTS digests (
    key TEXT NOT NULL,
    channel TEXT NOT NULL,
    notification_id INTEGER NOT NULL REFERENCES notifications (id),
    created_at REAL NOT NULL,
    PRIMARY KEY (key, channel)
);
CREATE TABLE IF NOT EXISTS actions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    notification_id INTEGER NOT NULL REFERENCES notifications (id),
    group_key TEXT NOT NULL,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    state TEXT NOT NULL,
    argv TEXT NOT NULL DEFAULT '[]',
    output TEXT NOT NULL DEFAULT '',
    reason TEXT NOT NULL DEFAULT '',
    at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS actions_notification ON actions (notification_id, name, id);
CREATE TABLE IF NOT EXISTS schedules (
    name TEXT PRIMARY KEY,
    since REAL NOT NULL
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
    "error": "TEXT",
    "prompt_tokens": "INTEGER",
    "answer_tokens": "INTEGER",
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


@dataclass(frozen=True)
class Work:
    """A notification to analyse, as stored."""

    id: int
    group_key: str
    status: str
    payload: str
    state: str
    attempts: int


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
    prompt_tokens: int = 0
    answer_tokens: int = 0


@dataclass(frozen=True)
class Send:
    """One part of one message for one channel, rendered once: a retry sends the same words."""

    group_key: str
    channel: str
    kind: str
    part: int
    parts: int
    body: str


@dataclass(frozen=True)
class Queued:
    id: int
    notification_id: int
    group_key: str
    channel: str
    kind: str
    part: int
    parts: int
    body: str
    attempts: int
    created_at: float


@dataclass(frozen=True)
class ActionRow:
    """One step of a diagnostic or remediation for a notification, as audited."""

    name: str
    kind: str
    state: str
    argv: tuple[str, ...] = ()
    output: str = ""
    reason: str = ""


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
        self._probed = -PROBE_SECONDS
        self.failing: str | None = None
        """Why the last write failed (None: it succeeded): readiness, the writable gauge, one log line per change."""

    def _outcome(self, error: Exception | None) -> None:
        """One log line when writes start failing and one when they work again, not one per attempt (a full disk
        made 24,741 lines in 17 s)."""
        if error is None:
            if self.failing is not None:
                log.warning("the outbox takes writes again (was: %s)", self.failing)
            self.failing = None
        else:
            if self.failing is None:
                log.error("the outbox cannot be written: %s; webhooks get 503 (Alertmanager retries) and sends wait "
                          "until it can", error)  # fmt: skip
            self.failing = str(error)

    async def open(self) -> None:
        """Open both connections; OutboxError naming the file when it cannot be created, written or read."""
        for lane, sync in ((self._intake, "FULL"), (self._processing, "NORMAL")):
            try:
                lane.db = await asyncio.get_running_loop().run_in_executor(lane.executor, self._connect, sync)
            except (sqlite3.Error, OSError) as exc:
                raise OutboxError(f"{self._path}: cannot open the outbox: {exc}") from exc

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
        (check,) = db.execute("PRAGMA quick_check(1)").fetchone()
        if check != "ok":  # a damaged file is refused at start, not found by the first webhook
            raise sqlite3.DatabaseError(f"damaged: {check}")
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

    async def _read(self, fn: Callable[..., T], *args: object) -> T:
        try:
            return await self._processing.run(fn, *args)
        except (sqlite3.OperationalError, OSError) as exc:
            raise OutboxError(str(exc)) from exc

    async def _write(self, fn: Callable[..., T], *args: object) -> T:
        """Operational errors (full, read-only, locked, I/O) are the outbox's: OutboxError, tried again later. Any
        other SQLite error is about the row written and propagates as itself (the caller counts an attempt)."""
        try:
            result = await self._processing.run(fn, *args)
        except (sqlite3.OperationalError, OSError, OutboxError) as exc:
            self._outcome(exc)
            raise OutboxError(str(exc)) from exc
        self._outcome(None)
        return result

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
                except (sqlite3.Error, OSError, OutboxError) as exc:
                    self._outcome(exc)
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(OutboxError(str(exc)))
                    continue
                self._outcome(None)
                for (_, future), result in zip(batch, results, strict=True):
                    if not future.done():  # the client may have gone away; the row is stored all the same
                        future.set_result(result)
        finally:
            self._flusher = None

    def _store_many(self, db: sqlite3.Connection, requests: list[_Request], now: float) -> list[Stored]:
        with transaction(db):
            return [self._store_one(db, request, now) for request in requests]

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

    async def unwritable(self) -> str | None:
        """Readiness: None when a notification can be stored now, else why not (too little space, a write that
        fails). The probe is a real committed write, so a disk that has room again is noticed without a restart."""
        try:
            stat = os.statvfs(self._path.parent)
        except OSError as exc:
            return f"cannot look at {self._path.parent}: {exc.strerror or exc}"
        free = stat.f_bavail * stat.f_frsize
        if free < MIN_FREE_BYTES:
            return f"only {free // 1024} KiB free on {self._path.parent}"
        if self.failing is None and time.monotonic() < self._probed + PROBE_SECONDS:
            return None  # a probe per readiness check would grow the WAL (and need a disk) on its own
        try:
            await self._intake.run(self._probe, time.time())
        except (sqlite3.Error, OSError, OutboxError) as exc:
            self._outcome(exc)
            return str(exc)
        self._outcome(None)
        self._probed = time.monotonic()
        return None

    @staticmethod
    def _probe(db: sqlite3.Connection, now: float) -> None:
        with transaction(db):
            db.execute("INSERT OR REPLACE INTO schedules (name, since) VALUES ('readiness-probe', ?)", (now,))

    # --- processing ---------------------------------------------------------------------------------------------

    async def depth(self) -> tuple[int, float | None]:
        """Notifications not yet done and the age of the oldest, for the outbox gauges."""
        return await self._read(self._depth, time.time())

    @staticmethod
    def _depth(db: sqlite3.Connection, now: float) -> tuple[int, float | None]:
        count, oldest = db.execute(
            "SELECT COUNT(*), MIN(received_at) FROM notifications WHERE state != 'done'"
        ).fetchone()
        return int(count), None if oldest is None else now - float(oldest)

    async def pending(self, limit: int, horizon: float) -> list[Pending]:
        """The oldest unfinished notification of each alert group, if it is due, in arrival order.

        Only a group's first is listed (the others wait behind it), so a thousand stuck rows of one group, or rows
        waiting out a back-off, never hide another group's. A back-off ends more than `horizon` seconds from now only
        if the wall clock stepped back: such a row is due.
        """
        return await self._read(self._pending, limit, time.time(), horizon)

    @staticmethod
    def _pending(db: sqlite3.Connection, limit: int, now: float, horizon: float) -> list[Pending]:
        rows = db.execute(
            "SELECT n.id, n.group_key FROM notifications n"
            " JOIN (SELECT MIN(id) AS id FROM notifications WHERE state IN ('pending', 'paged') GROUP BY group_key) h"
            " ON n.id = h.id WHERE n.next_attempt_at <= ? OR n.next_attempt_at > ? ORDER BY n.id LIMIT ?",
            (now, now + horizon, limit),
        )
        return [Pending(int(r[0]), str(r[1])) for r in rows]

    async def load(self, notification_id: int) -> Work:
        return await self._read(self._load, notification_id)

    @staticmethod
    def _load(db: sqlite3.Connection, notification_id: int) -> Work:
        r = db.execute(
            "SELECT id, group_key, status, payload, state, attempts FROM notifications WHERE id = ?",
            (notification_id,),
        ).fetchone()
        return Work(id=r[0], group_key=r[1], status=r[2], payload=r[3], state=r[4], attempts=r[5])

    @staticmethod
    def _save_analysis(db: sqlite3.Connection, notification_id: int, p: Processed) -> None:
        db.execute(
            "UPDATE notifications SET facts = ?, prompt = ?, raw_answer = ?, grounding = ?,"
            " analysis = ?, source = ?, rendered = ?, prompt_tokens = ?, answer_tokens = ? WHERE id = ?",
            (p.facts, p.prompt, p.raw_answer, p.grounding, p.analysis, p.source, p.rendered, p.prompt_tokens,
             p.answer_tokens, notification_id),
        )  # fmt: skip

    async def queue(self, notification_id: int, state: str, sends: list[Send], processed: Processed | None) -> None:
        """Move a notification to `state`, storing its analysis (if given) and queueing its sends, atomically."""
        await self._write(self._queue, notification_id, state, sends, processed, time.time())

    @classmethod
    def _queue(
        cls,
        db: sqlite3.Connection,
        notification_id: int,
        state: str,
        sends: list[Send],
        p: Processed | None,
        now: float,
    ) -> None:
        with transaction(db):
            if p is not None:
                cls._save_analysis(db, notification_id, p)
            db.execute("UPDATE notifications SET state = ? WHERE id = ?", (state, notification_id))
            db.executemany(
                "INSERT OR IGNORE INTO sends (notification_id, group_key, channel, kind, part, parts, body, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [(notification_id, x.group_key, x.channel, x.kind, x.part, x.parts, x.body, now) for x in sends],
            )
            if state == "analysed" and not sends:  # nothing (more) to send: done once earlier sends are final
                db.execute(
                    "UPDATE notifications SET state = 'done', done_at = ? WHERE id = ? AND NOT EXISTS"
                    " (SELECT 1 FROM sends WHERE notification_id = ? AND state IN ('pending', 'inflight'))",
                    (now, notification_id, notification_id),
                )

    async def inflight(self) -> int:
        """Sends marked in flight (at start-up: by a process that stopped mid-send; they are sent again)."""
        return await self._read(self._inflight)

    @staticmethod
    def _inflight(db: sqlite3.Connection) -> int:
        return int(db.execute("SELECT COUNT(*) FROM sends WHERE state = 'inflight'").fetchone()[0])

    async def sendable(self, limit: int, horizon: float) -> list[Queued]:
        """The next send of each (channel, alert group) queue, if due: a queue is delivered strictly in order.

        A send left `inflight` is listed too: the one process that holds the data directory knows which it is
        sending, and any other was interrupted (a crash, or an outcome that could not be written) and is sent again.
        A back-off ending more than `horizon` seconds from now means the wall clock stepped back: due.
        """
        return await self._read(self._sendable, limit, time.time(), horizon)

    @staticmethod
    def _sendable(db: sqlite3.Connection, limit: int, now: float, horizon: float) -> list[Queued]:
        rows = db.execute(
            "SELECT s.id, s.notification_id, s.group_key, s.channel, s.kind, s.part, s.parts, s.body, s.attempts,"
            " s.created_at FROM sends s"
            " WHERE s.state IN ('pending', 'inflight') AND (s.next_attempt_at <= ? OR s.next_attempt_at > ?)"
            " AND s.id = (SELECT MIN(t.id) FROM sends t WHERE t.channel = s.channel AND t.group_key = s.group_key"
            "             AND t.state IN ('pending', 'inflight'))"
            " ORDER BY s.id LIMIT ?",
            (now, now + horizon, limit),
        )
        return [Queued(*row) for row in rows]

    async def reply_of(self, notification_id: int, channel: str) -> str | None:
        """What the channel answered to this notification's first part (Telegram: the message to reply to)."""
        return await self._read(self._reply_of, notification_id, channel)

    @staticmethod
    def _reply_of(db: sqlite3.Connection, notification_id: int, channel: str) -> str | None:
        row = db.execute(
            "SELECT reply FROM sends WHERE notification_id = ? AND channel = ? AND state = 'sent' AND reply IS NOT NULL"
            " ORDER BY id LIMIT 1",
            (notification_id, channel),
        ).fetchone()
        return None if row is None else str(row[0])

    async def mark_send(self, send_id: int, state: str, *, reply: str | None = None, error: str | None = None,
                        retry_at: float | None = None) -> None:  # fmt: skip
        """Record the outcome of one send; a notification whose sends are all final becomes done."""
        await self._write(self._mark_send, send_id, state, reply, error, retry_at, time.time())

    @staticmethod
    def _mark_send(
        db: sqlite3.Connection, send_id: int, state: str, reply: str | None, error: str | None,
        retry_at: float | None, now: float,
    ) -> None:  # fmt: skip
        with transaction(db):
            if state == "inflight":
                db.execute("UPDATE sends SET state = 'inflight', attempts = attempts + 1 WHERE id = ?", (send_id,))
            elif state == "pending":
                db.execute("UPDATE sends SET state = 'pending', next_attempt_at = ?, last_error = ? WHERE id = ?",
                           (retry_at or now, error, send_id))  # fmt: skip
            else:
                db.execute("UPDATE sends SET state = ?, sent_at = ?, reply = ?, last_error = ? WHERE id = ?",
                           (state, now if state == "sent" else None, reply, error, send_id))  # fmt: skip
                db.execute(
                    "UPDATE notifications SET state = 'done', done_at = ? WHERE state = 'analysed'"
                    " AND id = (SELECT notification_id FROM sends WHERE id = ?)"
                    " AND NOT EXISTS (SELECT 1 FROM sends WHERE notification_id = notifications.id"
                    "                 AND state IN ('pending', 'inflight'))",
                    (now, send_id),
                )

    async def send_queue_stats(self) -> tuple[int, float | None, int]:
        """(sends waiting, age of the oldest, sends parked) for the delivery gauges."""
        return await self._read(self._send_queue_stats, time.time())

    @staticmethod
    def _send_queue_stats(db: sqlite3.Connection, now: float) -> tuple[int, float | None, int]:
        waiting, oldest = db.execute(
            "SELECT COUNT(*), MIN(created_at) FROM sends WHERE state IN ('pending', 'inflight')"
        ).fetchone()
        parked = db.execute("SELECT COUNT(*) FROM sends WHERE state = 'parked'").fetchone()[0]
        return int(waiting), None if oldest is None else now - float(oldest), int(parked)

    async def failed(self, notification_id: int, error: str, delay: float, max_attempts: int,
                     notice: list[Send]) -> bool:  # fmt: skip
        """Count a failed attempt at processing: retried after `delay`, or, at the `max_attempts`-th, parked with
        the error and `notice` (the admin's message) queued in the same transaction. True when parked."""
        return await self._write(self._failed, notification_id, error, time.time() + delay, max_attempts, notice,
                                 time.time())  # fmt: skip

    @staticmethod
    def _failed(db: sqlite3.Connection, notification_id: int, error: str, when: float, max_attempts: int,
                notice: list[Send], now: float) -> bool:  # fmt: skip
        with transaction(db):
            db.execute(
                "UPDATE notifications SET attempts = attempts + 1, next_attempt_at = ?, error = ? WHERE id = ?",
                (when, error[:2000], notification_id),
            )
            (attempts,) = db.execute("SELECT attempts FROM notifications WHERE id = ?", (notification_id,)).fetchone()
            if attempts < max_attempts:
                return False
            db.execute("UPDATE notifications SET state = 'parked' WHERE id = ?", (notification_id,))
            db.executemany(
                "INSERT OR IGNORE INTO sends (notification_id, group_key, channel, kind, part, parts, body, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [(notification_id, x.group_key, x.channel, x.kind, x.part, x.parts, x.body, now) for x in notice],
            )
            return True

    async def parked_notifications(self) -> int:
        return await self._read(self._parked_notifications)

    @staticmethod
    def _parked_notifications(db: sqlite3.Connection) -> int:
        return int(db.execute("SELECT COUNT(*) FROM notifications WHERE state = 'parked'").fetchone()[0])

    async def cached(self, key: str) -> tuple[str, str] | None:
        """(analysis, raw answer) stored for this key, if any: the same facts to the same model are not asked twice."""
        return await self._read(self._cached, key)

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

    # --- digests ------------------------------------------------------------------------------------------------

    async def schedule_since(self, name: str, now: float) -> float:
        """When this schedule was first seen running: digests due before it were never missed, only not yet asked
        for (a fresh install at 10:00 does not send this morning's digest late)."""
        return await self._write(self._schedule_since, name, now)

    @staticmethod
    def _schedule_since(db: sqlite3.Connection, name: str, now: float) -> float:
        db.execute("INSERT OR IGNORE INTO schedules (name, since) VALUES (?, ?)", (name, now))
        return float(db.execute("SELECT since FROM schedules WHERE name = ?", (name,)).fetchone()[0])

    async def digest_missing(self, key: str, channels: list[str]) -> list[str]:
        """The channels that have not had this period's digest."""
        return await self._read(self._digest_missing, key, channels)

    @staticmethod
    def _digest_missing(db: sqlite3.Connection, key: str, channels: list[str]) -> list[str]:
        had = {row[0] for row in db.execute("SELECT channel FROM digests WHERE key = ?", (key,))}
        return [c for c in channels if c not in had]

    async def claim_digest(self, key: str, payload: str, rendered: str, sends: list[Send]) -> list[str]:
        """Queue a digest for the channels of `sends` that have not had it, atomically; returns those channels.

        Two receivers on one data directory, or one restarted mid-way, cannot both claim a channel: the insert of
        the (key, channel) row and the sends share a transaction under SQLite's write lock.
        """
        return await self._write(self._claim_digest, key, payload, rendered, sends, time.time())

    @classmethod
    def _claim_digest(
        cls, db: sqlite3.Connection, key: str, payload: str, rendered: str, sends: list[Send], now: float
    ) -> list[str]:
        with transaction(db):
            wanted = list(dict.fromkeys(x.channel for x in sends))
            fresh = cls._digest_missing(db, key, wanted)
            if fresh:
                group_key = sends[0].group_key
                cursor = db.execute(
                    "INSERT INTO notifications (dedup_key, group_key, status, received_at, payload, state, rendered,"
                    " source) VALUES (?, ?, 'digest', ?, ?, 'analysed', ?, 'digest')",
                    (key, group_key, now, payload, rendered),
                )
                note = int(cursor.lastrowid or 0)
                db.executemany(
                    "INSERT INTO digests (key, channel, notification_id, created_at) VALUES (?, ?, ?, ?)",
                    [(key, channel, note, now) for channel in fresh],
                )
                db.executemany(
                    "INSERT INTO sends (notification_id, group_key, channel, kind, part, parts, body, created_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [(note, x.group_key, x.channel, x.kind, x.part, x.parts, x.body, now)
                     for x in sends if x.channel in fresh],
                )  # fmt: skip
        return fresh

    # --- actions (the audit trail) ------------------------------------------------------------------------------

    async def record_action(self, notification_id: int, group_key: str, row: ActionRow) -> None:
        """Append one step of an action (considered, then its outcome): rows are never updated, only added."""
        await self._write(self._record_action, notification_id, group_key, row, time.time())

    @staticmethod
    def _record_action(
        db: sqlite3.Connection, notification_id: int, group_key: str, row: ActionRow, now: float
    ) -> None:
        db.execute(
            "INSERT INTO actions (notification_id, group_key, name, kind, state, argv, output, reason, at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (notification_id, group_key, row.name, row.kind, row.state, json.dumps(list(row.argv)), row.output,
             row.reason, now),
        )  # fmt: skip

    async def actions_of(self, notification_id: int) -> dict[str, ActionRow]:
        """Each action's latest recorded step for a notification (what a restart must not do again)."""
        return await self._read(self._actions_of, notification_id)

    @staticmethod
    def _actions_of(db: sqlite3.Connection, notification_id: int) -> dict[str, ActionRow]:
        rows = db.execute(
            "SELECT name, kind, state, argv, output, reason FROM actions WHERE notification_id = ? ORDER BY id",
            (notification_id,),
        )
        return {r[0]: ActionRow(r[0], r[1], r[2], tuple(json.loads(r[3])), r[4], r[5]) for r in rows}
