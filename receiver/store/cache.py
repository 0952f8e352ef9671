"""The analysis cache: the same facts to the same model are not asked twice (a restart mid-analysis, a repeat)."""

from __future__ import annotations

import sqlite3


def get(db: sqlite3.Connection, key: str) -> tuple[str, str] | None:
    """(analysis, raw answer) stored for this key, if any."""
    row = db.execute("SELECT analysis, raw_answer FROM analysis_cache WHERE key = ?", (key,)).fetchone()
    return None if row is None else (str(row[0]), str(row[1]))


def put(db: sqlite3.Connection, key: str, analysis: str, raw_answer: str, now: float) -> None:
    db.execute(
        "INSERT OR REPLACE INTO analysis_cache (key, analysis, raw_answer, created_at) VALUES (?, ?, ?, ?)",
        (key, analysis, raw_answer, now),
    )
