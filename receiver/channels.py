"""Where rendered notifications go. One interface; the console and a JSON-lines file are built in.

A channel raises `ChannelError` when it could not deliver; the worker records per channel what was delivered and
retries only the others, with back-off, so nothing is lost and nothing is sent twice to a channel that took it.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Protocol

from receiver import settings as s
from receiver.render import Notification


class ChannelError(Exception):
    """Delivery failed; the message names the channel and why."""


class Channel(Protocol):
    name: str

    async def send(self, note: Notification) -> None: ...


class ConsoleChannel:
    """Standard output, for `make run` and for people who read the service's output (journald, docker logs)."""

    def __init__(self, name: str) -> None:
        self.name = name

    async def send(self, note: Notification) -> None:
        rule = "─" * 60
        sys.stdout.write(f"{rule}\n{note.text}\n{rule}\n")
        sys.stdout.flush()


class FileChannel:
    """One JSON object per line, fsynced: an audit trail, or a hand-off to another tool that tails the file."""

    def __init__(self, name: str, path: Path) -> None:
        self.name = name
        self.path = path

    async def send(self, note: Notification) -> None:
        line = json.dumps(
            {
                "id": note.id, "group_key": note.group_key, "status": note.status, "severity": note.severity,
                "title": note.title, "text": note.text, "source": note.source,
            },
            ensure_ascii=False,
        )  # fmt: skip
        try:
            await asyncio.to_thread(self._append, line)
        except OSError as exc:
            raise ChannelError(f"{self.name}: cannot append to {self.path}: {exc.strerror or exc}") from exc

    def _append(self, line: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as out:
            out.write(line + "\n")
            out.flush()
            os.fsync(out.fileno())


def build(configured: list[s.Channel]) -> list[Channel]:
    out: list[Channel] = []
    for c in configured:
        if isinstance(c, s.FileChannel):
            out.append(FileChannel(c.name, c.path))
        else:
            out.append(ConsoleChannel(c.name))
    return out
