"""One receiver per data directory: a second one on the same outbox would deliver every message (and run every
remediation) twice, so it is refused at start with the first one's pid."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path


class DataDirError(Exception):
    """The data directory cannot be used (another process holds it, or it cannot be created or written)."""


@contextlib.contextmanager
def hold(data_dir: Path) -> Iterator[None]:
    """An exclusive flock on `<data_dir>/receiver.lock` for as long as the block runs (the kernel drops it if the
    process dies, so a crash never leaves a stale lock behind)."""
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(data_dir / "receiver.lock", os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise DataDirError(f"{data_dir}: cannot use the data directory: {exc.strerror or exc}") from exc
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "?"
            raise DataDirError(
                f"{data_dir}: another receiver (pid {pid}) is using this data directory; two would deliver every "
                "message twice. Stop that one, or give this one its own data_dir"
            ) from None
        except OSError as exc:  # a filesystem without locks (some network mounts)
            raise DataDirError(f"{data_dir}: cannot lock the data directory: {exc.strerror or exc}") from exc
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        except OSError as exc:
            raise DataDirError(f"{data_dir}: cannot write {data_dir / 'receiver.lock'}: {exc.strerror or exc}") from exc
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
