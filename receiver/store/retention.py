"""What the outbox forgets: finished notifications older than `keep_days`, with their message parts (charts
included, as base64), audit steps and digest claims, and old cached analyses. Without it the file grew by every
alert and every digest for as long as the receiver ran (found reading it for the full-disk trial).

Only history goes: a notification is deleted once it is `done` or `parked` and none of its parts waits or is in
flight. Nothing the receiver still reads is that old: the dedup window is an hour, a digest claim matters for its
period (a week at most), the digest's "marked expected" count looks 30 days back, a signed link lives 7 days.
SQLite reuses the freed pages, so the file stops growing; it does not shrink (`VACUUM` it while the receiver is
stopped for that).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from receiver.store.db import transaction
from receiver.store.states import Note
from receiver.store.states import Send as State

BATCH = 50
"""Notifications deleted per transaction, so that a first run on a years-old outbox never holds the write lock
(which the intake's webhooks wait on, 2 s at most) for long: 500 notifications with three channels' charts each freed
130 MB in 0.8-1 s on a warm cache (found in review)."""


@dataclass(frozen=True)
class Pruned:
    notifications: int = 0
    sends: int = 0
    cached: int = 0

    def __add__(self, other: Pruned) -> Pruned:
        return Pruned(self.notifications + other.notifications, self.sends + other.sends, self.cached + other.cached)


_OLD = (
    "SELECT id FROM notifications n WHERE n.received_at < ? AND n.state IN (?, ?)"
    " AND NOT EXISTS (SELECT 1 FROM sends s WHERE s.notification_id = n.id"
    " AND (s.state IN (?, ?) OR s.created_at >= ?))"
    " AND NOT EXISTS (SELECT 1 FROM actions a WHERE a.notification_id = n.id AND a.at >= ?) ORDER BY id LIMIT ?"
)


def prune(db: sqlite3.Connection, before: float) -> Pruned:
    """Delete one batch of finished history received before `before` (and cached analyses made before it). A
    notification with a part queued or a button tapped since then is kept: a resend or an *Expected* mark is as new
    as its own time (the digest counts 30 days of marks by when they were made; found in review)."""
    args = (before, Note.DONE, Note.PARKED, State.PENDING, State.INFLIGHT, before, before, BATCH)
    with transaction(db):
        ids = [(r[0],) for r in db.execute(_OLD, args)]
        sends = db.executemany("DELETE FROM sends WHERE notification_id = ?", ids).rowcount
        for table in ("actions", "digests"):
            db.executemany(f"DELETE FROM {table} WHERE notification_id = ?", ids)  # noqa: S608 - our table names
        db.executemany("DELETE FROM notifications WHERE id = ?", ids)
        cached = db.execute("DELETE FROM analysis_cache WHERE created_at < ?", (before,)).rowcount
        # Taps on a message whose notification is gone are audited with its id all the same.
        db.execute(
            "DELETE FROM actions WHERE at < ? AND notification_id NOT IN (SELECT id FROM notifications)", (before,)
        )
    return Pruned(len(ids), sends, cached)
