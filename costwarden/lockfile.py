"""One process per directory: an exclusive flock that names its holder. The kernel drops it when the last process
holding the open file goes away, so a crash never leaves a stale lock behind."""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path


class Held(Exception):
    """Another process holds the lock; `pid` is what it wrote there ("?" when nothing was)."""

    def __init__(self, pid: str) -> None:
        super().__init__(pid)
        self.pid = pid


@contextlib.contextmanager
def hold(path: Path, wait: float = 0.0) -> Iterator[int]:
    """An exclusive flock on `path` (created 0644, with this process's pid in it) for as long as the block runs,
    trying for up to `wait` seconds (a `held()` probe holds it for an instant); yields its descriptor, which a child
    given it (`pass_fds`) keeps locked after this process is gone. `Held` when another process has it, `OSError`
    when the file cannot be made, locked or written."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise Held(os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "?") from None
                time.sleep(0.05)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        yield fd
    finally:
        os.close(fd)  # closing the descriptor releases the lock (unless a child holds it too)


def held(path: Path) -> bool:
    """Whether a process holds `path` now: a shared lock tried and let go at once, nothing written."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False
