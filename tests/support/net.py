"""Loopback helpers shared by the benchmarks and the tests that start real servers."""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.request
from typing import Any

from aiohttp import web


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (the OS picks it; a tiny race with other starters is accepted)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until_ok(url: str, proc: subprocess.Popen[Any], seconds: float = 30, hint: str = "") -> None:
    """Poll `url` until it answers 200; fail at once if `proc` died, or after `seconds`, saying where to look."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 - loopback URLs built by our callers
                if resp.status == 200:
                    return
        except OSError:
            pass
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode} before {url} answered {hint}".rstrip())
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not answer within {seconds:g} s {hint}".rstrip())
        time.sleep(0.1)


async def serve_app(app: web.Application) -> tuple[web.AppRunner, str]:
    """Serve an aiohttp app on a free loopback port in this loop; returns the runner (to clean up) and its base URL."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, f"http://127.0.0.1:{port}"
