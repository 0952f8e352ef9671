"""The actions table: the audit trail of every diagnostic or remediation considered for a notification, and its
outcome. Rows are only added; they go with their notification after `keep_days` (store/retention.py)."""

from __future__ import annotations

import json
import sqlite3

from costwarden.actions import Outcome


def record(db: sqlite3.Connection, notification_id: int, group_key: str, row: Outcome, now: float) -> None:
    """Append one step of an action (considered, then its outcome)."""
    db.execute(
        "INSERT INTO actions (notification_id, group_key, name, kind, state, argv, output, reason, at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (notification_id, group_key, row.action, row.kind, row.state, json.dumps(list(row.argv)), row.output,
         row.reason, now),
    )  # fmt: skip


def latest(db: sqlite3.Connection, notification_id: int) -> dict[str, Outcome]:
    """Each action's latest recorded step for a notification (what a restart must not do again)."""
    rows = db.execute(
        "SELECT name, kind, state, argv, output, reason FROM actions WHERE notification_id = ? ORDER BY id",
        (notification_id,),
    )
    return {r[0]: Outcome(r[0], r[1], r[2], tuple(json.loads(r[3])), r[4], r[5]) for r in rows}


def history(db: sqlite3.Connection, notification_id: int, kind: str) -> list[Outcome]:
    """Every recorded step of one kind for a notification, oldest first."""
    rows = db.execute(
        "SELECT name, kind, state, argv, output, reason FROM actions WHERE notification_id = ? AND kind = ?"
        " ORDER BY id",
        (notification_id, kind),
    )
    return [Outcome(r[0], r[1], r[2], tuple(json.loads(r[3])), r[4], r[5]) for r in rows]


def expected_by_alert(db: sqlite3.Connection, since: float) -> dict[str, int]:
    """Alert name -> pages marked expected (the chat's button) since `since`: what the digest reports back."""
    rows = db.execute(
        "SELECT COALESCE(json_extract(n.payload, '$.groupLabels.alertname'),"
        " json_extract(n.payload, '$.commonLabels.alertname'), '?'), COUNT(*)"
        " FROM actions a JOIN notifications n ON n.id = a.notification_id"
        " WHERE a.kind = 'button' AND a.name = 'button:expected' AND a.state = 'done' AND a.at >= ? GROUP BY 1",
        (since,),
    )
    return {str(name): int(count) for name, count in rows}


def expected_marks(db: sqlite3.Connection, since: float) -> list[tuple[int, str, str]]:
    """(notification id, its webhook, who) of each page marked expected since `since`, oldest first."""
    rows = db.execute(
        "SELECT n.id, n.payload, a.reason FROM actions a JOIN notifications n ON n.id = a.notification_id"
        " WHERE a.kind = 'button' AND a.name = 'button:expected' AND a.state = 'done' AND a.at >= ? ORDER BY a.id",
        (since,),
    )
    return [(int(r[0]), str(r[1]), str(r[2]).partition(" ")[0]) for r in rows]
