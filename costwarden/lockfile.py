"""One process per directory: an exclusive flock that names its holder. The kernel drops it when the process dies,
so a crash never leaves a stale lock behind."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path


class Held(Exception):
    """Another process holds the lock; `pid` is what it wrote there ("?" when nothing was)."""

    def __init__(self, pid: str) -> None:
        super().__init__(pid)
        self.pid = pid


@contextlib.contextmanager
def hold(path: Path) -> Iterator[None]:
    """An exclusive flock on `path` (created 0644, with this process's pid in it) for as long as the block runs;
    `Held` when another process has it, `OSError` when the file cannot be made, locked or written."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise Held(os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "?") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
