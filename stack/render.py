"""Render the repository's configs for one deployment: the loopback `make run` or the docker compose stack.

The committed files (`prometheus/prometheus.yml`, `alertmanager/alertmanager.yml`) carry the `make run` addresses;
a deployment is a map from those addresses to its own, so both run the same configuration and cannot drift.

    python -m stack render --target compose --out /etc/costwarden     (the compose `config` service runs this)
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PORTS = {"exporter": 9877, "prometheus": 9090, "alertmanager": 9093, "receiver": 9095}
COMPOSE = {
    # The exporter runs in the host's network namespace (to count the host's egress), reached through the gateway.
    "exporter": "host.docker.internal:9877",
    "prometheus": "prometheus:9090",
    "alertmanager": "alertmanager:9093",
    "receiver": "receiver:9095",
}


COMPOSE_RULES = "/etc/prometheus/rules"
"""Where the compose Prometheus finds `rules/` (a read-only bind mount of the repository's)."""


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


def compose_receiver(env: dict[str, str]) -> str:
    """receiver.yml for compose from the environment (.env): Prometheus and Ollama by service name, the console and
    an audit file always, Telegram when a chat id is set (its token comes from the environment, never this file)."""
    import yaml  # here, not at the top: `costwarden install` runs on the system python, stdlib only

    channels: list[dict[str, object]] = [
        {"type": "console"},
        {"type": "file", "name": "audit", "path": "/var/lib/costwarden/sent.jsonl"},
    ]
    if env.get("TELEGRAM_CHAT_ID"):
        channels.append({"type": "telegram", "chat_id": env["TELEGRAM_CHAT_ID"], "bot_token": "from-environment"})
    config = {
        "listen": {"host": "0.0.0.0", "port": 9095},  # noqa: S104 - inside the compose network only
        "data_dir": "/var/lib/costwarden",
        "prometheus": {"url": "http://prometheus:9090"},
        "ollama": {
            "host": env.get("OLLAMA_HOST") or "http://ollama:11434",
            "model": env.get("OLLAMA_MODEL") or "llama3.2:3b",
            "language": env.get("REPORT_LANGUAGE") or "en",
        },
        "grafana_url": env.get("GRAFANA_URL") or "http://127.0.0.1:3000",
        "channels": channels,
        # The exporter runs on the host network; the token reaches the receiver as COSTWARDEN_RECEIVER_ACTIONS_TOKEN.
        **({"actions": {"url": "http://host.docker.internal:9877"}} if env.get("COSTWARDEN_ACTIONS_TOKEN") else {}),
        "digest": {
            "daily": {"at": env.get("DIGEST_DAILY_AT") or "09:00"},
            "timezone": env.get("DIGEST_TIMEZONE") or env.get("COSTWARDEN_BILLING_TIMEZONE") or "UTC",
        },
    }
    return yaml.safe_dump(config, sort_keys=False)


def compose_pricing(env: dict[str, str]) -> str:
    import yaml  # see compose_receiver

    config: dict[str, object] = {"provider": env.get("COSTWARDEN_PROVIDER") or "digitalocean",
                                 "plan": env.get("COSTWARDEN_PLAN") or "s-1vcpu-1gb"}  # fmt: skip
    if env.get("COSTWARDEN_BUDGET_MONTHLY"):
        config["budget"] = {"monthly": float(env["COSTWARDEN_BUDGET_MONTHLY"])}
    if env.get("COSTWARDEN_BILLING_TIMEZONE"):
        config["billing"] = {"timezone": env["COSTWARDEN_BILLING_TIMEZONE"]}
    if env.get("COSTWARDEN_PROVIDER_API", "").lower() in ("true", "1", "yes"):
        config["provider_api"] = {"enabled": True}
    return yaml.safe_dump(config, sort_keys=False)


COMPOSE_TOKEN_DIR = "/etc/costwarden-intake"  # noqa: S105 - a directory
"""The intake token's own volume, mounted by the config service, the receiver and Alertmanager only."""


def compose(out: Path, env: dict[str, str] | None = None, token_dir: Path | None = None) -> list[Path]:
    """Everything the compose services read, written into `out` (a volume shared with them), and the intake token
    into `token_dir` (its own volume; default `out`)."""
    env = dict(os.environ) if env is None else env
    out.mkdir(parents=True, exist_ok=True)
    token_dir = token_dir or out
    token_dir.mkdir(parents=True, exist_ok=True)
    # Read by the receiver (COSTWARDEN_RECEIVER_BEARER_TOKEN_FILE) and Alertmanager, which run as different users.
    intake_token(token_dir, 0o644)
    files = {
        "prometheus.yml": prometheus(COMPOSE, COMPOSE_RULES),
        "alertmanager.yml": alertmanager(COMPOSE, f"{COMPOSE_TOKEN_DIR}/{INTAKE_TOKEN}"),
        "receiver.yml": compose_receiver(env),
        "pricing.yml": compose_pricing(env),
    }
    for name, text in files.items():
        (out / name).write_text(text)
    return [out / name for name in files]
