"""The docker compose stack: `.env` checked variable by variable, and each service's config rendered from it.

    python -m stack render --out /etc/costwarden --token-dir /etc/costwarden-intake      (the one-shot `config`)
    python -m stack start exporter -- costwarden-exporter --config.file=/tmp/costwarden/pricing.yml …
    python -m stack start receiver -- costwarden-receiver --config /tmp/costwarden/receiver.yml

The `config` service checks every variable of `.env` (one line per bad one, naming it and what it accepts) and renders
what does not depend on `.env`: Prometheus' and Alertmanager's configs (from the same files as `make run`) and the
intake token. The exporter and the receiver render their own config from their own environment each time they start,
so that editing `.env` and running `docker compose up -d` again — which recreates exactly the services whose
environment changed — takes effect.
"""

from __future__ import annotations

import difflib
import os
import re
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from costwarden.catalogue import say
from stack import render
from stack.numbers import finite

ADDRESSES = {"exporter": "exporter:9877", "prometheus": "prometheus:9090", "alertmanager": "alertmanager:9093",
             "receiver": "receiver:9095"}  # fmt: skip
"""Every service on the compose network, by name: nothing crosses the host's firewall, nothing listens publicly."""
RULES = "/etc/prometheus/rules"
"""Where the compose Prometheus finds `rules/` (a read-only bind mount of the repository's)."""
TOKEN_DIR = "/etc/costwarden-intake"  # noqa: S105 - a directory
"""The intake token's own volume, mounted by the config service, the receiver and Alertmanager only."""
RENDERED = Path("/tmp/costwarden")  # noqa: S108 - the container's own tmpfs, made 0700 below
"""Where `start` writes a service's config inside its container."""


class Refused(ValueError):
    """A value a check refuses: said in $COSTWARDEN_LANGUAGE's words (compose), or in another language by its key
    (`costwarden init` speaks the language its user chose)."""

    def __init__(self, key: str, suggest: tuple[str, ...] = (), **params: object) -> None:
        self.key, self.suggest, self.params = key, suggest, params
        super().__init__(self.said(None))

    def said(self, language: str | None) -> str:
        """`suggest`: the names it may have meant, joined with the language's own "or"."""
        hint = ""
        if self.suggest:
            names = say("checks", "or", language).join(self.suggest)
            hint = say("checks", "did_you_mean", language, names=names)
        return say("checks", self.key, language, hint=hint, **self.params)


class EnvError(Exception):
    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


def _truthy(value: str, env: Mapping[str, str]) -> str:
    if value.lower() in ("true", "1", "yes", "on"):
        return "true"
    if value.lower() in ("false", "0", "no", "off"):
        return "false"
    raise Refused("truthy")


def _zone(value: str, env: Mapping[str, str]) -> str:
    try:
        ZoneInfo(value)
    except (ValueError, ZoneInfoNotFoundError):
        raise Refused("zone") from None
    return value


def _provider(value: str, env: Mapping[str, str]) -> str:
    from exporter.config import preset_names  # the image's exporter; `costwarden install` never gets here

    providers = preset_names()
    if value.lower() in providers:
        return value.lower()
    raise Refused("provider", known=", ".join(providers))


def _plan(value: str, env: Mapping[str, str]) -> str:
    from exporter.config import preset_names

    provider = (env.get("COSTWARDEN_PROVIDER") or "digitalocean").lower()
    plans = preset_names().get(provider)
    if plans is None:
        return value  # the provider's own line says what is wrong
    by_case = {p.lower(): p for p in plans}
    if value.lower() in by_case:
        return by_case[value.lower()]
    close = difflib.get_close_matches(value.lower(), list(by_case), n=3, cutoff=0.5)
    raise Refused("plan", tuple(by_case[c] for c in close), provider=provider, plans=", ".join(plans))


