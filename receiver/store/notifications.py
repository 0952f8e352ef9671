"""The notifications table: one row per accepted webhook (or digest), moved through its states (states.Note) by the
pipeline."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from receiver.store import sends
from receiver.store.db import transaction
from receiver.store.states import Note


@dataclass(frozen=True)
class Arrival:
    """A webhook as intake stores it."""

    dedup_key: str
    group_key: str
    status: str
    payload: str


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


def store(db: sqlite3.Connection, arrivals: list[Arrival], now: float, window: float) -> list[Stored]:
    """Store each arrival unless the same one arrived within `window` seconds (resolved ones are always kept), in one
    transaction: the intake's group commit."""
    with transaction(db):
        return [_store_one(db, a, now, window) for a in arrivals]


def _store_one(db: sqlite3.Connection, a: Arrival, now: float, window: float) -> Stored:
    if a.status != "resolved":
        row = db.execute(
            "SELECT id FROM notifications WHERE dedup_key = ? AND received_at >= ? ORDER BY id LIMIT 1",
            (a.dedup_key, now - window),
        ).fetchone()
        if row is not None:
            return Stored(int(row[0]), duplicate=True)
    cursor = db.execute(
        "INSERT INTO notifications (dedup_key, group_key, status, received_at, payload) VALUES (?, ?, ?, ?, ?)",
        (a.dedup_key, a.group_key, a.status, now, a.payload),
    )
    return Stored(int(cursor.lastrowid or 0), duplicate=False)


def depth(db: sqlite3.Connection, now: float) -> tuple[int, float | None]:
    """Notifications not yet done and the age of the oldest, for the outbox gauges."""
    count, oldest = db.execute(
        "SELECT COUNT(*), MIN(received_at) FROM notifications WHERE state != ?", (Note.DONE,)
    ).fetchone()
    return int(count), None if oldest is None else now - float(oldest)


def due(db: sqlite3.Connection, limit: int, now: float, horizon: float) -> list[Pending]:
    """The oldest unfinished notification of each alert group, if it is due, in arrival order.

    Only a group's first is listed (the others wait behind it), so a thousand stuck rows of one group, or rows
    waiting out a back-off, never hide another group's. A back-off ends more than `horizon` seconds from now only
    if the wall clock stepped back: such a row is due.
    """
    rows = db.execute(
        "SELECT n.id, n.group_key FROM notifications n"
        " JOIN (SELECT MIN(id) AS id FROM notifications WHERE state IN (?, ?) GROUP BY group_key) h"
        " ON n.id = h.id WHERE n.next_attempt_at <= ? OR n.next_attempt_at > ? ORDER BY n.id LIMIT ?",
        (Note.PENDING, Note.PAGED, now, now + horizon, limit),
    )
    return [Pending(int(r[0]), str(r[1])) for r in rows]


def load(db: sqlite3.Connection, notification_id: int) -> Work:
    work = find(db, notification_id)
    if work is None:
        raise LookupError(f"no notification {notification_id}")
    return work


def advance(
    db: sqlite3.Connection,
    notification_id: int,
    state: Note,
    queued: list[sends.Send],
    p: Processed | None,
    now: float,
    facts: str | None = None,
) -> None:
    """Move a notification to `state`, storing its analysis (if given; else its `facts`, if given: a page's, which
    its buttons read) and queueing its sends, atomically."""
    with transaction(db):
        if facts is not None:
            db.execute("UPDATE notifications SET facts = ? WHERE id = ?", (facts, notification_id))
        if p is not None:
            db.execute(
                "UPDATE notifications SET facts = ?, prompt = ?, raw_answer = ?, grounding = ?,"
                " analysis = ?, source = ?, rendered = ?, prompt_tokens = ?, answer_tokens = ? WHERE id = ?",
                (p.facts, p.prompt, p.raw_answer, p.grounding, p.analysis, p.source, p.rendered, p.prompt_tokens,
                 p.answer_tokens, notification_id),
            )  # fmt: skip
        db.execute("UPDATE notifications SET state = ? WHERE id = ?", (state, notification_id))
        sends.add(db, notification_id, queued, now)
        if state == Note.ANALYSED and not queued:  # nothing (more) to send: done once earlier sends are final
            sends.finish(db, notification_id, now)


def failed(
    db: sqlite3.Connection, notification_id: int, error: str, retry_at: float, max_attempts: int,
    notice: list[sends.Send], now: float,
) -> bool:  # fmt: skip
    """Count a failed attempt at processing: retried at `retry_at`, or, at the `max_attempts`-th, parked with the
    error and `notice` (the admin's message) queued in the same transaction. True when parked."""
    with transaction(db):
        db.execute(
            "UPDATE notifications SET attempts = attempts + 1, next_attempt_at = ?, error = ? WHERE id = ?",
            (retry_at, error[:2000], notification_id),
        )
        (attempts,) = db.execute("SELECT attempts FROM notifications WHERE id = ?", (notification_id,)).fetchone()
        if attempts < max_attempts:
            return False
        db.execute("UPDATE notifications SET state = ? WHERE id = ?", (Note.PARKED, notification_id))
        sends.add(db, notification_id, notice, now)
        return True


def parked(db: sqlite3.Connection) -> int:
    return int(db.execute("SELECT COUNT(*) FROM notifications WHERE state = ?", (Note.PARKED,)).fetchone()[0])


def new_digest(db: sqlite3.Connection, key: str, group_key: str, payload: str, rendered: str, now: float) -> int:
    """A digest is stored as a notification already analysed (its text rendered, its sends queued by the caller)."""
    cursor = db.execute(
        "INSERT INTO notifications (dedup_key, group_key, status, received_at, payload, state, rendered, source)"
        " VALUES (?, ?, 'digest', ?, ?, ?, ?, 'digest')",
        (key, group_key, now, payload, Note.ANALYSED, rendered),
    )
    return int(cursor.lastrowid or 0)


def find(db: sqlite3.Connection, notification_id: int) -> Work | None:
    """The notification, or None if there is no such id (a button from another install, a forged callback)."""
    r = db.execute(
        "SELECT id, group_key, status, payload, state, attempts FROM notifications WHERE id = ?", (notification_id,)
    ).fetchone()
    return None if r is None else Work(id=r[0], group_key=r[1], status=r[2], payload=r[3], state=r[4], attempts=r[5])


def resolved_after(db: sqlite3.Connection, group_key: str, notification_id: int) -> bool:
    """Whether Alertmanager has reported this alert group resolved since this notification."""
    row = db.execute(
        "SELECT 1 FROM notifications WHERE group_key = ? AND status = 'resolved' AND id > ? LIMIT 1",
        (group_key, notification_id),
    ).fetchone()
    return row is not None


def facts_of(db: sqlite3.Connection, notification_id: int) -> str | None:
    """The facts stored with a notification (at its page, or its analysis), as JSON; None before either."""
    row = db.execute("SELECT facts FROM notifications WHERE id = ?", (notification_id,)).fetchone()
    return None if row is None or not row[0] else str(row[0])


def attach(db: sqlite3.Connection, notification_id: int, queued: list[sends.Send], now: float) -> None:
    """Queue more sends for a notification in whatever state it is (a chart drawn after its message was queued)."""
    with transaction(db):
        sends.add(db, notification_id, queued, now)
