"""The outbox file: its schema and migrations, opening it, and the one `transaction()` every table module uses.

The tables' own modules (notifications, sends, digests, audit, cache) are plain functions of a connection, run by
`Outbox.read` or `Outbox.write` (receiver/store/outbox.py), which is where errors become OutboxError.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path


class OutboxError(Exception):
    """The outbox cannot store right now (disk full, read-only, locked): the caller answers 503 so it is retried."""


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

SEND_COLUMNS = {
    "not_before": "REAL NOT NULL DEFAULT 0",  # the end of the wait a service asked for (retry-after): never sooner
    "parked_at": "REAL",  # when it was given up on: `resend --hours` counts from then
}


def connect(path: Path, synchronous: str) -> sqlite3.Connection:
    """Open (creating and migrating) the outbox; sqlite3.DatabaseError when the file is damaged."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # A writer that holds the database longer than this is a fault: answer 503 and let Alertmanager retry, well
    # inside its 10 s webhook timeout.
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=2.0)
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
    for table, columns in (("notifications", PROCESSING_COLUMNS), ("sends", SEND_COLUMNS)):
        have = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
        for column, kind in columns.items():
            if column not in have:
                db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
    return db
