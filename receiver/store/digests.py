"""The digests and schedules tables: a digest goes out once per period and channel, whichever process or restart
claims it first.

A digest is stored as a notification already `analysed` (its text rendered, its sends queued) with one `digests` row
per channel in the same transaction: the row's key (period, channel) is what makes it go out once.
"""

from __future__ import annotations

import sqlite3

from receiver.store import notifications, sends
from receiver.store.db import transaction


def schedule_since(db: sqlite3.Connection, name: str, now: float) -> float:
    """When this schedule was first seen running: digests due before it were never missed, only not yet asked
    for (a fresh install at 10:00 does not send this morning's digest late)."""
    db.execute("INSERT OR IGNORE INTO schedules (name, since) VALUES (?, ?)", (name, now))
    return float(db.execute("SELECT since FROM schedules WHERE name = ?", (name,)).fetchone()[0])


def missing(db: sqlite3.Connection, key: str, channels: list[str]) -> list[str]:
    """The channels that have not had this period's digest."""
    had = {row[0] for row in db.execute("SELECT channel FROM digests WHERE key = ?", (key,))}
    return [c for c in channels if c not in had]


def claim(db: sqlite3.Connection, key: str, payload: str, rendered: str, queued: list[sends.Send],
          now: float) -> list[str]:  # fmt: skip
    """Queue a digest for the channels of `queued` that have not had it, atomically; returns those channels.

    Two receivers on one data directory, or one restarted mid-way, cannot both claim a channel: the insert of
    the (key, channel) row and the sends share a transaction under SQLite's write lock.
    """
    with transaction(db):
        fresh = missing(db, key, list(dict.fromkeys(x.channel for x in queued)))
        if fresh:
            note = notifications.new_digest(db, key, queued[0].group_key, payload, rendered, now)
            db.executemany(
                "INSERT INTO digests (key, channel, notification_id, created_at) VALUES (?, ?, ?, ?)",
                [(key, channel, note, now) for channel in fresh],
            )
            sends.add(db, note, [x for x in queued if x.channel in fresh], now)
    return fresh
