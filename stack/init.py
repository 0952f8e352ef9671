"""`costwarden init`: from a fresh clone to a first message on the phone in a few questions (or flags).

It reads what this machine is (the DMI vendor and product the provider's hypervisor reports, cores, memory, disk; no
network needed), proposes the matching provider preset and plan, asks the budget and the language, walks through one
channel (Telegram: paste the token, send your bot a message, the chat is found with getUpdates; WeCom, DingTalk,
Feishu: paste the robot's address and secret), writes the configs for `make run` (data/config/) or `.env` for
compose, sends a test message through the channel, and says what happens when.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import re
import secrets
import shutil
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from exporter.config import ConfigError, preset_names, resolve
from receiver.settings import Settings, SettingsError, load
from stack import compose
from stack.render import ROOT
from stack.run import CONFIG_DIR, RUN_DIR

VENDORS = (
    (r"digitalocean", "digitalocean"),
    (r"hetzner", "hetzner"),
    (r"linode|akamai", "linode"),
    (r"vultr", "vultr"),
    (r"amazon|aws", "ec2"),
    (r"alibaba|aliyun", "alibaba"),
    (r"tencent", "lighthouse"),  # DMI cannot tell Lighthouse from CVM: CVM users answer `tencent` (a table of theirs)
)
"""DMI sys_vendor / product_name / bios_vendor as each provider's hypervisor reports it → the provider."""
CURRENCY = {"alibaba": "CNY", "tencent": "CNY"}
CHANNELS = ("console", "telegram", "wecom", "dingtalk", "feishu")
ROBOT_SECRET = {"dingtalk": "加签 (SEC…)", "feishu": "签名校验"}


@dataclass(frozen=True)
class Machine:
    vendor: str
    product: str
    vcpus: int
    memory_gib: float
    disk_gib: float


