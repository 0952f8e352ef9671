"""The exporter against hostile or unlucky conditions (issue 15): a cgroup named with bytes that are not UTF-8 is
escaped, a failing beat is counted and turns health red instead of freezing the numbers silently, and thousands of
idle connections cost no thread each while a scrape still answers."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from exporter.http import BoundedServer, serve
from exporter.sampler import Heartbeat
from tests.exporter.test_scrape import get
from tests.support.net import free_port, wait_until_ok

SLICE = "cgroupv2/sys/fs/cgroup/system.slice"


def bad_service(tree: Path) -> None:
    """`bad\\xff.service`: a unit name with a byte that is not UTF-8, as a hostile or broken unit file can make."""
    source = tree / SLICE / "nginx.service"
    shutil.copytree(source, tree / SLICE / os.fsdecode(b"bad\xff.service"))


@contextlib.contextmanager
def exporter_running(tree: Path, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    cmd = [sys.executable, "-m", "exporter", f"--web.listen-address=127.0.0.1:{port}",
           f"--path.procfs={tree / 'proc'}", f"--path.cgroupfs={tree / 'cgroupv2/sys/fs/cgroup'}",
           f"--path.rootfs={tree}", f"--path.docker-root={tree / 'docker'}",
           f"--path.podman-root={tree / 'containers/storage'}", f"--storage.state-file={tmp_path / 'state.json'}",
           "--sample.interval=200ms", "--log.format=json"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_ok(base + "/-/healthy", proc)
        yield base
    finally:
        proc.terminate()
        proc.communicate(timeout=10)


def sample_time(base: str) -> float:
    families = text_string_to_metric_families(get(base + "/metrics")[1])
    return next(f for f in families if f.name == "costwarden_exporter_last_sample_timestamp_seconds").samples[0].value


def test_an_undecodable_cgroup_name_at_start_is_escaped(tree: Path, tmp_path: Path) -> None:
    """It used to end the exporter at start with a traceback (the exposition's strict UTF-8 encode)."""
    bad_service(tree)
    with exporter_running(tree, tmp_path) as base:
        status, body = get(base + "/metrics")
    assert status == 200 and 'cgroup="bad\\\\udcff.service"' in body
    names = {s.labels.get("cgroup") for f in text_string_to_metric_families(body) for s in f.samples}
    assert "bad\\udcff.service" in names and "nginx.service" in names  # valid exposition, both still there


def test_an_undecodable_cgroup_name_later_keeps_the_sampler_alive(tree: Path, tmp_path: Path) -> None:
    """Created after start, it used to kill the sampler thread while health and collector_success stayed green."""
    with exporter_running(tree, tmp_path) as base:
        bad_service(tree)
        before = sample_time(base)
        time.sleep(1.5)
        assert sample_time(base) > before and get(base + "/-/healthy")[0] == 200
        assert "costwarden_exporter_beat_failures_total 0.0" in get(base + "/metrics")[1]
        assert 'cgroup="bad\\\\udcff.service"' in get(base + "/metrics")[1]


def test_a_failing_beat_is_counted_and_health_says_so() -> None:
    now = [0.0]
    heart = Heartbeat(5.0, clock=lambda: now[0])

    def broken() -> None:
        raise UnicodeEncodeError("utf-8", "bad\udcff", 3, 4, "surrogates not allowed")

    heart.run(lambda: None)
    assert heart.problem() is None
    for _ in range(6):
        now[0] += 5
        heart.run(broken)
    problem = heart.problem()
    assert heart.failures == 6 and problem is not None
    assert "no sampling beat has completed for 30 s (6 failed; last: UnicodeEncodeError" in problem
    heart.run(lambda: None)
    assert heart.problem() is None


def hello(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "3")])
    return [b"hi\n"]


def test_idle_connections_cost_no_thread_and_expire() -> None:
    """One thread per connection and no timeout: 4,063 idle connections made 3,763 threads and starved a scrape."""
    port = free_port()
    server, _ = serve("127.0.0.1", port, hello)
    assert isinstance(server, BoundedServer)
    try:
        threads = threading.active_count()
        idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(1000)]
        half = [socket.create_connection(("127.0.0.1", port)) for _ in range(8)]
        for conn in half:  # a request line started and never finished: holds a worker for the read timeout only
            conn.sendall(b"GET / HTTP/1.1\r\n")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as resp:
            assert resp.read() == b"hi\n"
        assert threading.active_count() - threads <= BoundedServer.workers
        endless = socket.create_connection(("127.0.0.1", port))
        endless.sendall(b"GET / HTTP/1.1\r\n" + b"X-Pad: " + b"a" * BoundedServer.max_head)  # never ends its head
        endless.settimeout(5)
        assert endless.recv(100).startswith(b"HTTP/1.0 431 ")  # answered by the selector thread, no worker taken
        endless.close()
        half[0].sendall(b"Host: x\r\n\r\n")  # a head sent in pieces is answered once complete
        half[0].settimeout(5)
        answer = b""
        while chunk := half[0].recv(4096):  # the server closes after one response
            answer += chunk
        assert answer.startswith(b"HTTP/1.0 200 OK") and answer.endswith(b"\r\n\r\nhi\n")
        server.idle_seconds = 0.5  # type: ignore[attr-defined]
        time.sleep(1.5)
        idle[0].settimeout(2)
        assert idle[0].recv(1) == b""  # closed by the server, not held forever
        for conn in idle + half:
            conn.close()
    finally:
        server.shutdown()
        server.server_close()
