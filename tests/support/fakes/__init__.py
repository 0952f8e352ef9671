"""Local servers speaking the real protocols of peers that cannot run here (Ollama, chat services)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

from aiohttp import web

from tests.support.net import free_port, serve_app


@contextmanager
def serve_in_thread(app: web.Application) -> Iterator[str]:
    """Serve a fake from its own thread and loop, for tests that drive a separate process or a synchronous CLI."""
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app, access_log=None)
    port = free_port()
    loop.run_until_complete(runner.setup())
    loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", port).start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


@asynccontextmanager
async def served(app: web.Application) -> AsyncIterator[str]:
    """Serve a fake in the test's own loop, for tests that drive the app in that loop too; yields its base URL."""
    runner, url = await serve_app(app)
    try:
        yield url
    finally:
        await runner.cleanup()
