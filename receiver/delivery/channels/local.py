"""The built-in channels that need no account: standard output and a JSON-lines file."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

from receiver.chart import Picture
from receiver.delivery.channels import Body, Permanent, RetryLater, mark, picture_body, png_of
from receiver.message.render import Message


class ConsoleChannel:
    """Standard output, for `make run` and for people who read the service's output (journald, docker logs)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def render(self, message: Message) -> list[Body]:
        return [{"text": f"{mark(message)} {message.plain()}"}]

    def picture(self, picture: Picture) -> list[Body]:
        """A terminal shows no picture: the file channel keeps charts as PNG files."""
        return []

    async def send(self, body: Body, reply_to: str | None) -> str | None:
        rule = "─" * 60
        sys.stdout.write(f"{rule}\n{body['text']}\n{rule}\n")
        sys.stdout.flush()
        return None


class FileChannel:
    """One JSON object per line, fsynced: an audit trail, or a hand-off to another tool that tails the file."""

    def __init__(self, name: str, path: Path) -> None:
        self.name = name
        self.path = path

    def render(self, message: Message) -> list[Body]:
        return [
            {
                "id": message.id, "group_key": message.group_key, "status": message.status,
                "severity": message.severity, "kind": message.kind, "title": message.title,
                "text": message.plain(), "source": message.source,
            }
        ]  # fmt: skip

    def picture(self, picture: Picture) -> list[Body]:
        """The chart as a PNG file in `charts/` beside the JSON-lines file; the line names it."""
        return [{"id": picture.id, "group_key": picture.group_key, "kind": "chart", "title": picture.title,
                 "caption": picture.caption, "png": picture_body(picture)["png"]}]  # fmt: skip

    async def send(self, body: Body, reply_to: str | None) -> str | None:
        if "png" in body:
            png = png_of(body)
            chart = self.path.parent / "charts" / f"{body['id']}-{hashlib.sha256(png).hexdigest()[:12]}.png"
            body = {k: v for k, v in body.items() if k != "png"} | {"file": str(chart)}  # a retry: the same file
            await self._write(lambda: self._save(chart, png))
        line = json.dumps(body, ensure_ascii=False)
        await self._write(lambda: self._append(line))
        return None

    async def _write(self, write: Callable[[], None]) -> None:
        try:
            await asyncio.to_thread(write)
        except FileNotFoundError as exc:
            raise RetryLater(f"cannot append to {self.path}: {exc.strerror}") from exc
        except OSError as exc:
            if exc.errno in (13, 30):  # EACCES, EROFS: a person has to change something
                raise Permanent(f"cannot append to {self.path}: {exc.strerror}") from exc
            raise RetryLater(f"cannot append to {self.path}: {exc.strerror or exc}") from exc

    @staticmethod
    def _save(path: Path, png: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(png)

    def _append(self, line: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as out:
            out.write(line + "\n")
            out.flush()
            os.fsync(out.fileno())