def read_machine(root: Path = Path("/")) -> Machine:
    """What this machine says it is; empty strings where the firmware says nothing (containers, some VPS)."""

    def dmi(name: str) -> str:
        try:
            return (root / "sys/class/dmi/id" / name).read_text(errors="replace").strip()
        except OSError:
            return ""

    memory = 0.0
    try:
        for line in (root / "proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = int(line.split()[1]) * 1024 / 2**30
    except (OSError, ValueError, IndexError):
        pass
    vendor = " ".join(filter(None, (dmi("sys_vendor"), dmi("bios_vendor"), dmi("chassis_vendor"))))
    disk = shutil.disk_usage(root).total / 2**30
    return Machine(vendor, dmi("product_name"), os.cpu_count() or 1, round(memory, 1), round(disk))


def guess_provider(machine: Machine) -> str | None:
    text = f"{machine.vendor} {machine.product}".lower()
    return next((provider for pattern, provider in VENDORS if re.search(pattern, text)), None)


def guess_plan(provider: str, machine: Machine) -> str | None:
    """The provider's preset plan with this machine's vCPUs and memory (the kernel keeps some of what the plan sells:
    within 15 %), else the one nearest in size."""
    plans = preset_names().get(provider)
    if not plans:
        return None
    sizes = {plan: resolve({"provider": provider, "plan": plan}).machine for plan in plans}
    exact = [
        p for p, m in sizes.items() if m.vcpus == machine.vcpus and 0.85 <= machine.memory_gib / m.memory_gib <= 1.05
    ]
    if exact:  # several bundles of this size (a Lighthouse 2c2g comes with 30, 40 or 50 GB): the disk decides
        return min(exact, key=lambda p: abs(sizes[p].disk_gib - machine.disk_gib))
    return min(sizes, key=lambda p: abs(sizes[p].vcpus - machine.vcpus) + abs(sizes[p].memory_gib - machine.memory_gib))


@dataclass
class Answers:
    provider: str
    plan: str | None
    budget: float | None
    currency: str
    monthly_price: float | None
    language: str
    channel: str
    chat_id: str = ""
    telegram_api: str = "https://api.telegram.org"
    secrets: dict[str, str] = field(default_factory=dict)
    """Environment variables the receiver reads its channel's secrets from (COSTWARDEN_RECEIVER_…)."""


def pricing_config(a: Answers, machine: Machine) -> dict[str, object]:
    """pricing.yml: a preset and its plan, or (a provider without presets) this machine at the price asked."""
    config: dict[str, object]
    if a.plan:
        config = {"provider": a.provider, "plan": a.plan}
    else:
        price = a.monthly_price or 0.0
        config = {"provider": "custom", "currency": a.currency,
                  "machine": {"vcpus": machine.vcpus, "memory_gib": machine.memory_gib, "disk_gib": machine.disk_gib},
                  "plan_price": {"hourly": round(price / 730, 6), "monthly": price}}  # fmt: skip
    if a.budget:
        config["budget"] = {"monthly": a.budget}
    return config


def receiver_config(a: Answers, audit: Path | None = None) -> dict[str, object]:
    """What init adds to the receiver's config: the language and the channels (secrets stay in secrets.env); `audit`
    keeps `make run`'s file of every message sent (these channels replace the ones it renders)."""
    channel: dict[str, object] = {"type": a.channel}
    if a.channel == "telegram":
        channel["chat_id"] = int(a.chat_id) if re.fullmatch(r"-?\d+", a.chat_id) else a.chat_id
        if a.telegram_api != Answers.telegram_api:  # a Bot API proxy (api.telegram.org is blocked in some places)
            channel["api_url"] = a.telegram_api
    channels: list[dict[str, object]] = [{"type": "console"}]
    if audit is not None:
        channels.append({"type": "file", "path": str(audit)})
    channels += [channel] if a.channel != "console" else []
    return {"ollama": {"language": a.language}, "channels": channels}


def env_file(a: Answers, example: str) -> str:
    """.env for compose: the example with init's answers in place (one line per variable, comments kept)."""
    values = {
        "COSTWARDEN_PROVIDER": a.provider, "COSTWARDEN_PLAN": a.plan or "",
        "COSTWARDEN_BUDGET_MONTHLY": f"{a.budget:g}" if a.budget else "", "REPORT_LANGUAGE": a.language,
        "TELEGRAM_CHAT_ID": a.chat_id, "GRAFANA_ADMIN_PASSWORD": secrets.token_urlsafe(18), **a.secrets,
    }  # fmt: skip
    lines = []
    for line in example.splitlines():
        name = line.partition("=")[0]
        lines.append(f"{name}={values[name]}" if not line.startswith("#") and name in values else line)
    return "\n".join(lines) + "\n"


class TelegramError(Exception):
    pass


def telegram_chats(api_url: str, token: str) -> list[tuple[str, str]]:
    """(chat id, name) of the chats that wrote to the bot lately (getUpdates), newest first."""
    # allowed_updates named: the Bot API remembers the last call's, and the receiver's buttons ask for taps only.
    url = f"{api_url.rstrip('/')}/bot{token}/getUpdates?allowed_updates=%5B%22message%22%2C%22channel_post%22%5D"
    try:
        with urllib.request.urlopen(url, timeout=15) as resp:  # noqa: S310 - the Bot API (or a test's fake)
            body = json.load(resp)
    except urllib.error.HTTPError as exc:
        try:
            said = str(json.load(exc).get("description", ""))
        except (ValueError, AttributeError, http.client.HTTPException):
            said = ""
        if exc.code == 401:
            raise TelegramError("Telegram does not know this token (401): copy it again from @BotFather") from None
        if exc.code == 409:
            raise TelegramError(f"the bot has a webhook, so getUpdates is refused ({said}): remove it with "
                                "deleteWebhook, or give the chat id with --telegram-chat-id") from None  # fmt: skip
        raise TelegramError(f"Telegram answered {exc.code}: {said}") from None
    except (OSError, ValueError, http.client.HTTPException) as exc:
        said = str(exc).replace(token, "<token>")  # urllib puts the whole URL in some of its messages
        raise TelegramError(f"Telegram could not be reached: {said}") from None
    updates = body.get("result") if isinstance(body, dict) else None
    if not isinstance(updates, list):
        raise TelegramError("Telegram's answer to getUpdates has no list of updates: is --telegram-api the Bot API?")
    seen: dict[str, str] = {}
    for update in reversed(updates):
        message = (update.get("message") or update.get("channel_post") or {}) if isinstance(update, dict) else {}
        chat = message.get("chat") if isinstance(message, dict) else None
        if isinstance(chat, dict) and "id" in chat:
            name = chat.get("title") or chat.get("username") or chat.get("first_name") or ""
            seen.setdefault(str(chat["id"]), str(name))
    return list(seen.items())


Ask = Callable[[str, str], str]


def _asker(interactive: bool) -> Ask:
    def ask(question: str, default: str) -> str:
        if not interactive:
            return default
        shown = f" [{default}]" if default else ""
        answer = input(f"{question}{shown}: ").strip()
        return answer or default

    return ask


def _number(text: str, what: str) -> float | None:
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise SystemExit(f"costwarden init: {what}: {text!r} is not a number (10 or 12.50, no currency sign)") from None
    if not value > 0:
        raise SystemExit(f"costwarden init: {what}: expected a positive number")
    return value


def gather(args: argparse.Namespace, machine: Machine, ask: Ask, say: Callable[[str], None]) -> Answers:
    guessed = guess_provider(machine)
    seen = f"{machine.vendor or 'an unnamed machine'} {machine.product}".strip()
    say(f"This machine: {seen}, {machine.vcpus} vCPU, {machine.memory_gib:g} GiB memory, {machine.disk_gib:g} GiB disk"
        + (f" — looks like {guessed}." if guessed else "."))  # fmt: skip
    presets = preset_names()
    if not (args.provider or guessed or args.interactive):
        raise SystemExit("costwarden init: this machine does not say which provider runs it: give --provider "
                         f"({', '.join([*presets, 'alibaba', 'tencent', 'custom'])})")  # fmt: skip
    provider = (args.provider or ask(f"Provider ({', '.join([*presets, 'alibaba', 'tencent', 'custom'])})",
                                     guessed or "digitalocean")).lower()  # fmt: skip
    plan = None
    currency = args.currency or CURRENCY.get(provider, "USD")
    monthly = None
    if provider in presets:
        plans = presets[provider]
        plan = args.plan or ask(f"Plan ({', '.join(plans)})", guess_plan(provider, machine) or plans[0])
        by_case = {p.lower(): p for p in plans}
        if plan.lower() not in by_case:
            raise SystemExit(f"costwarden init: {plan!r} is not a {provider} plan: {', '.join(plans)}")
        plan = by_case[plan.lower()]
        currency = resolve({"provider": provider, "plan": plan}).currency
    else:
        say(f"No built-in prices for {provider} yet: the table is this machine at the monthly price you pay.")
        monthly = _number(args.monthly_price or ask(f"What this server costs a month, in {currency}", ""),
                          "monthly price")  # fmt: skip
        if monthly is None:
            raise SystemExit("costwarden init: --monthly-price is needed for a provider without presets")
    budget = _number(args.budget or ask(f"Monthly budget in {currency} (empty: none)", ""), "budget")
    language = args.language or ask("Language of the messages (en, zh)", "zh" if currency == "CNY" else "en")
    if language not in ("en", "zh"):
        raise SystemExit("costwarden init: --language: en or zh")
    channel = args.channel or ask(f"Where messages go ({', '.join(CHANNELS)})", "console")
    if channel not in CHANNELS:
        raise SystemExit(f"costwarden init: --channel: one of {', '.join(CHANNELS)}")
    answers = Answers(provider if plan else "custom", plan, budget, currency, monthly, language, channel)
    if channel == "telegram":
        _telegram(args, answers, ask, say)
    elif channel != "console":
        _robot(args, answers, ask, say)
    return answers


def _telegram(args: argparse.Namespace, a: Answers, ask: Ask, say: Callable[[str], None]) -> None:
    token = args.telegram_token or ask("The bot's token from @BotFather (123456789:AA…)", "")
    token = _valid(compose.VARIABLES["COSTWARDEN_RECEIVER_TELEGRAM_BOT_TOKEN"], token, "the Telegram token")
    a.secrets["COSTWARDEN_RECEIVER_TELEGRAM_BOT_TOKEN"] = token
    a.telegram_api = _valid(compose.http_url, args.telegram_api, "--telegram-api")
    chat = args.telegram_chat_id
    while not chat:
        ask("Send any message to your bot (or add it to a group and write there), then press Enter", "")
        try:
            chats = telegram_chats(a.telegram_api, token)
        except TelegramError as exc:
            raise SystemExit(f"costwarden init: {exc}") from None
        if not chats:
            if not args.interactive:
                raise SystemExit("costwarden init: no message to the bot yet: send it one, then run init again "
                                 "(or give --telegram-chat-id)")  # fmt: skip
            say("No message has reached the bot yet.")
            continue
        for chat_id, name in chats:
            say(f"  chat {chat_id}  {name}")
        chat = ask("The chat to send to", chats[0][0])
    a.chat_id = _valid(compose.VARIABLES["TELEGRAM_CHAT_ID"], chat, "the chat id")


def _valid(check: compose.Check, value: str, what: str) -> str:
    """The value as compose's check of the same variable takes it (init writes what compose and make run read)."""
    try:
        return check(value, {})
    except ValueError as exc:
        raise SystemExit(f"costwarden init: {what}: {exc}") from None


def _plain(value: str, what: str) -> str:
    """A value init writes into an env file: one line, nothing a shell or compose would read differently."""
    if not value or any(c in value for c in "\r\n\"'$` #\\"):
        raise SystemExit(f"costwarden init: {what}: expected one word without spaces, quotes, #, $ or backslashes")
    return value


def _robot(args: argparse.Namespace, a: Answers, ask: Ask, say: Callable[[str], None]) -> None:
    name = a.channel.upper()
    url = args.webhook_url or ask(f"The {a.channel} robot's webhook address", "")
    variable = f"COSTWARDEN_RECEIVER_{name}_WEBHOOK_URL"
    a.secrets[variable] = _valid(compose.VARIABLES[variable], _plain(url, "the webhook address"), "the webhook address")
    if a.channel in ROBOT_SECRET:
        secret = args.secret or ask(f"Its signing secret ({ROBOT_SECRET[a.channel]}; empty: none)", "")
        if secret:
            variable = f"COSTWARDEN_RECEIVER_{name}_SECRET"
            a.secrets[variable] = _valid(compose.VARIABLES[variable], _plain(secret, "the signing secret"),
                                         "the signing secret")  # fmt: skip


def write_run(a: Answers, machine: Machine, directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    pricing = directory / "pricing.yml"
    pricing.write_text("# Written by costwarden init; docs/configuration.md has every field.\n"
                       + yaml.safe_dump(pricing_config(a, machine), sort_keys=False))  # fmt: skip
    receiver = directory / "receiver.yml"
    receiver.write_text("# Written by costwarden init; `make run` merges it into its own receiver.yml.\n"
                        + yaml.safe_dump(receiver_config(a, RUN_DIR / "sent.jsonl"), sort_keys=False,
                                         allow_unicode=True))  # fmt: skip
    written = [pricing, receiver]
    env = directory / "secrets.env"
    if a.secrets:
        env.touch(mode=0o600)
        env.chmod(0o600)
        env.write_text("".join(f"{k}={v}\n" for k, v in a.secrets.items()))
        written.append(env)
    elif env.exists():
        env.unlink()
    return written


def receiver_settings(a: Answers, data_dir: Path) -> Settings:
    """The receiver's own settings for init's channel, loaded as the receiver loads them (its checks included)."""

    config = {**receiver_config(a), "data_dir": str(data_dir)}
    saved = {k: os.environ.get(k) for k in a.secrets}
    with tempfile.NamedTemporaryFile("w", suffix=".yml") as f:
        f.write(yaml.safe_dump(config, allow_unicode=True))
        f.flush()
        os.environ.update(a.secrets)
        try:
            return load(Path(f.name))
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


def send_test(settings: Settings) -> list[tuple[str, bool, str]]:
    """A test message through the chosen channel, with the same code the receiver sends with."""
    from receiver import sendtest

    return asyncio.run(sendtest.send_test(settings))


WHEN = {
    "en": "What happens when: costs and the budget and quota forecasts from the first minutes; spike alerts once a "
    "day of history exists (24 h: a spike is judged against the same hour of earlier days); drops and "
    "week-over-week drift after 7 days; the daily spend digest at 09:00 local time.",
    "zh": "什么时候能看到什么：费用数据以及预算和流量额度的预测在最初几分钟就有；"
    "有了一天的历史（24 小时）之后才会有费用突增告警（突增是与前几天同一时段比较的）；"
    "7 天后才有费用骤降和周环比上涨告警；每日支出摘要在当地时间 09:00 发送。",
}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="costwarden init", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--target", choices=["run", "compose"], default="run",
                        help="run: data/config/ for `make run` (default); compose: .env for compose")  # fmt: skip
    parser.add_argument("--provider", help="a preset provider, alibaba, tencent or custom (default: detected)")
    parser.add_argument("--plan", help="the provider's plan (default: the one this machine's size matches)")
    parser.add_argument("--monthly-price", dest="monthly_price", help="a provider without presets: the monthly price")
    parser.add_argument("--currency", help="a provider without presets: the currency (default: CNY for alibaba, "
                                           "tencent, else USD)")  # fmt: skip
    parser.add_argument("--budget", help="monthly budget in the plan's currency (default: none)")
    parser.add_argument("--language", choices=["en", "zh"])
    parser.add_argument("--channel", choices=CHANNELS)
    parser.add_argument("--telegram-token", dest="telegram_token")
    parser.add_argument("--telegram-chat-id", dest="telegram_chat_id")
    parser.add_argument("--telegram-api", dest="telegram_api", default=Answers.telegram_api,
                        help="the Bot API's address, e.g. a proxy where api.telegram.org is blocked")  # fmt: skip
    parser.add_argument("--webhook-url", dest="webhook_url", help="wecom, dingtalk, feishu: the robot's address")
    parser.add_argument("--secret", help="dingtalk, feishu: the robot's signing secret")
    parser.add_argument("--dir", type=Path, default=CONFIG_DIR, help="--target run: where the configs go")
    parser.add_argument("--env-file", dest="env_file", type=Path, default=ROOT / ".env", help="--target compose")
    parser.add_argument("--force", action="store_true", help="replace an existing .env")
    parser.add_argument("--yes", action="store_true", help="ask nothing: flags, detection and defaults only")
    parser.add_argument("--ask", action="store_true", help="ask even when the input is not a terminal (scripts)")
    parser.add_argument("--sys-root", dest="sys_root", type=Path, default=Path("/"),
                        help="read the machine's DMI and memory under this root (a chroot; tests)")  # fmt: skip
    parser.add_argument("--no-test", dest="test", action="store_false", help="do not send the test message")
    args = parser.parse_args(argv)
    args.interactive = not args.yes and (args.ask or sys.stdin.isatty())
    machine = read_machine(args.sys_root)
    with tempfile.TemporaryDirectory(prefix="costwarden-init-") as scratch:
        try:
            answers = gather(args, machine, _asker(args.interactive), print)
            table = pricing_config(answers, machine)
            resolve(table, source="init")  # what the exporter will load: refused here, not at `make run`
            settings = receiver_settings(answers, Path(scratch))  # and what the receiver will: before any write
        except (ConfigError, SettingsError) as exc:
            print(f"costwarden init: {exc}", file=sys.stderr)
            return 2
        except (EOFError, KeyboardInterrupt):
            print("\ncostwarden init: stopped before writing anything", file=sys.stderr)
            return 1
        if args.target == "compose":
            if answers.plan is None:
                print("costwarden init: compose takes presets only (COSTWARDEN_PROVIDER/PLAN); use --target run, or "
                      "`sudo make install` with this pricing table", file=sys.stderr)  # fmt: skip
                return 2
            if args.env_file.exists() and not args.force:
                print(f"costwarden init: {args.env_file} exists; --force replaces it", file=sys.stderr)
                return 2
            text = env_file(answers, (ROOT / ".env.example").read_text())
            try:  # compose's own check, so `docker compose up` does not refuse what init wrote
                compose.check(dict(line.split("=", 1) for line in text.splitlines() if "=" in line and line[0] != "#"))
            except compose.EnvError as exc:
                print("\n".join(exc.lines), file=sys.stderr)
                return 2
            args.env_file.touch(mode=0o600)
            args.env_file.chmod(0o600)  # before the secrets are in it, also when it existed
            args.env_file.write_text(text)
            written = [args.env_file]
            start = "docker compose up -d"
        else:
            written = write_run(answers, machine, args.dir)
            start = "make run" if args.dir == CONFIG_DIR else f"make run ARGS='--config-dir {args.dir}'"
        print("written: " + ", ".join(str(p) for p in written))
        if args.test and answers.channel != "console":
            results = send_test(settings)
            for name, ok, said in results:
                print(f"test message to {name}: {said}")
                if not ok and name == answers.channel:
                    print("costwarden init: the channel refused the test message; fix it and run init again",
                          file=sys.stderr)  # fmt: skip
                    return 1
        print(f"Next: {start}, then `make demo-alert` in another terminal for a first alert.")
        print(WHEN[answers.language])
        return 0
