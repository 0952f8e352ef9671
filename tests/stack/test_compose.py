"""docker-compose.yml, checked without a Docker engine (none runs here): the wiring between services, the files it
mounts, the settings it reads, and the configs its `config` service renders, checked by promtool, amtool and our
own validators; the file itself by Debian's docker-compose, whose `config` command needs no engine."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from exporter import config as pricing
from receiver.settings import load as load_receiver
from stack import render

ROOT = Path(__file__).parents[2]
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]
ONE_SHOT = {"config", "ollama-pull"}
OWN_SECRETS = {"exporter": {"COSTWARDEN_PROVIDER_TOKEN"},
               "receiver": {"COSTWARDEN_RECEIVER_TELEGRAM_BOT_TOKEN", "COSTWARDEN_RECEIVER_HEARTBEAT_URL"},
               "grafana": {"GRAFANA_ADMIN_PASSWORD"}}  # fmt: skip
ENV_EXAMPLE = {
    m.group(1): m.group(2) for m in re.finditer(r"^([A-Z_]+)=(.*)$", (ROOT / ".env.example").read_text(), re.M)
}


def resolved(project: Path, **changes: str) -> dict[str, Any]:
    """`docker-compose config` on the repository with `.env.example` (and `changes`) as the user's `.env`: the file
    checked against the Compose Specification's schema, variables substituted, as Compose itself reads it."""
    project.mkdir()
    for entry in ROOT.iterdir():
        if not entry.name.startswith("."):
            (project / entry.name).symlink_to(entry)
    (project / ".env").write_text(
        (ROOT / ".env.example").read_text() + "".join(f"{k}={v}\n" for k, v in changes.items())
    )
    done = subprocess.run(["docker-compose", "config"], cwd=project, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    loaded: dict[str, Any] = yaml.safe_load(done.stdout)
    return loaded


def test_the_stack_has_every_part() -> None:
    assert set(SERVICES) == {"config", "exporter", "prometheus", "alertmanager", "receiver", "ollama", "ollama-pull",
                             "grafana"}  # fmt: skip
    assert (
        SERVICES["ollama"]["profiles"] == ["ollama"] == SERVICES["ollama-pull"]["profiles"]
    )  # leave out for small VPS


def test_compose_reads_the_file_and_the_example_env_as_written(tmp_path: Path) -> None:
    full = resolved(tmp_path / "full")["services"]
    assert set(full) == set(SERVICES)
    # .env reaches the services verbatim (no comment taken for a value), and each service only what it needs.
    config = full["config"]["environment"]
    assert config == {k: ENV_EXAMPLE[k] for k in config} and "COSTWARDEN_PLAN" in config
    secrets = {
        "COSTWARDEN_PROVIDER_TOKEN",
        "COSTWARDEN_RECEIVER_TELEGRAM_BOT_TOKEN",
        "GRAFANA_ADMIN_PASSWORD",
        "COSTWARDEN_RECEIVER_HEARTBEAT_URL",
    }
    for name, service in full.items():
        given = set(service.get("environment") or {})
        assert "env_file" not in service, name
        assert not given & (secrets - OWN_SECRETS.get(name, set())), (name, given & secrets)
    token = "/etc/costwarden-intake/receiver-token"
    assert full["receiver"]["environment"]["COSTWARDEN_RECEIVER_BEARER_TOKEN_FILE"] == token
    targets = {
        n: [v["target"] if isinstance(v, dict) else v.split(":")[1] for v in svc.get("volumes") or []]
        for n, svc in full.items()
    }
    holders = {n for n, mounted in targets.items() if "/etc/costwarden-intake" in mounted}
    assert holders == {"config", "receiver", "alertmanager"}  # the token's volume: no one else mounts it
    assert full["grafana"]["ports"] == ["127.0.0.1:3000:3000/tcp"]
    assert full["grafana"]["environment"]["GF_SECURITY_ADMIN_PASSWORD"] == ENV_EXAMPLE["GRAFANA_ADMIN_PASSWORD"]
    # Compose's `config` lists profiled services too (it does not filter), so the profile is checked statically.
    remote = resolved(tmp_path / "remote", COMPOSE_PROFILES="", OLLAMA_HOST="http://10.0.0.5:11434")["services"]
    assert remote["config"]["environment"]["OLLAMA_HOST"] == "http://10.0.0.5:11434"


def test_images_pinned_services_healthy_restarting_and_limited() -> None:
    for name, service in SERVICES.items():
        image = service.get("image", "")
        assert re.fullmatch(r"[\w./-]+:[\w.-]+", image) and not image.endswith(":latest"), name
        if name in ONE_SHOT:
            continue
        assert service.get("restart") == "unless-stopped" or "<<" in service, name
        assert "healthcheck" in service and "mem_limit" in service, name


def test_only_grafana_is_published_and_on_loopback_by_default() -> None:
    assert [n for n, s in SERVICES.items() if "ports" in s] == ["grafana"]
    (port,) = SERVICES["grafana"]["ports"]
    assert port == "${GRAFANA_PORT:-127.0.0.1:3000}:3000" and ENV_EXAMPLE["GRAFANA_PORT"] == "127.0.0.1:3000"
    assert SERVICES["grafana"]["environment"]["GF_AUTH_ANONYMOUS_ENABLED"] == "false"


def test_mounted_files_exist_and_variables_are_documented() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    for source in re.findall(r"- (\./[\w./-]+):", text):
        assert (ROOT / source).exists(), source
    for variable in set(re.findall(r"\$\{(\w+)", text)):
        assert variable in ENV_EXAMPLE, variable
    for variable in set(re.findall(r'env(?:\.get\(|\[)"(\w+)"', (ROOT / "stack" / "render.py").read_text())):
        assert variable in ENV_EXAMPLE, variable
    for source in re.findall(r"^COPY (?!--)(\S+) ", (ROOT / "Dockerfile").read_text(), re.M):
        assert (ROOT / source).exists(), source


def test_rendered_configs_are_valid_and_wired_to_the_services(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = {k: v for k, v in ENV_EXAMPLE.items() if v} | {"TELEGRAM_CHAT_ID": "-100123"}
    render.compose(tmp_path, env)
    prometheus = yaml.safe_load((tmp_path / "prometheus.yml").read_text())
    targets = {job["job_name"]: job["static_configs"][0]["targets"][0] for job in prometheus["scrape_configs"]}
    assert targets["costwarden-exporter"] == "host.docker.internal:9877"
    # On the host network the exporter listens on the Docker bridge, never on the public interface.
    assert (
        SERVICES["exporter"]["network_mode"] == "host"
        and "--web.listen-address=${COSTWARDEN_EXPORTER_LISTEN:-172.17.0.1:9877}" in SERVICES["exporter"]["command"]
    )
    assert ENV_EXAMPLE["COSTWARDEN_EXPORTER_LISTEN"].startswith("172.17.0.1:")  # fmt: skip
    assert "host.docker.internal:host-gateway" in SERVICES["prometheus"]["extra_hosts"]
    assert targets["costwarden-receiver"] == "receiver:9095"
    assert prometheus["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == ["alertmanager:9093"]
    assert prometheus["rule_files"] == [
        f"{render.COMPOSE_RULES}/recording/*.yml",
        f"{render.COMPOSE_RULES}/alerting/*.yml",
    ]
    assert f"./rules:{render.COMPOSE_RULES}:ro" in SERVICES["prometheus"]["volumes"]
    alertmanager = yaml.safe_load((tmp_path / "alertmanager.yml").read_text())
    webhook = alertmanager["receivers"][0]["webhook_configs"][0]
    assert webhook["url"] == "http://receiver:9095/alerts"
    # Alertmanager authenticates to the receiver with the token the config service made, readable by both users.
    assert webhook["http_config"]["authorization"]["credentials_file"] == "/etc/costwarden-intake/receiver-token"
    token = (tmp_path / "receiver-token").read_text().strip()
    assert len(token) >= 32 and (tmp_path / "receiver-token").stat().st_mode & 0o777 == 0o644
    render.compose(tmp_path, env)
    assert (tmp_path / "receiver-token").read_text().strip() == token  # kept across re-renders
    checked = subprocess.run(["promtool", "check", "config", "--syntax-only", str(tmp_path / "prometheus.yml")],
                             capture_output=True, text=True)  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr
    checked = subprocess.run(
        ["amtool", "check-config", str(tmp_path / "alertmanager.yml")], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    monkeypatch.setenv("COSTWARDEN_RECEIVER_BEARER_TOKEN_FILE", str(tmp_path / "receiver-token"))
    receiver = load_receiver(tmp_path / "receiver.yml")
    assert receiver.auth.bearer_token == token and receiver.listen.host == "0.0.0.0"  # noqa: S104
    assert receiver.listen.port == 9095 and receiver.prometheus.url == "http://prometheus:9090"
    assert [c.type for c in receiver.channels] == ["console", "file", "telegram"]
    assert (
        receiver.digest.timezone == ENV_EXAMPLE["COSTWARDEN_BILLING_TIMEZONE"]
        and str(receiver.digest.daily.at) == "09:00:00"
    )
    table = pricing.load(tmp_path / "pricing.yml")
    assert (table.provider, table.plan) == ("digitalocean", "s-1vcpu-1gb") and not table.provider_api.enabled
    assert receiver.actions.url is None  # no token, no actions
    render.compose(tmp_path / "api", env | {"COSTWARDEN_PROVIDER_API": "true", "COSTWARDEN_ACTIONS_TOKEN": "t"})
    monkeypatch.setenv("COSTWARDEN_RECEIVER_ACTIONS_TOKEN", "t")  # as compose passes it
    assert load_receiver(tmp_path / "api" / "receiver.yml").actions.url == "http://host.docker.internal:9877"
    assert SERVICES["exporter"]["environment"]["COSTWARDEN_ACTIONS_TOKEN"] == "${COSTWARDEN_ACTIONS_TOKEN:-}"
    assert SERVICES["receiver"]["environment"]["COSTWARDEN_RECEIVER_ACTIONS_TOKEN"] == "${COSTWARDEN_ACTIONS_TOKEN:-}"
    assert pricing.load(tmp_path / "api" / "pricing.yml").provider_api.enabled


def test_fleet_examples_are_valid_prometheus_configs(tmp_path: Path) -> None:
    for name in ("agent.yml", "central-prometheus.yml"):
        path = ROOT / "docs" / "examples" / "fleet" / name
        args = ["promtool", "check", "config", "--syntax-only", str(path)]
        if name == "agent.yml":
            args.insert(3, "--agent")
        checked = subprocess.run(args, capture_output=True, text=True)
        assert checked.returncode == 0, checked.stdout + checked.stderr
