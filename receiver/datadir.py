"""One receiver per data directory: a second one on the same outbox would deliver every message (and run every
remediation) twice, so it is refused at start with the first one's pid."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from costwarden import lockfile


class DataDirError(Exception):
    """The data directory cannot be used (another process holds it, or it cannot be created or written)."""


@contextlib.contextmanager
def hold(data_dir: Path) -> Iterator[None]:
    """`<data_dir>/receiver.lock` (costwarden.lockfile) for as long as the block runs."""
    held = contextlib.ExitStack()
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        held.enter_context(lockfile.hold(data_dir / "receiver.lock"))
    except lockfile.Held as other:
        raise DataDirError(
            f"{data_dir}: another receiver (pid {other.pid}) is using this data directory; two would deliver every "
            "message twice. Stop that one, or give this one its own data_dir"
        ) from None
    except OSError as exc:  # cannot be created or written, or a filesystem without locks (some network mounts)
        raise DataDirError(f"{data_dir}: cannot use the data directory: {exc.strerror or exc}") from exc
    with held:
        yield