def _amount(value: str, what: str, zero: bool = False) -> str:
    """A finite number (positive, or with `zero` also 0): `{what}_nan` when it is not a number at all, else
    `{what}_range`."""
    number = finite(value)
    if number is None:
        raise Refused(f"{what}_nan")
    if not (number >= 0 if zero else number > 0):
        raise Refused(f"{what}_range")
    return value


def _budget(value: str, env: Mapping[str, str]) -> str:
    return _amount(value, "budget")


def _price(value: str, env: Mapping[str, str]) -> str:
    return _amount(value, "price")


def _traffic(value: str, env: Mapping[str, str]) -> str:
    if value == "unlimited":
        return value
    return _amount(value, "traffic", zero=True)


def _provider_token(value: str, env: Mapping[str, str]) -> str:
    return value


def _language(value: str, env: Mapping[str, str]) -> str:
    if value not in ("en", "zh"):
        raise Refused("language")
    return value


def _clock(value: str, env: Mapping[str, str]) -> str:
    match = re.fullmatch(r"([0-9]{1,2}):([0-9]{2})", value)
    if not match or int(match[1]) > 23 or int(match[2]) > 59:
        raise Refused("clock")
    return f"{int(match[1]):02d}:{match[2]}"


def http_url(value: str, env: Mapping[str, str]) -> str:
    if not re.fullmatch(r"https?://[^\s/]+(/\S*)?", value):
        raise Refused("url")
    return value.rstrip("/")


Check = Callable[[str, Mapping[str, str]], str]


def _pattern(regex: str, key: str) -> Check:
    """A check that the whole value matches `regex` (ASCII classes only: the services read ASCII digits); `key`: what
    it says otherwise (the catalogue's `checks`)."""

    def check(value: str, env: Mapping[str, str]) -> str:
        if not re.fullmatch(regex, value):
            raise Refused(key)
        return value

    return check


_chat_id = _pattern(r"-?[0-9]+|@[A-Za-z0-9_]{5,}", "chat_id")
_bot_token = _pattern(r"[0-9]+:[A-Za-z0-9_-]{30,}", "bot_token")
_model = _pattern(r"[A-Za-z0-9_.][A-Za-z0-9_.:/-]*", "model")
_server = _pattern(r"[A-Za-z0-9][A-Za-z0-9_.-]*", "server")


_region = _pattern(r"[a-z]{2}-[a-z0-9-]+", "region")
_tencent_id = _pattern(r"[A-Za-z0-9]{16,}", "tencent_id")
_tencent_key = _pattern(r"[\x21-\x7e]{16,}", "tencent_key")


_robot_secret = _pattern(r"[\x21-\x7e]+", "robot_secret")
ROBOTS = ("wecom", "dingtalk", "feishu")
"""The group robots of WeCom (企业微信), DingTalk (钉钉) and Feishu/Lark (飞书): a channel each when its URL is set."""


def _actions_token(value: str, env: Mapping[str, str]) -> str:
    if len(value) < 16 or not re.fullmatch(r"[\x21-\x7e]+", value):
        raise Refused("actions_token")
    return value


