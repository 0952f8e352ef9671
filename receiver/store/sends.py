"""The sends table: one row per channel and message part, delivered strictly in order per (channel, alert group).

A send's states are states.Send. Rendered once when queued: a retry sends the same words.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from receiver.store.db import transaction
from receiver.store.states import Note
from receiver.store.states import Send as State


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
class Queued(Send):
    """A send as stored, waiting for its turn."""

    id: int
    notification_id: int
    attempts: int
    created_at: float


def add(db: sqlite3.Connection, notification_id: int, queued: list[Send], now: float) -> None:
    """Queue sends for a notification (inside the caller's transaction); one already queued is kept as it is."""
    db.executemany(
        "INSERT OR IGNORE INTO sends (notification_id, group_key, channel, kind, part, parts, body, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [(notification_id, x.group_key, x.channel, x.kind, x.part, x.parts, x.body, now) for x in queued],
    )


def finish(db: sqlite3.Connection, notification_id: int, now: float) -> None:
    """An analysed notification whose sends are all final (sent or parked) is done."""
    db.execute(
        "UPDATE notifications SET state = ?, done_at = ? WHERE id = ? AND state = ? AND NOT EXISTS"
        " (SELECT 1 FROM sends WHERE notification_id = ? AND state IN (?, ?))",
        (Note.DONE, now, notification_id, Note.ANALYSED, notification_id, State.PENDING, State.INFLIGHT),
    )


def inflight(db: sqlite3.Connection) -> int:
    """Sends marked in flight (at start-up: by a process that stopped mid-send; they are sent again)."""
    return int(db.execute("SELECT COUNT(*) FROM sends WHERE state = ?", (State.INFLIGHT,)).fetchone()[0])


def due(db: sqlite3.Connection, limit: int, now: float, horizon: float) -> list[Queued]:
    """The next send of each (channel, alert group) queue, if due: a queue is delivered strictly in order.

    A send left `inflight` is listed too: the one process that holds the data directory knows which it is
    sending, and any other was interrupted (a crash, or an outcome that could not be written) and is sent again.
    A back-off ending more than `horizon` seconds from now means the wall clock stepped back: due.
    """
    rows = db.execute(
        "SELECT s.group_key, s.channel, s.kind, s.part, s.parts, s.body, s.id, s.notification_id, s.attempts,"
        " s.created_at FROM sends s"
        " WHERE s.state IN (?, ?) AND (s.next_attempt_at <= ? OR s.next_attempt_at > ?)"
        " AND s.id = (SELECT MIN(t.id) FROM sends t WHERE t.channel = s.channel AND t.group_key = s.group_key"
        "             AND t.state IN (?, ?))"
        " ORDER BY s.id LIMIT ?",
        (State.PENDING, State.INFLIGHT, now, now + horizon, State.PENDING, State.INFLIGHT, limit),
    )
    return [Queued(*row) for row in rows]


def reply_of(db: sqlite3.Connection, notification_id: int, channel: str) -> str | None:
    """What the channel answered to this notification's first part (Telegram: the message to reply to)."""
    row = db.execute(
        "SELECT reply FROM sends WHERE notification_id = ? AND channel = ? AND state = ? AND reply IS NOT NULL"
        " ORDER BY id LIMIT 1",
        (notification_id, channel, State.SENT),
    ).fetchone()
    return None if row is None else str(row[0])


def mark(
    db: sqlite3.Connection, send_id: int, state: State, now: float, *, reply: str | None = None,
    error: str | None = None, retry_at: float | None = None, not_before: float = 0.0,
) -> None:  # fmt: skip
    """Record the outcome of one send (`not_before`: the end of the wait the service asked for, with a retry); a
    notification whose sends are all final becomes done, and a message delivered makes the messages waiting out
    our own back-off on the same channel due (it answers again), never sooner than a service's retry-after, and
    not charts (an upload has limits of its own, and only three attempts)."""
    with transaction(db):
        if state == State.INFLIGHT:
            db.execute("UPDATE sends SET state = ?, attempts = attempts + 1 WHERE id = ?", (state, send_id))
        elif state == State.PENDING:
            db.execute("UPDATE sends SET state = ?, next_attempt_at = ?, not_before = ?, last_error = ? WHERE id = ?",
                       (state, retry_at or now, not_before, error, send_id))  # fmt: skip
        else:
            db.execute("UPDATE sends SET state = ?, sent_at = ?, parked_at = ?, reply = ?, last_error = ? WHERE id = ?",
                       (state, now if state == State.SENT else None, now if state == State.PARKED else None, reply,
                        error, send_id))  # fmt: skip
            row = db.execute("SELECT notification_id, channel, kind FROM sends WHERE id = ?", (send_id,)).fetchone()
            if row is not None:
                finish(db, int(row[0]), now)
                if state == State.SENT and row[2] != "chart":  # the channel is back: our back-offs on it end
                    db.execute("UPDATE sends SET next_attempt_at = MAX(?, not_before) WHERE channel = ? AND state = ?"
                               " AND kind != 'chart' AND next_attempt_at > MAX(?, not_before)",
                               (now, row[1], State.PENDING, now))  # fmt: skip


def attempts(db: sqlite3.Connection, send_id: int) -> int:
    """How often a send was tried (each try is counted when it is marked in flight)."""
    row = db.execute("SELECT attempts FROM sends WHERE id = ?", (send_id,)).fetchone()
    return 0 if row is None else int(row[0])


def stats(db: sqlite3.Connection, now: float) -> tuple[int, float | None, int]:
    """(sends waiting, age of the oldest, sends parked) for the delivery gauges."""
    waiting, oldest = db.execute(
        "SELECT COUNT(*), MIN(created_at) FROM sends WHERE state IN (?, ?)", (State.PENDING, State.INFLIGHT)
    ).fetchone()
    parked = db.execute("SELECT COUNT(*) FROM sends WHERE state = ?", (State.PARKED,)).fetchone()[0]
    return int(waiting), None if oldest is None else now - float(oldest), int(parked)


@dataclass(frozen=True)
class Parked:
    """A parked send, as `resend` lists it."""

    id: int
    channel: str
    parked_at: float
    error: str | None
    superseded: bool
    """A later part of its (channel, alert group) queue was delivered or is on its way: sent now, it would arrive after
    it (an old firing after its resolution)."""


_LATER = (
    "EXISTS (SELECT 1 FROM sends t WHERE t.channel = sends.channel AND t.group_key = sends.group_key"
    " AND t.id > sends.id AND t.state != 'parked')"
)
"""A send (in `sends`) that a later part of its queue has overtaken: delivered, in flight or waiting."""
_PARKED = f"SELECT id, channel, COALESCE(parked_at, created_at), last_error, {_LATER} FROM sends WHERE state = ?"  # noqa: S608
_PARKED += " AND COALESCE(parked_at, created_at) >= ? AND (? IS NULL OR channel = ?) ORDER BY id"
_REQUEUE = "UPDATE sends SET state = ?, attempts = 0, next_attempt_at = ?, not_before = 0, created_at = ?"
_REQUEUE += f", parked_at = NULL WHERE id = ? AND state = ? AND NOT {_LATER}"


def parked(db: sqlite3.Connection, since: float, channel: str | None) -> list[Parked]:
    """The sends parked since `since` (parts parked before this module recorded when: queued since), of one channel
    or of every channel, oldest first."""
    rows = db.execute(_PARKED, (State.PARKED, since, channel, channel))
    return [Parked(int(i), str(c), float(t), e, bool(later)) for i, c, t, e, later in rows]


def requeue(db: sqlite3.Connection, ids: list[int], now: float) -> list[int]:
    """Parked sends waiting again, due now, with no attempts and a fresh age (the deliverer gives up on a part older
    than delivery.max_age_hours at its first failure); their notifications wait until every send is final again.
    Checked again here, in the one transaction: a part overtaken since it was listed stays parked. The ids queued."""
    queued = []
    with transaction(db):
        for send_id in ids:
            changed = db.execute(_REQUEUE, (State.PENDING, now, now, send_id, State.PARKED)).rowcount
            if changed:
                queued.append(send_id)
                db.execute(
                    "UPDATE notifications SET state = ?, done_at = NULL WHERE state = ? AND id ="
                    " (SELECT notification_id FROM sends WHERE id = ?)",
                    (Note.ANALYSED, Note.DONE, send_id),
                )
    return queued
