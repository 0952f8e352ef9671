"""Shared helpers: fixture trees copied into a temp dir (tests may change them) and a wired exporter."""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from exporter import config
from exporter.sampler import Sampler
from tests.support.net import free_port, wait_until_ok
from tests.support.readers import FIXTURES, cgroup_reader, host_reader


@pytest.fixture(autouse=True)
def _root_logging_restored() -> Iterator[None]:
    """A test that runs a command line in-process (`cli.main`) leaves its stderr handler on the root logger, writing to
    pytest's capture after it closed: every later test's log line became a "--- Logging error ---" traceback."""
    root = logging.getLogger()
    before, level = set(root.handlers), root.level
    yield
    for handler in root.handlers[:]:  # pytest's own capture handlers are subclasses, added and removed by pytest
        if handler not in before and type(handler) is logging.StreamHandler:
            root.removeHandler(handler)
    root.setLevel(level)


class Clock:
    """Simulated time: tests advance it explicitly so accrued money is exact."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A private copy of tests/fixtures, symlinks kept, so a test can change usage between samples."""
    dest = tmp_path / "fx"
    shutil.copytree(FIXTURES, dest, symlinks=True)
    return dest


SamplerFactory = Callable[..., Sampler]


@pytest.fixture
def make_sampler(tree: Path, tmp_path: Path) -> SamplerFactory:
    def make(
        layout: str = "cgroupv2",
        clock: Clock | None = None,
        table: config.PricingTable | None = None,
        state_file: Path | None = None,
    ) -> Sampler:
        return Sampler(
            table or config.load(None),
            [host_reader(tree), cgroup_reader(tree, layout)],
            state_file or tmp_path / "state.json",
            clock=clock or Clock(1_795_000_000.0),
        )

    return make


@contextmanager
def receiver_process(
    data_dir: Path, extra: str = "", log: Path | None = None
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """The real `python -m receiver` on a free loopback port, with its outbox under `data_dir`; `extra` is more
    receiver.yml (default: no Prometheus, Ollama or console output, so the process works alone); JSON logs to `log`."""
    port = free_port()
    config = data_dir.parent / f"receiver-{port}.yml"
    config.write_text(
        f"listen: {{host: 127.0.0.1, port: {port}}}\ndata_dir: {data_dir}\ndigest: {{daily: {{enabled: false}}}}\n"
        + (extra or f"ollama: {{enabled: false}}\nchannels: [{{type: file, path: {data_dir.parent / 'sent.jsonl'}}}]\n")
    )
    stderr = log.open("ab") if log else subprocess.DEVNULL
    proc = subprocess.Popen(
        [sys.executable, "-m", "receiver", "--config", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=stderr,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ok(f"{url}/-/ready", proc)
        yield url, proc
    finally:
        if proc.poll() is None:
            proc.terminate()
        proc.wait(timeout=10)
        if not isinstance(stderr, int):
            stderr.close()