VARIABLES: dict[str, Check] = {
    "COSTWARDEN_PROVIDER": _provider, "COSTWARDEN_PLAN": _plan, "COSTWARDEN_BUDGET_MONTHLY": _budget,
    "COSTWARDEN_PLAN_PRICE_MONTHLY": _price, "COSTWARDEN_EGRESS_INCLUDED_GIB": _traffic,
    "COSTWARDEN_BILLING_TIMEZONE": _zone, "COSTWARDEN_PROVIDER_API": _truthy,
    "COSTWARDEN_PROVIDER_SERVER": _server, "COSTWARDEN_PROVIDER_TOKEN": _provider_token,
    "COSTWARDEN_PROVIDER_REGION": _region,
    "TENCENTCLOUD_SECRET_ID": _tencent_id, "TENCENTCLOUD_SECRET_KEY": _tencent_key,
    "COSTWARDEN_ACTIONS_TOKEN": _actions_token, "COSTWARDEN_RECEIVER_HEARTBEAT_URL": http_url,
    "TELEGRAM_CHAT_ID": _chat_id, "COSTWARDEN_RECEIVER_TELEGRAM_BOT_TOKEN": _bot_token,
    "REPORT_LANGUAGE": _language, "DIGEST_DAILY_AT": _clock, "DIGEST_TIMEZONE": _zone,
    "OLLAMA_HOST": http_url, "OLLAMA_MODEL": _model, "GRAFANA_URL": http_url,
    "PROMETHEUS_URL": http_url, "ALERTMANAGER_URL": http_url, "RECEIVER_URL": http_url,
    "COSTWARDEN_RECEIVER_WECOM_WEBHOOK_URL": http_url,
    "COSTWARDEN_RECEIVER_DINGTALK_WEBHOOK_URL": http_url, "COSTWARDEN_RECEIVER_DINGTALK_SECRET": _robot_secret,
    "COSTWARDEN_RECEIVER_FEISHU_WEBHOOK_URL": http_url, "COSTWARDEN_RECEIVER_FEISHU_SECRET": _robot_secret,
}  # fmt: skip
"""Every variable of `.env` that costwarden reads (Compose's own and Grafana's password are Compose's business)."""
SECRET = {
    "COSTWARDEN_PROVIDER_TOKEN",
    "TENCENTCLOUD_SECRET_ID",
    "TENCENTCLOUD_SECRET_KEY",
    "COSTWARDEN_RECEIVER_TELEGRAM_BOT_TOKEN",
    "COSTWARDEN_ACTIONS_TOKEN",
    "COSTWARDEN_RECEIVER_HEARTBEAT_URL",
    *(f"COSTWARDEN_RECEIVER_{r.upper()}_{f}" for r in ROBOTS for f in ("WEBHOOK_URL", "SECRET")),
}  # the heartbeat URL and the robots' URLs hold their keys
READS = {
    "exporter": ("COSTWARDEN_PROVIDER", "COSTWARDEN_PLAN", "COSTWARDEN_BUDGET_MONTHLY", "COSTWARDEN_BILLING_TIMEZONE",
                 "COSTWARDEN_PLAN_PRICE_MONTHLY", "COSTWARDEN_EGRESS_INCLUDED_GIB",
                 "COSTWARDEN_PROVIDER_API", "COSTWARDEN_PROVIDER_SERVER", "COSTWARDEN_PROVIDER_TOKEN",
                 "COSTWARDEN_PROVIDER_REGION", "TENCENTCLOUD_SECRET_ID", "TENCENTCLOUD_SECRET_KEY"),
    "receiver": ("TELEGRAM_CHAT_ID", "COSTWARDEN_RECEIVER_TELEGRAM_BOT_TOKEN", "REPORT_LANGUAGE", "DIGEST_DAILY_AT",
                 "DIGEST_TIMEZONE", "COSTWARDEN_BILLING_TIMEZONE", "OLLAMA_HOST", "OLLAMA_MODEL", "GRAFANA_URL",
                 "PROMETHEUS_URL", "ALERTMANAGER_URL", "RECEIVER_URL",
                 "COSTWARDEN_ACTIONS_TOKEN", "COSTWARDEN_RECEIVER_HEARTBEAT_URL",
                 *(v for v in VARIABLES if v.startswith(tuple(f"COSTWARDEN_RECEIVER_{r.upper()}_" for r in ROBOTS)))),
}  # fmt: skip
"""Which variables each service's own config is rendered from (compose gives each exactly these)."""

_NEEDS_TOKEN = {"digitalocean", "hetzner", "linode", "vultr"}
"""Providers whose billing API takes COSTWARDEN_PROVIDER_TOKEN (AWS uses its own credential chain)."""


