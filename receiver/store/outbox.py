"""The outbox: every accepted notification, durably in SQLite before Alertmanager hears 200, and every step of its
processing after that, so a restart resumes where the last process stopped.

Two connections, each on its own thread: one for intake, one for processing, so a burst of webhooks never queues
behind the worker's reads. WAL with synchronous=FULL so a committed row survives power loss; SQLite's single writer
lock orders the two (transactions are short). Processing commits with synchronous=NORMAL: atomic and crash-safe, and
only a power cut can undo the last steps, which are then redone (at worst a message sent twice); this keeps the
worker's commits from holding the write lock through an fsync each while webhooks wait. Concurrent webhooks are
committed together (group commit): one fsync acknowledges a whole burst.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Concatenate, ParamSpec, TypeVar

from receiver.store import notifications
from receiver.store.db import OutboxError, connect, transaction

T = TypeVar("T")
P = ParamSpec("P")

log = logging.getLogger("receiver.outbox")

PROBE_SECONDS = 5.0
"""While writes work, readiness re-probes with a committed write at most this often."""
MIN_FREE_BYTES = 512 * 1024
"""Below this much free space on the data directory's filesystem the receiver says it is not ready: SQLite needs
room for the write-ahead log before it can take a notification."""


class _Lane:
    """One SQLite connection, used only from its own thread."""

    def __init__(self, name: str) -> None:
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self.db: sqlite3.Connection | None = None

    async def run(self, fn: Callable[Concatenate[sqlite3.Connection, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
        call = functools.partial(self._call, functools.partial(fn, **kwargs), args)
        return await asyncio.get_running_loop().run_in_executor(self.executor, call)

    def _call(self, fn: Callable[..., T], args: tuple[object, ...]) -> T:
        if self.db is None:
            raise OutboxError("outbox is not open")
        return fn(self.db, *args)


class Outbox:
    """The outbox file and its two lanes: open/close, readiness, the intake's group commit, and `read`/`write` for
    the table modules' functions."""

    def __init__(self, path: Path, dedup_window_seconds: float) -> None:
        self._path = path
        self._window = dedup_window_seconds
        self._intake = _Lane("outbox-intake")
        self._processing = _Lane("outbox-processing")
        self._batch: list[tuple[notifications.Arrival, asyncio.Future[notifications.Stored]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._probed = -PROBE_SECONDS
        self.failing: str | None = None
        """Why the last write failed (None: it succeeded): readiness, the writable gauge, one log line per change."""

    def _outcome(self, error: BaseException | None) -> None:
        """One log line when writes start failing and one when they work again, not one per attempt (a full disk
        made 24,741 lines in 17 s)."""
        if error is None:
            if self.failing is not None:
                log.warning("the outbox takes writes again (was: %s)", self.failing)
            self.failing = None
        else:
            if self.failing is None:
                log.error("the outbox cannot be written: %s; webhooks get 503 (Alertmanager retries) and sends wait "
                          "until it can", error)  # fmt: skip
            self.failing = str(error)

    async def open(self) -> None:
        """Open both connections; OutboxError naming the file when it cannot be created, written or read."""
        for lane, sync in ((self._intake, "FULL"), (self._processing, "NORMAL")):
            try:
                lane.db = await asyncio.get_running_loop().run_in_executor(lane.executor, connect, self._path, sync)
            except (sqlite3.Error, OSError) as exc:
                raise OutboxError(f"{self._path}: cannot open the outbox: {exc}") from exc

    async def close(self) -> None:
        if self._flusher is not None:
            await asyncio.shield(self._flusher)
        for lane in (self._intake, self._processing):
            if lane.db is not None:
                await lane.run(sqlite3.Connection.close)
                lane.db = None
            lane.executor.shutdown(wait=True)

    async def read(self, fn: Callable[Concatenate[sqlite3.Connection, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run a table module's query on the processing lane."""
        try:
            return await self._processing.run(fn, *args, **kwargs)
        except (sqlite3.OperationalError, OSError) as exc:
            raise OutboxError(str(exc)) from exc

    async def write(self, fn: Callable[Concatenate[sqlite3.Connection, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run a table module's change on the processing lane. Operational errors (full, read-only, locked, I/O) are
        the outbox's: OutboxError, tried again later. Any other SQLite error is about the row written and propagates
        as itself (the caller counts an attempt)."""
        try:
            result = await self._processing.run(fn, *args, **kwargs)
        except (sqlite3.OperationalError, OSError, OutboxError) as exc:
            self._outcome(exc)
            raise OutboxError(str(exc)) from exc
        self._outcome(None)
        return result

    async def store(self, arrival: notifications.Arrival) -> notifications.Stored:
        """Store a notification unless the same one arrived within the window; resolved ones are always kept.

        Requests that arrive while a commit is running wait for the next one and share its fsync.
        """
        future: asyncio.Future[notifications.Stored] = asyncio.get_running_loop().create_future()
        self._batch.append((arrival, future))
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        try:
            while self._batch:
                batch, self._batch = self._batch, []
                arrivals = [a for a, _ in batch]
                try:
                    results = await self._intake.run(notifications.store, arrivals, time.time(), self._window)
                except (sqlite3.Error, OSError, OutboxError) as exc:
                    self._outcome(exc)
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(OutboxError(str(exc)))
                    continue
                self._outcome(None)
                for (_, future), result in zip(batch, results, strict=True):
                    if not future.done():  # the client may have gone away; the row is stored all the same
                        future.set_result(result)
        finally:
            self._flusher = None

    async def unwritable(self) -> str | None:
        """Readiness: None when a notification can be stored now, else why not (too little space, a write that
        fails). The probe is a real committed write, so a disk that has room again is noticed without a restart."""
        try:
            stat = os.statvfs(self._path.parent)
        except OSError as exc:
            return f"cannot look at {self._path.parent}: {exc.strerror or exc}"
        free = stat.f_bavail * stat.f_frsize
        if free < MIN_FREE_BYTES:
            return f"only {free // 1024} KiB free on {self._path.parent}"
        if self.failing is None and time.monotonic() < self._probed + PROBE_SECONDS:
            return None  # a probe per readiness check would grow the WAL (and need a disk) on its own
        try:
            await self._intake.run(_probe, time.time())
        except (sqlite3.Error, OSError, OutboxError) as exc:
            self._outcome(exc)
            return str(exc)
        self._outcome(None)
        self._probed = time.monotonic()
        return None


def _probe(db: sqlite3.Connection, now: float) -> None:
    with transaction(db):
        db.execute("INSERT OR REPLACE INTO schedules (name, since) VALUES ('readiness-probe', ?)", (now,))
