"""The real Alertmanager (Debian's prometheus-alertmanager) with our config, on loopback."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.net import free_port, wait_until_ok

CONFIG = Path(__file__).parents[2] / "alertmanager" / "alertmanager.yml"


@contextmanager
def running_alertmanager(tmp_path: Path, webhook: str) -> Iterator[str]:
    """The real Alertmanager with our config, its webhook pointed at `webhook`."""
    config = tmp_path / "alertmanager.yml"
    config.write_text(CONFIG.read_text().replace("http://127.0.0.1:9095/alerts", webhook))
    port = free_port()
    with (tmp_path / "alertmanager.log").open("w") as log:
        proc = subprocess.Popen(
            ["prometheus-alertmanager", f"--config.file={config}", f"--storage.path={tmp_path / 'am-data'}",
             f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="],
            stdout=log, stderr=log,
        )  # fmt: skip
        try:
            wait_until_ok(f"http://127.0.0.1:{port}/-/ready", proc, hint=f"(see {tmp_path / 'alertmanager.log'})")
            yield f"http://127.0.0.1:{port}"
        finally:
            proc.terminate()
            proc.wait(timeout=10)