def check(env: Mapping[str, str], names: tuple[str, ...] | None = None) -> dict[str, str]:
    """The variables, normalised (plan names in their case, 9:00 → 09:00); EnvError with one line per bad one."""
    names = tuple(VARIABLES) if names is None else names
    values: dict[str, str] = {}
    errors: list[str] = []
    for name in names:
        raw = env.get(name, "").strip()
        if not raw:
            continue
        try:
            values[name] = VARIABLES[name](raw, {**env, **values})
        except ValueError as exc:
            shown = "(hidden)" if name in SECRET else repr(raw)
            errors.append(f".env: {name}={shown}: {exc}")
    provider = values.get("COSTWARDEN_PROVIDER", "digitalocean")
    if (
        "COSTWARDEN_PROVIDER_TOKEN" in names
        and values.get("COSTWARDEN_PROVIDER_API") == "true"
        and (
            values.get("COSTWARDEN_PROVIDER", "digitalocean") in _NEEDS_TOKEN
            and not values.get("COSTWARDEN_PROVIDER_TOKEN")
        )
    ):
        errors.append(".env: COSTWARDEN_PROVIDER_API=true needs COSTWARDEN_PROVIDER_TOKEN (a read-only API token of "
                      "the provider; docs/billing.md), or set COSTWARDEN_PROVIDER_API=false")  # fmt: skip
    keys = ("TENCENTCLOUD_SECRET_ID", "TENCENTCLOUD_SECRET_KEY")
    if (
        set(keys) <= set(names)
        and values.get("COSTWARDEN_PROVIDER_API") == "true"
        and provider == "lighthouse"
        and not all(values.get(k) for k in keys)
    ):
        errors.append(".env: COSTWARDEN_PROVIDER_API=true with lighthouse needs TENCENTCLOUD_SECRET_ID and "
                      "TENCENTCLOUD_SECRET_KEY (a read-only CAM key; docs/billing.md#tencent-cloud-腾讯云), or set "
                      "COSTWARDEN_PROVIDER_API=false")  # fmt: skip
    if (
        "TELEGRAM_CHAT_ID" in values
        and "COSTWARDEN_RECEIVER_TELEGRAM_BOT_TOKEN" in names
        and not values.get("COSTWARDEN_RECEIVER_TELEGRAM_BOT_TOKEN")
    ):
        errors.append(".env: TELEGRAM_CHAT_ID is set but COSTWARDEN_RECEIVER_TELEGRAM_BOT_TOKEN is empty: set the "
                      "token @BotFather gave, or empty TELEGRAM_CHAT_ID")  # fmt: skip
    if "COSTWARDEN_PLAN" in names and provider != "digitalocean" and not values.get("COSTWARDEN_PLAN") and not errors:
        from exporter.config import preset_names

        plans = ", ".join(preset_names().get(provider, []))
        errors.append(f".env: COSTWARDEN_PLAN is empty: COSTWARDEN_PROVIDER={provider} needs one of its plans: {plans}")
    if not errors and "COSTWARDEN_PLAN" in names:
        # The table the exporter will load, resolved now: a provider without its plan (the default plan is
        # DigitalOcean's) or any other combination the exporter refuses is a line here, not a restart loop later.
        from exporter.config import ConfigError, resolve

        try:
            resolve(yaml.safe_load(pricing_config(values)), source=".env")
        except ConfigError as exc:
            field = {"plan": "COSTWARDEN_PLAN", "provider": "COSTWARDEN_PROVIDER"}
            if values.get("COSTWARDEN_PLAN_PRICE_MONTHLY"):  # a price too low for the plan's disk is the price's fault
                field |= {"plan_price": "COSTWARDEN_PLAN_PRICE_MONTHLY", "unit_prices": "COSTWARDEN_PLAN_PRICE_MONTHLY"}
            name = next((v for k, v in field.items() if f"field {k}" in str(exc)), "COSTWARDEN_PLAN")
            errors.append(f".env: {name}: {str(exc).removeprefix('.env: ')}")
    if errors:
        raise EnvError(errors)
    return values


