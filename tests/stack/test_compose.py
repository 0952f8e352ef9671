"""docker-compose.yml, checked without starting it: the wiring between services, the files it mounts, the settings
it reads and how each is checked, and the configs the `config` service and each service's `start` render, checked by
promtool, amtool and our own validators; the file itself by Debian's docker-compose, whose `config` command needs no
engine. `docker compose up` for real is tests/stack/test_compose_up.py (`make test-compose`)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from exporter import config as pricing
from receiver.settings import Settings
from receiver.settings import load as load_receiver
from stack import compose, render
from stack.systemd import INSTALL_PORTS, Layout, units

ROOT = Path(__file__).parents[2]
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]
ONE_SHOT = {"config", "ollama-pull"}
OWN_SECRETS = {"exporter": {"COSTWARDEN_PROVIDER_TOKEN"},
               # It checks them (set, well-formed) and writes neither.
               "config": {"COSTWARDEN_PROVIDER_TOKEN", "COSTWARDEN_RECEIVER_TELEGRAM_BOT_TOKEN",
                          "COSTWARDEN_RECEIVER_HEARTBEAT_URL"},
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
    config = dict(full["config"]["environment"])
    assert config.pop("COSTWARDEN_LANGUAGE") == ENV_EXAMPLE["REPORT_LANGUAGE"]  # the user's language, for its errors
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


def test_every_service_keeps_bounded_logs() -> None:
    """Docker's default json-file driver never rotates: a service that logs every alert, or a Prometheus repeating
    one error, fills a small VPS's disk over months (found trying it: nothing set a limit). Each service keeps at most
    three files of 10 MB, which `docker compose logs` still reads."""
    for name, service in SERVICES.items():
        logging = service.get("logging", {})
        assert logging.get("driver") == "json-file", name
        assert logging.get("options") == {"max-size": "10m", "max-file": "3"}, name


def test_prometheus_keeps_the_same_history_as_make_run_and_the_systemd_install() -> None:
    """Compose kept 40 days and no size limit while make run and the install kept 35, too few for `feedback export`
    (30 days of pages, each with the 8 days before it; found in review): one retention everywhere,
    capped in size so that many containers cannot fill the disk (the make run and install tests start Prometheus with
    it, which refuses a malformed flag)."""
    assert set(render.RETENTION) <= set(SERVICES["prometheus"]["command"])
    assert any(f.startswith("--storage.tsdb.retention.size=") for f in render.RETENTION)
    unit = units(Layout(), INSTALL_PORTS)["costwarden-prometheus.service"]
    assert all(flag in unit for flag in render.RETENTION)


def test_published_on_loopback_only_by_default() -> None:
    published = {n: s["ports"] for n, s in SERVICES.items() if "ports" in s}
    assert published == {"prometheus": ["${PROMETHEUS_PORT:-127.0.0.1:9090}:9090"],
                         "alertmanager": ["${ALERTMANAGER_PORT:-127.0.0.1:9093}:9093"],
                         "grafana": ["${GRAFANA_PORT:-127.0.0.1:3000}:3000"]}  # fmt: skip
    for name in ("PROMETHEUS_PORT", "ALERTMANAGER_PORT", "GRAFANA_PORT"):
        assert ENV_EXAMPLE[name].startswith("127.0.0.1:"), name
    assert SERVICES["grafana"]["environment"]["GF_AUTH_ANONYMOUS_ENABLED"] == "false"
    # Nothing on the host's network: the firewall (UFW's default policy drops bridge → host) never stands between
    # the services, and the exporter is on no public address.
    assert not any(s.get("network_mode") == "host" or "extra_hosts" in s for s in SERVICES.values())
    assert SERVICES["config"]["network_mode"] == "none"  # it checks .env and writes files, nothing more
    assert not any("host.docker.internal" in str(s) for s in SERVICES.values())
    # The external URLs that links in messages carry: what a tunnel reaches, not a container id.
    assert "--web.external-url=${PROMETHEUS_URL:-http://127.0.0.1:9090}" in SERVICES["prometheus"]["command"]
    assert "--web.external-url=${ALERTMANAGER_URL:-http://127.0.0.1:9093}" in SERVICES["alertmanager"]["command"]


def test_the_exporter_sees_the_host_read_only_with_one_capability() -> None:
    exporter = SERVICES["exporter"]
    assert exporter["pid"] == "host" and exporter["read_only"] is True and exporter["cap_drop"] == ["ALL"]
    # Not DAC_READ_SEARCH: with a writable mount on the host's file system it opens any file for writing by handle
    # (open_by_handle_at, the "shocker" escape); Docker's container configs are root's, read as their owner.
    assert exporter["cap_add"] == ["SYS_PTRACE"]
    # Its state volume is made root's by the config service (the exporter has no CAP_DAC_OVERRIDE; earlier versions
    # left the volume owned by the image's user), under the file name earlier versions wrote.
    assert "exporter:/var/lib/costwarden-exporter" in SERVICES["config"]["volumes"]
    assert "--exporter-state" in SERVICES["config"]["command"]
    assert "--storage.state-file=/var/lib/costwarden-exporter/exporter-state.json" in exporter["command"]
    assert "no-new-privileges:true" in exporter["security_opt"]
    # Plain read-only binds: `rslave` needs a shared or slave / on the host, which many are not.
    assert all(v.endswith(":ro") for v in exporter["volumes"] if v.startswith("/"))


def test_ollama_is_opt_in_and_the_limits_fit_a_small_vps() -> None:
    assert ENV_EXAMPLE["COMPOSE_PROFILES"] == ""
    units = {"m": 1, "g": 1024}
    limits = {n: int(s["mem_limit"][:-1]) * units[s["mem_limit"][-1]] for n, s in SERVICES.items() if "mem_limit" in s}
    without_ollama = sum(v for n, v in limits.items() if n != "ollama")
    assert without_ollama <= 1024, limits
    header = (ROOT / "docker-compose.yml").read_text().split("\n\n")[0]
    assert f"add up to {without_ollama} MiB" in header


def test_mounted_files_exist_and_variables_are_documented() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    for source in re.findall(r"- (\./[\w./-]+):", text):
        assert (ROOT / source).exists(), source
    for variable in set(re.findall(r"\$\{(\w+)", text)):
        assert variable in ENV_EXAMPLE, variable
    for variable in compose.VARIABLES:
        assert variable in ENV_EXAMPLE, variable
        assert variable in SERVICES["config"]["environment"], f"the config service checks {variable}"
    for service, names in compose.READS.items():
        assert set(names) <= set(SERVICES[service]["environment"]), service
    for source in re.findall(r"^COPY (?!--)(\S+) ", (ROOT / "Dockerfile").read_text(), re.M):
        assert (ROOT / source).exists(), source


def test_rendered_configs_are_valid_and_wired_to_the_services(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = {k: v for k, v in ENV_EXAMPLE.items() if v} | {
        "TELEGRAM_CHAT_ID": "-100123",
        "COSTWARDEN_RECEIVER_TELEGRAM_BOT_TOKEN": "1:" + "a" * 35,
    }
    compose.render_shared(tmp_path, env)
    prometheus = yaml.safe_load((tmp_path / "prometheus.yml").read_text())
    targets = {job["job_name"]: job["static_configs"][0]["targets"][0] for job in prometheus["scrape_configs"]}
    assert targets["costwarden-exporter"] == "exporter:9877" and targets["costwarden-receiver"] == "receiver:9095"
    assert prometheus["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == ["alertmanager:9093"]
    assert prometheus["rule_files"] == [f"{compose.RULES}/recording/*.yml", f"{compose.RULES}/alerting/*.yml"]
    assert f"./rules:{compose.RULES}:ro" in SERVICES["prometheus"]["volumes"]
    alertmanager = yaml.safe_load((tmp_path / "alertmanager.yml").read_text())
    webhook = alertmanager["receivers"][0]["webhook_configs"][0]
    assert webhook["url"] == "http://receiver:9095/alerts"
    # Alertmanager authenticates to the receiver with the token the config service made, readable by both users.
    assert webhook["http_config"]["authorization"]["credentials_file"] == "/etc/costwarden-intake/receiver-token"
    token = (tmp_path / "receiver-token").read_text().strip()
    assert len(token) >= 32 and (tmp_path / "receiver-token").stat().st_mode & 0o777 == 0o644
    compose.render_shared(tmp_path, env)
    assert (tmp_path / "receiver-token").read_text().strip() == token  # kept across re-renders
    checked = subprocess.run(["promtool", "check", "config", "--syntax-only", str(tmp_path / "prometheus.yml")],
                             capture_output=True, text=True)  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr
    checked = subprocess.run(
        ["amtool", "check-config", str(tmp_path / "alertmanager.yml")], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # Each service renders its own config at start, from the variables compose gives it.
    receiver_env = {k: v for k, v in env.items() if k in compose.READS["receiver"]}
    path = compose.start("receiver", [], receiver_env, tmp_path / "run")
    monkeypatch.setenv("COSTWARDEN_RECEIVER_BEARER_TOKEN_FILE", str(tmp_path / "receiver-token"))
    monkeypatch.setenv("COSTWARDEN_RECEIVER_TELEGRAM_BOT_TOKEN", env["COSTWARDEN_RECEIVER_TELEGRAM_BOT_TOKEN"])
    receiver = load_receiver(path)
    assert receiver.auth.bearer_token == token and receiver.listen.host == "0.0.0.0"  # noqa: S104
    assert receiver.listen.port == 9095 and receiver.prometheus.url == "http://prometheus:9090"
    assert [c.type for c in receiver.channels] == ["console", "file", "telegram"]
    assert "a" * 35 not in path.read_text()  # the token stays in the environment
    assert (
        receiver.digest.timezone == ENV_EXAMPLE["COSTWARDEN_BILLING_TIMEZONE"]
        and str(receiver.digest.daily.at) == "09:00:00"
    )
    assert receiver.actions.url is None  # no token, no actions
    exporter_env = {k: v for k, v in env.items() if k in compose.READS["exporter"]}
    table = pricing.load(compose.start("exporter", [], exporter_env, tmp_path / "run"))
    assert (table.provider, table.plan) == ("digitalocean", "s-1vcpu-1gb") and not table.provider_api.enabled
    api = {"COSTWARDEN_PROVIDER_API": "true", "COSTWARDEN_PROVIDER_TOKEN": "p", "COSTWARDEN_ACTIONS_TOKEN": "a" * 24}
    monkeypatch.setenv("COSTWARDEN_RECEIVER_ACTIONS_TOKEN", "a" * 24)  # as compose passes it
    assert load_receiver(compose.start("receiver", [], receiver_env | api, tmp_path / "api")).actions.url == (
        "http://exporter:9877"
    )
    assert pricing.load(compose.start("exporter", [], exporter_env | api, tmp_path / "api")).provider_api.enabled
    assert SERVICES["exporter"]["environment"]["COSTWARDEN_ACTIONS_TOKEN"] == "${COSTWARDEN_ACTIONS_TOKEN:-}"
    assert SERVICES["receiver"]["environment"]["COSTWARDEN_RECEIVER_ACTIONS_TOKEN"] == "${COSTWARDEN_ACTIONS_TOKEN:-}"


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        ("COSTWARDEN_BUDGET_MONTHLY", "10 EUR", "expected a number in the plan's currency"),
        ("COSTWARDEN_BUDGET_MONTHLY", "-5", "expected a positive number"),
        ("COSTWARDEN_PROVIDER", "hetzner-cloud", "expected one of digitalocean, hetzner"),
        ("COSTWARDEN_PLAN", "s-1vcpu-1g", "did you mean s-1vcpu-1gb or "),  # the names joined with "or"
        ("COSTWARDEN_BILLING_TIMEZONE", "CET+1", "not an IANA time zone"),
        ("COSTWARDEN_PROVIDER_API", "enabled", "expected true or false"),
        ("DIGEST_DAILY_AT", "9am", "expected a time of day as HH:MM"),
        ("REPORT_LANGUAGE", "cn", "expected en or zh"),
        ("TELEGRAM_CHAT_ID", "my-chat", "expected a chat id"),
        ("OLLAMA_HOST", "ollama:11434", "expected an http:// or https:// URL"),
        ("COSTWARDEN_ACTIONS_TOKEN", "short", "expected a long random string"),
        ("COSTWARDEN_RECEIVER_HEARTBEAT_URL", "hc-ping.com/abc", "expected an http:// or https:// URL"),
        ("DIGEST_DAILY_AT", "٠٩:٣٠", "expected a time of day as HH:MM"),  # digits, but not ones the receiver reads
        ("COSTWARDEN_PROVIDER_SERVER", "my server", "expected the server's name"),
        ("COSTWARDEN_PLAN_PRICE_MONTHLY", "nan", "expected the plan's monthly price"),  # float() takes it
        ("COSTWARDEN_PLAN_PRICE_MONTHLY", "0", "expected a positive number"),
        ("COSTWARDEN_PLAN_PRICE_MONTHLY", "60 CNY", "expected the plan's monthly price"),
        ("COSTWARDEN_EGRESS_INCLUDED_GIB", "-1", "or unlimited"),
        ("COSTWARDEN_EGRESS_INCLUDED_GIB", "lots", "or unlimited"),
    ],
)
def test_each_bad_variable_gets_one_line_naming_it(variable: str, value: str, says: str) -> None:
    with pytest.raises(compose.EnvError) as raised:
        compose.check({variable: value})
    (line,) = raised.value.lines
    shown = "(hidden)" if variable in compose.SECRET else repr(value)
    assert line.startswith(f".env: {variable}={shown}: ") and says in line


def test_a_chinese_env_is_refused_in_chinese(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Found in a new-user trial: with REPORT_LANGUAGE=zh in .env the services' own refusals were English, since
    compose passed no COSTWARDEN_LANGUAGE to the containers that check .env and say the errors."""
    services = resolved(tmp_path / "zh", REPORT_LANGUAGE="zh", COSTWARDEN_BUDGET_MONTHLY="10 EUR")["services"]
    for name in ("config", "exporter", "receiver"):
        assert services[name]["environment"]["COSTWARDEN_LANGUAGE"] == "zh", name
    env = services["config"]["environment"]
    monkeypatch.setenv("COSTWARDEN_LANGUAGE", env["COSTWARDEN_LANGUAGE"])
    with pytest.raises(compose.EnvError) as raised:
        compose.check(env)
    (line,) = raised.value.lines
    assert line.startswith(".env: COSTWARDEN_BUDGET_MONTHLY='10 EUR': 应为套餐货币的金额"), line


