"""Render the repository's configs for one deployment: `make run`, `costwarden install` or the compose stack.

The committed files (`prometheus/prometheus.yml`, `alertmanager/alertmanager.yml`) carry the `make run` addresses;
a deployment is a map from those addresses to its own, so all three run the same configuration and cannot drift.
Standard library only: `costwarden install` runs on the machine's own python3.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PORTS = {"exporter": 9877, "prometheus": 9090, "alertmanager": 9093, "receiver": 9095}
RETENTION = ["--storage.tsdb.retention.time=40d", "--storage.tsdb.retention.size=2GB"]
"""Prometheus' history wherever the stack runs it: a billing month, the rules' week of baselines, and what
`costwarden-receiver feedback export` reads (30 days of pages, each with the 8 days before it); and never more than
2 GB, so that many containers cannot fill a small disk (the oldest days go first; docs/scaling.md)."""


def prometheus(addresses: dict[str, str], rules: str) -> str:
    text = (ROOT / "prometheus" / "prometheus.yml").read_text().replace("../rules/", f"{rules.rstrip('/')}/")
    return _swap(text, addresses)


INTAKE_TOKEN = "receiver-token"  # noqa: S105 - a file name
"""The file (beside the rendered configs) holding the bearer token Alertmanager shows the receiver's /alerts."""


def alertmanager(addresses: dict[str, str], token_file: str | None = None) -> str:
    """With `token_file`, Alertmanager authenticates to the receiver with the bearer token it holds."""
    text = _swap((ROOT / "alertmanager" / "alertmanager.yml").read_text(), addresses)
    if token_file is not None:
        anchor = "        max_alerts: 0\n"
        if text.count(anchor) != 1:
            raise RuntimeError("alertmanager/alertmanager.yml: the receiver's webhook_configs entry must end with "
                               "`max_alerts: 0` (intake auth is added after it)")  # fmt: skip
        auth = f"        http_config:\n          authorization:\n            credentials_file: {token_file}\n"
        text = text.replace(anchor, anchor + auth)
    return text


def intake_token(out: Path, mode: int = 0o600) -> Path:
    """The receiver's intake token, made once and kept (a restart must not lock Alertmanager out)."""
    return secret_file(out / INTAKE_TOKEN, mode)


def secret_file(path: Path, mode: int = 0o600) -> Path:
    """A random token in `path`, made once and kept."""
    if not path.exists() or not path.read_text().strip():
        path.unlink(missing_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # never readable by others, even briefly
        with os.fdopen(fd, "w") as out_file:
            out_file.write(secrets.token_urlsafe(32) + "\n")
    path.chmod(mode)
    return path


def _swap(text: str, addresses: dict[str, str]) -> str:
    for name, port in DEFAULT_PORTS.items():
        text = text.replace(f"127.0.0.1:{port}", addresses[name])
    return text