def receiver_config(values: Mapping[str, str]) -> str:
    """receiver.yml: Prometheus and Ollama by service name, the console and an audit file always, Telegram when a
    chat id is set, a WeCom/DingTalk/Feishu robot when its URL is set (tokens, URLs and secrets come from the
    environment, never this file)."""
    channels: list[dict[str, object]] = [
        {"type": "console"},
        {"type": "file", "name": "audit", "path": "/var/lib/costwarden/sent.jsonl"},
    ]
    if values.get("TELEGRAM_CHAT_ID"):
        channels.append({"type": "telegram", "chat_id": values["TELEGRAM_CHAT_ID"], "bot_token": "from-environment"})
    channels += [{"type": r} for r in ROBOTS if values.get(f"COSTWARDEN_RECEIVER_{r.upper()}_WEBHOOK_URL")]
    config = {
        "listen": {"host": "0.0.0.0", "port": 9095},  # noqa: S104 - inside the compose network only
        "data_dir": "/var/lib/costwarden",
        "prometheus": {"url": f"http://{ADDRESSES['prometheus']}"},
        "buttons": {"alertmanager_api": f"http://{ADDRESSES['alertmanager']}"},  # Telegram's silence buttons
        "ollama": {
            "host": values.get("OLLAMA_HOST") or "http://ollama:11434",
            "model": values.get("OLLAMA_MODEL") or "llama3.2:3b",
            "language": values.get("REPORT_LANGUAGE") or "en",
        },
        "grafana_url": values.get("GRAFANA_URL") or "http://127.0.0.1:3000",
        # The addresses .env says Prometheus and Alertmanager are reached at (also their --web.external-url): the
        # links of messages. Unset, no graph or silence link is sent (a loopback default would be dead on a phone).
        **{
            key: values[name]
            for key, name in (
                ("prometheus_url", "PROMETHEUS_URL"),
                ("alertmanager_url", "ALERTMANAGER_URL"),
                ("receiver_url", "RECEIVER_URL"),
            )  # signed action links in Slack, email, robots
            if values.get(name)
        },
        "channels": channels,
        # The token reaches the receiver as COSTWARDEN_RECEIVER_ACTIONS_TOKEN; its presence turns actions on.
        **({"actions": {"url": f"http://{ADDRESSES['exporter']}"}} if values.get("COSTWARDEN_ACTIONS_TOKEN") else {}),
        "digest": {
            "daily": {"at": values.get("DIGEST_DAILY_AT") or "09:00"},
            "timezone": values.get("DIGEST_TIMEZONE") or values.get("COSTWARDEN_BILLING_TIMEZONE") or "UTC",
        },
    }
    return yaml.safe_dump(config, sort_keys=False)


def pricing_config(values: Mapping[str, str]) -> str:
    from exporter.config import included_egress, plan_price  # the image's exporter

    config: dict[str, object] = {"provider": values.get("COSTWARDEN_PROVIDER") or "digitalocean",
                                 "plan": values.get("COSTWARDEN_PLAN") or "s-1vcpu-1gb"}  # fmt: skip
    if values.get("COSTWARDEN_BUDGET_MONTHLY"):
        config["budget"] = {"monthly": float(values["COSTWARDEN_BUDGET_MONTHLY"])}
    if values.get("COSTWARDEN_PLAN_PRICE_MONTHLY"):  # the provider's price today, where it differs from the preset's
        config["plan_price"] = plan_price(dict(config), float(values["COSTWARDEN_PLAN_PRICE_MONTHLY"]))
    included = values.get("COSTWARDEN_EGRESS_INCLUDED_GIB")
    if included:
        config["egress"] = included_egress(None if included == "unlimited" else float(included))
    if values.get("COSTWARDEN_BILLING_TIMEZONE"):
        config["billing"] = {"timezone": values["COSTWARDEN_BILLING_TIMEZONE"]}
    if values.get("COSTWARDEN_PROVIDER_REGION"):
        config["region"] = values["COSTWARDEN_PROVIDER_REGION"]
    if values.get("COSTWARDEN_PROVIDER_API") == "true":
        config["provider_api"] = {"enabled": True}
        if values.get("COSTWARDEN_PROVIDER_SERVER"):
            config["provider_api"] = {"enabled": True, "server": values["COSTWARDEN_PROVIDER_SERVER"]}
    return yaml.safe_dump(config, sort_keys=False)