def test_a_price_too_low_for_the_plan_is_the_prices_fault() -> None:
    """Review finding: a Lighthouse plan at 7 CNY (less than its own disk) was blamed on COSTWARDEN_PLAN."""
    with pytest.raises(compose.EnvError) as raised:
        compose.check({"COSTWARDEN_PROVIDER": "lighthouse", "COSTWARDEN_PLAN": "general-2c2g-50g",
                       "COSTWARDEN_PLAN_PRICE_MONTHLY": "7"})  # fmt: skip
    (line,) = raised.value.lines
    assert line.startswith(".env: COSTWARDEN_PLAN_PRICE_MONTHLY: ") and "disk_per_gib_month" in line


def test_a_provider_needs_its_plan() -> None:
    """Review finding: a provider without a plan passed the check, then the exporter refused DigitalOcean's default
    plan for it and restarted forever."""
    with pytest.raises(compose.EnvError) as raised:
        compose.check({"COSTWARDEN_PROVIDER": "hetzner"})
    assert raised.value.lines == [".env: COSTWARDEN_PLAN is empty: COSTWARDEN_PROVIDER=hetzner needs one of its "
                                  "plans: cax11, cpx11, cpx21, cx22, cx32, cx42"]  # fmt: skip


def test_chinese_robots_are_channels_when_their_urls_are_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 20: WeCom, DingTalk and Feishu from .env, as Telegram; their URLs and secrets stay in the environment."""
    robots = {"COSTWARDEN_RECEIVER_WECOM_WEBHOOK_URL": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k1",
              "COSTWARDEN_RECEIVER_DINGTALK_WEBHOOK_URL": "https://oapi.dingtalk.com/robot/send?access_token=t2",
              "COSTWARDEN_RECEIVER_DINGTALK_SECRET": "SECabc",
              "COSTWARDEN_RECEIVER_FEISHU_WEBHOOK_URL": "https://open.feishu.cn/open-apis/bot/v2/hook/h3"}  # fmt: skip
    assert set(robots) <= set(compose.READS["receiver"]) and set(robots) <= compose.SECRET
    for name, value in robots.items():
        monkeypatch.setenv(name, value)
    env = {"REPORT_LANGUAGE": "zh", **robots}
    path = compose.start("receiver", [], compose.check(env, compose.READS["receiver"]), tmp_path)
    monkeypatch.setenv("COSTWARDEN_RECEIVER_BEARER_TOKEN", "t" * 32)
    receiver = load_receiver(path)
    assert [c.type for c in receiver.channels] == ["console", "file", "wecom", "dingtalk", "feishu"]
    assert receiver.ollama.language == "zh"
    assert not any(v in path.read_text() for v in robots.values())
    with pytest.raises(compose.EnvError) as raised:
        compose.check({"COSTWARDEN_RECEIVER_FEISHU_WEBHOOK_URL": "open.feishu.cn/open-apis/bot/v2/hook/h3"})
    assert raised.value.lines == [".env: COSTWARDEN_RECEIVER_FEISHU_WEBHOOK_URL=(hidden): expected an http:// or "
                                  "https:// URL"]  # fmt: skip


def test_plain_meanings_are_accepted_and_secrets_never_shown() -> None:
    values = compose.check({"COSTWARDEN_PROVIDER": "Hetzner", "COSTWARDEN_PLAN": "CX22", "DIGEST_DAILY_AT": "9:00",
                            "COSTWARDEN_PROVIDER_API": "yes", "COSTWARDEN_PROVIDER_TOKEN": "secret-token"})  # fmt: skip
    assert (values["COSTWARDEN_PROVIDER"], values["COSTWARDEN_PLAN"]) == ("hetzner", "cx22")
    assert values["DIGEST_DAILY_AT"] == "09:00" and values["COSTWARDEN_PROVIDER_API"] == "true"
    with pytest.raises(compose.EnvError) as raised:
        compose.check({"COSTWARDEN_RECEIVER_TELEGRAM_BOT_TOKEN": "123:leaked", "COSTWARDEN_PROVIDER_API": "true"})
    assert "leaked" not in str(raised.value) and "(hidden)" in str(raised.value)
    assert "COSTWARDEN_PROVIDER_API=true needs COSTWARDEN_PROVIDER_TOKEN" in str(raised.value)


def test_fleet_examples_are_valid_prometheus_configs(tmp_path: Path) -> None:
    for name in ("agent.yml", "central-prometheus.yml"):
        path = ROOT / "docs" / "examples" / "fleet" / name
        args = ["promtool", "check", "config", "--syntax-only", str(path)]
        if name == "agent.yml":
            args.insert(3, "--agent")
        checked = subprocess.run(args, capture_output=True, text=True)
        assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_image_has_what_the_stack_runs_and_a_small_build_context() -> None:
    """Issue 18, item 8: no .dockerignore (.venv, data/ and .git went into the build context), and the image lacked
    boto3, so the AWS provider API restarted in a loop."""
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", "data", ".env", ".env.*", "*.bak"} <= set(ignored)  # .env's secrets, init's copies
    assert "pip wheel --no-cache-dir --wheel-dir /wheels '.[aws]'" in (ROOT / "Dockerfile").read_text()


def test_tencent_lighthouse_billing_needs_its_key_pair_and_gets_its_region(tmp_path: Path) -> None:
    env = {
        "COSTWARDEN_PROVIDER": "lighthouse",
        "COSTWARDEN_PLAN": "general-2c2g-40g",
        "COSTWARDEN_PROVIDER_API": "true",
    }
    with pytest.raises(compose.EnvError, match="TENCENTCLOUD_SECRET_ID and TENCENTCLOUD_SECRET_KEY"):
        compose.check(env)
    keys = {"TENCENTCLOUD_SECRET_ID": "AKID" + "x" * 32, "TENCENTCLOUD_SECRET_KEY": "k" * 32}
    values = compose.check({**env, **keys, "COSTWARDEN_PROVIDER_REGION": "ap-guangzhou",
                            "COSTWARDEN_PROVIDER_SERVER": "lhins-abcd1234"})  # fmt: skip
    pricing = yaml.safe_load(compose.pricing_config(values))
    assert pricing["region"] == "ap-guangzhou"
    assert pricing["provider_api"] == {"enabled": True, "server": "lhins-abcd1234"}
    assert set(keys) <= set(compose.READS["exporter"]) and set(keys) <= compose.SECRET
    with pytest.raises(compose.EnvError, match=r"TENCENTCLOUD_SECRET_KEY=\(hidden\)"):
        compose.check({**env, **keys, "TENCENTCLOUD_SECRET_KEY": "short"})


def test_message_links_follow_the_env_and_are_left_out_without_it() -> None:
    plain = yaml.safe_load(compose.receiver_config(compose.check({})))
    assert "prometheus_url" not in plain and "alertmanager_url" not in plain  # no loopback default: dead on a phone
    assert "receiver_url" not in plain
    env = {"PROMETHEUS_URL": "https://ops.example.com/prom", "ALERTMANAGER_URL": "https://ops.example.com/am",
           "RECEIVER_URL": "https://ops.example.com/cw"}  # fmt: skip
    linked = yaml.safe_load(compose.receiver_config(compose.check(env)))
    assert (linked["prometheus_url"], linked["alertmanager_url"], linked["receiver_url"]) == tuple(env.values())
    Settings.model_validate(linked)  # receiver_url with the buttons' Alertmanager API: a config the receiver takes
    assert linked["buttons"] == {"alertmanager_api": "http://alertmanager:9093"}  # the API inside the network
