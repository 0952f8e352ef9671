"""Peers of the receiver on loopback: the real Prometheus serving a known history, and a fake Ollama."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator

import pytest

from tests.support.detection.engine import import_series, serve
from tests.support.fakes import served
from tests.support.fakes.ollama import FakeOllama
from tests.support.history import history
from tests.support.net import free_port


@pytest.fixture(scope="session")
def prometheus_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    workdir = tmp_path_factory.mktemp("prometheus")
    import_series(history(), workdir / "data", workdir)
    with serve(workdir / "data", workdir) as url:
        yield url


@pytest.fixture
async def ollama() -> AsyncIterator[tuple[FakeOllama, str]]:
    fake = FakeOllama()
    async with served(fake.app()) as url:
        yield fake, url


async def until(check: Callable[[], bool], seconds: float = 15) -> None:
    """Wait for `check` to hold, polling every 50 ms; fail the test after `seconds`."""
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


def dead_url() -> str:
    """A loopback URL nobody listens on: connection refused at once."""
    return f"http://127.0.0.1:{free_port()}"
