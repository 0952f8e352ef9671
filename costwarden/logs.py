"""Logging for both services: logfmt for people, JSON for machines, with per-task context on every line.

The context (for the receiver: the Alertmanager groupKey) lives in a ContextVar, so a line logged deep inside an
asyncio task carries the group it works for without every call site passing it along.
"""

from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar

CONTEXT: ContextVar[dict[str, str] | None] = ContextVar("log_context", default=None)


class _ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.context = CONTEXT.get() or {}
        return True


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, str] = {
            "ts": self.formatTime(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            **getattr(record, "context", {}),
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class _LogfmtFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = f"ts={self.formatTime(record)} level={record.levelname} logger={record.name} msg={record.getMessage()!r}"
        for key, value in getattr(record, "context", {}).items():
            line += f" {key}={value!r}"
        if record.exc_info:
            line += f" exc={self.formatException(record.exc_info)!r}"
        return line


def setup_logging(level: str, fmt: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_JsonFormatter() if fmt == "json" else _LogfmtFormatter())
    handler.addFilter(_ContextFilter())
    logging.basicConfig(level={"warn": "WARNING"}.get(level, level.upper()), handlers=[handler], force=True)
