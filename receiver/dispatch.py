"""One dispatch loop for the pipeline (notifications) and the deliverer (sends): list what is due, run it side by
side up to a limit but one at a time per queue (an alert group; a channel and alert group), so a queue's items never
overtake each other; hold a queue whose step could not be written to the outbox instead of looping on it; drain at
stop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

from receiver.store.db import OutboxError

T = TypeVar("T")

log = logging.getLogger("receiver.dispatch")

POLL_SECONDS = 1.0
"""How often the outbox is looked at without a wake-up (back-offs expiring, rows stored by another process)."""


class Dispatcher(Generic[T]):
    def __init__(
        self,
        name: str,
        due: Callable[[], Awaitable[list[T]]],
        queue: Callable[[T], Hashable],
        run: Callable[[T], Awaitable[None]],
        limit: int,
        *,
        hold_seconds: float,
        coalesce_seconds: float = 0.0,
        drain: bool = False,
    ) -> None:
        """`due` lists what is due (oldest first); `queue` names an item's queue; `run` handles one item (an
        OutboxError from it holds the queue for `hold_seconds`). After a wake-up by new arrivals the loop waits
        `coalesce_seconds` so a burst is listed once. With `drain`, stopping keeps dispatching what is due until
        the grace period ends; without, stopping only lets what runs finish."""
        self._name = name
        self._due = due
        self._queue = queue
        self._run = run
        self._limit = limit
        self._hold_seconds = hold_seconds
        self._coalesce = coalesce_seconds
        self._drain = drain
        self._wake = asyncio.Event()
        self._busy: set[Hashable] = set()
        self._held: dict[Hashable, float] = {}
        """Queues whose last step could not be written (disk full): tried again no sooner than this (monotonic)."""
        self._freed = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopping = False
        self._deadline = 0.0
        self._loop: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._loop = asyncio.create_task(self._dispatch(), name=f"receiver-{self._name}")

    def wake(self) -> None:
        self._wake.set()

    def _hold(self, queue: Hashable) -> None:
        """Do not run this queue again for `hold_seconds` (its step could not be recorded)."""
        self._held[queue] = time.monotonic() + self._hold_seconds

    async def stop(self, grace: float) -> int:
        """Stop taking work and give what runs `grace` seconds; returns how many were cancelled (their rows stay in
        the outbox and are resumed at the next start)."""
        self._deadline = time.monotonic() + grace
        self._stopping = True
        self._wake.set()
        if self._loop is not None:
            await self._loop
        if not self._tasks:
            return 0
        log.info("%s: waiting for %d in flight", self._name, len(self._tasks))
        _, pending = await asyncio.wait(self._tasks, timeout=grace)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)
        return len(pending)

    async def _dispatch(self) -> None:
        while True:
            self._wake.clear()
            try:
                items = await self._due()
            except OutboxError:  # logged by the outbox, once per change of state
                items = []
            now = time.monotonic()
            items = [i for i in items if self._held.get(self._queue(i), 0.0) <= now]
            if self._stopping and (not self._drain or now > self._deadline or not (items or self._tasks)):
                return
            for item in items:
                queue = self._queue(item)
                if queue in self._busy or len(self._tasks) >= self._limit:
                    continue
                self._busy.add(queue)
                task = asyncio.create_task(self._one(item, queue), name=f"{self._name}-{queue}")
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), POLL_SECONDS)
            if self._coalesce and not self._freed:  # woken by arrivals: let the burst land, then list it once
                await asyncio.sleep(self._coalesce)
            self._freed = False

    async def _one(self, item: T, queue: Hashable) -> None:
        try:
            await self._run(item)
            self._held.pop(queue, None)
        except OutboxError:  # logged by the outbox; not the item's fault
            self._hold(queue)
        finally:
            self._busy.discard(queue)
            self._freed = True
            self._wake.set()