CONFIGS = {"exporter": ("pricing.yml", pricing_config), "receiver": ("receiver.yml", receiver_config)}


def render_shared(out: Path, env: Mapping[str, str], token_dir: Path | None = None) -> list[Path]:
    """The `config` service: every variable checked (EnvError), then what Prometheus and Alertmanager read written
    into `out`, and the intake token into `token_dir` (its own volume; default `out`)."""
    check(env)
    out.mkdir(parents=True, exist_ok=True)
    token_dir = token_dir or out
    token_dir.mkdir(parents=True, exist_ok=True)
    # Read by the receiver (COSTWARDEN_RECEIVER_BEARER_TOKEN_FILE) and Alertmanager, which run as different users.
    render.intake_token(token_dir, 0o644)
    files = {
        "prometheus.yml": render.prometheus(ADDRESSES, RULES),
        "alertmanager.yml": render.alertmanager(ADDRESSES, f"{TOKEN_DIR}/{render.INTAKE_TOKEN}"),
    }
    for name, text in files.items():
        (out / name).write_text(text)
    # Rendered here by earlier versions: the configs (now by each service itself), and the intake token (now in its own
    # volume, which Prometheus does not mount).
    for stale in ("receiver.yml", "pricing.yml", *([render.INTAKE_TOKEN] if token_dir != out else [])):
        (out / stale).unlink(missing_ok=True)
    return [out / name for name in files]


def start(service: str, argv: list[str], env: Mapping[str, str], directory: Path = RENDERED,
          host_root: Path = Path("/host/root")) -> Path:  # fmt: skip
    """Render `service`'s config from its environment into `directory`; the caller then runs `argv`."""
    name, render_config = CONFIGS[service]
    values = check(env, READS[service])
    host_name = host_root / "etc/hostname"
    if (service == "exporter" and values.get("COSTWARDEN_PROVIDER") == "hetzner"
            and not values.get("COSTWARDEN_PROVIDER_SERVER") and host_name.exists()):  # fmt: skip
        # In its container the exporter's own hostname is the container id; Hetzner's API looks the server up by
        # the host's name. Only Hetzner's: Lighthouse and Alibaba read the traffic package of the instance id
        # named, and the host's name as one failed every poll (bill and balance never read).
        values = {**values, "COSTWARDEN_PROVIDER_SERVER": host_name.read_text().strip()}
    text = render_config(values)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = directory / name
    path.write_text(text)
    return path


def start_main(argv: list[str]) -> int:
    """`start <exporter|receiver> -- <command…>`: render, then become the command (its PID, its signals)."""
    if len(argv) < 3 or argv[0] not in CONFIGS or argv[1] != "--":
        print("usage: python -m stack start {exporter,receiver} -- <command> [args…]", file=sys.stderr)
        return 2
    try:
        start(argv[0], argv[2:], os.environ)
    except EnvError as exc:
        print("\n".join(exc.lines), file=sys.stderr)
        print(f"{argv[0]} not started: fix .env, then `docker compose up -d`", file=sys.stderr)
        return 2
    os.execvp(argv[2], argv[2:])  # noqa: S606 - the command compose gives, with its arguments
    return 0  # not reached: execvp replaces this process or raises


def render_main(out: Path, token_dir: Path | None, exporter_state: Path | None = None) -> int:
    try:
        written = render_shared(out, os.environ, token_dir)
        if exporter_state is not None and exporter_state.is_dir():
            os.chown(exporter_state, 0, 0)
            exporter_state.chmod(0o700)
    except EnvError as exc:
        print("\n".join(exc.lines), file=sys.stderr)
        print(f"{len(exc.lines)} setting(s) in .env to fix; nothing was started", file=sys.stderr)
        return 2
    for path in written:
        print(f"wrote {path}")
    print(".env checked: every variable is valid")
    return 0
