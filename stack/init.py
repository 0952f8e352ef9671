"""`costwarden init`: from a fresh clone to a first message on the phone in a few questions (or flags).

It reads what this machine is (the DMI vendor and product the provider's hypervisor reports, cores, memory, disk; no
network needed), proposes the matching provider preset and plan (on Tencent and Alibaba, given a read-only key and
the instance, the plan and its list price as the provider sells it today), asks the budget and the language, walks
through one channel (Telegram: paste the token, send your bot a message, the chat is found with getUpdates; WeCom,
DingTalk, Feishu: paste the robot's address and secret), writes the configs for `make run` (data/config/) or `.env`
for compose, sends a test message through the channel, and says what happens when.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import itertools
import json
import os
import re
import secrets
import shutil
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import yaml

from costwarden.catalogue import LANGUAGES, cli, language, spelled
from exporter.actions.diagnostics import printable
from exporter.billing import Plan, alibaba, tencent
from exporter.billing.client import ApiError
from exporter.billing.poller import SIGNED
from exporter.config import (
    HOURS_PER_MONTH,
    ConfigError,
    PricingTable,
    ProviderApi,
    included_egress,
    plan_price,
    preset_names,
    resolve,
)
from receiver.settings import Settings, SettingsError, load
from stack import compose
from stack.numbers import finite
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
ROBOT_SECRET = {"dingtalk": "加签，SEC…", "feishu": "签名校验"}
_TENCENT = ("tencent", "Tencent Cloud", "CAM", "lhins-…")
KEY_PAIR = {
    "lighthouse": _TENCENT,
    "tencent": _TENCENT,
    "alibaba": ("alibaba", "Alibaba Cloud", "RAM", "i-bp1…, 2ad1ae67…"),
}
"""Providers whose billing API init offers to poll: (api, name, key kind, instance id example). The key pair's
variables are the exporter's own (`SIGNED[api].KEY_ENV`); Tencent's pair is checked as compose checks it."""
PLAN_LOOKUP: dict[str, Callable[[Any, str, str], Plan]] = {"alibaba": alibaba.plan, "tencent": tencent.plan}
"""APIs that tell an instance's plan and its list price, asked at init instead of a price typed in: an Alibaba Simple
Application Server or ECS instance, a Tencent Lighthouse bundle or monthly CVM. Not yet: CVM by the hour."""
LOOKUP_TIMEOUT = 8.0
"""Seconds per call of the plan lookup (two or three calls): a person is waiting; the poller's 20 s is for a
background thread."""


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


def guess_plan(provider: str, machine: Machine, among: list[str] | None = None) -> str | None:
    """The provider's preset plan (of those `among`) with this machine's vCPUs and memory (the kernel keeps some of
    what the plan sells: within 15 %), else the one nearest in size."""
    plans = among or preset_names().get(provider)
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
    api: str = ""
    """The billing API polled with the key pair asked for (tencent, alibaba), or none."""
    instance: str = ""
    region: str = ""
    api_url: str = ""
    """The provider API's address when not its public one (a proxy, a test server)."""
    included_gib: float | None = 0.0
    """Traffic the plan includes a month, as the provider's API said (None: unlimited)."""
    overage_per_gib: float | None = None
    """A custom table's price per GB beyond included_gib, where the provider publishes one (Plan.overage_per_gib)."""
    size: Machine | None = None
    """The plan's size as the provider's API said (exact, where the kernel shows a little less memory)."""
    chat_id: str = ""
    telegram_api: str = "https://api.telegram.org"
    secrets: dict[str, str] = field(default_factory=dict)
    """Environment variables the receiver reads its channel's secrets from (COSTWARDEN_RECEIVER_…)."""


def pricing_config(a: Answers, machine: Machine) -> dict[str, object]:
    """pricing.yml: a preset and its plan, or (a provider without presets) this machine at the price asked."""
    config: dict[str, object]
    if a.plan:
        config = {"provider": a.provider, "plan": a.plan}
        if a.monthly_price is not None:  # the provider's API says the plan costs otherwise: its word wins
            config["plan_price"] = plan_price(dict(config), a.monthly_price)
            config["egress"] = included_egress(a.included_gib)
    else:
        price = a.monthly_price or 0.0
        m = a.size or machine
        config = {"provider": "custom", "currency": a.currency,
                  "machine": {"vcpus": m.vcpus, "memory_gib": m.memory_gib, "disk_gib": m.disk_gib},
                  "plan_price": {"hourly": round(price / HOURS_PER_MONTH, 6), "monthly": price}}  # fmt: skip
        egress = {"included_gib": a.included_gib} if a.included_gib else {}  # unlimited needs nothing
        if a.overage_per_gib:  # a custom table bills no overage unless told
            egress["overage_per_gib"] = a.overage_per_gib
        if egress:
            config["egress"] = egress
    if a.budget:
        config["budget"] = {"monthly": a.budget}
    if a.api:
        api: dict[str, object] = {"enabled": True}
        if not a.plan:
            api["api"] = a.api  # a preset's provider names its own API
        if a.instance:
            config["region"] = a.region
        if _packaged(a):
            api["server"] = a.instance
        if a.api_url:
            api["url"] = a.api_url
        config["provider_api"] = api
    return config


def _packaged(a: Answers) -> bool:
    """Whether the instance given is one whose traffic package the poll reads (provider_api.server): a CVM or ECS id
    is given for its price alone, and as the server every poll would fail on it."""
    return bool(a.instance) and SIGNED[a.api].packaged(a.instance)


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
    corrected = a.plan is not None and a.monthly_price is not None  # a preset at the provider's own price
    values = {
        "COSTWARDEN_PROVIDER": a.provider, "COSTWARDEN_PLAN": a.plan or "",
        "COSTWARDEN_BUDGET_MONTHLY": f"{a.budget:g}" if a.budget else "", "REPORT_LANGUAGE": a.language,
        "COSTWARDEN_PLAN_PRICE_MONTHLY": _figure(a.monthly_price) if corrected else "",
        "COSTWARDEN_EGRESS_INCLUDED_GIB": (_figure(a.included_gib) or "unlimited") if corrected else "",
        "COSTWARDEN_PROVIDER_API": "true" if a.api else "false",
        "COSTWARDEN_PROVIDER_SERVER": a.instance if _packaged(a) else "",
        "COSTWARDEN_PROVIDER_REGION": a.region,
        "TELEGRAM_CHAT_ID": a.chat_id, "GRAFANA_ADMIN_PASSWORD": secrets.token_urlsafe(18), **a.secrets,
    }  # fmt: skip
    lines = []
    for line in example.splitlines():
        name = line.partition("=")[0]
        lines.append(f"{name}={values[name]}" if not line.startswith("#") and name in values else line)
    return "\n".join(lines) + "\n"


class TelegramError(Exception):
    """What getUpdates said, as a catalogue key and its values (said in the language init speaks)."""

    def __init__(self, key: str, **params: object) -> None:
        super().__init__(key)
        self.key, self.params = key, params


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
            raise TelegramError("tg_unknown_token") from None
        if exc.code == 409:
            raise TelegramError("tg_webhook", said=said) from None
        raise TelegramError("tg_status", code=exc.code, said=said) from None
    except (OSError, ValueError, http.client.HTTPException) as exc:
        said = str(exc).replace(token, "<token>")  # urllib puts the whole URL in some of its messages
        raise TelegramError("tg_unreachable", said=said) from None
    updates = body.get("result") if isinstance(body, dict) else None
    if not isinstance(updates, list):
        raise TelegramError("tg_not_bot_api")
    seen: dict[str, str] = {}
    for update in reversed(updates):
        message = (update.get("message") or update.get("channel_post") or {}) if isinstance(update, dict) else {}
        chat = message.get("chat") if isinstance(message, dict) else None
        if isinstance(chat, dict) and "id" in chat:
            name = chat.get("title") or chat.get("username") or chat.get("first_name") or ""
            seen.setdefault(str(chat["id"]), str(name))
    return list(seen.items())


class Ask(Protocol):
    def __call__(self, question: str, default: str, check: Callable[[str], object] | None = None) -> str:
        """The answer (the default when nothing is typed, or asked of no one); at a terminal asked again, with the
        reason, until `check` takes it (its SystemExit is the reason). Answers piped in (`--ask` in a script) stop
        at the first refusal: asked again, the next line would answer the wrong question."""


Say = Callable[[str], None]


class Words:
    """init's words in the language it speaks: the flag's, else the environment's (switched once the user chose)."""

    def __init__(self, language: str) -> None:
        self.language = language

    def __call__(self, key: str, **params: object) -> str:
        return cli(key, self.language, **params)

    def stop(self, key: str, **params: object) -> SystemExit:
        """The refusal to go on, as `costwarden init: …`."""
        return SystemExit(f"costwarden init: {self(key, **params)}")


def _asker(interactive: bool, say: Say, terminal: bool) -> Ask:
    def ask(question: str, default: str, check: Callable[[str], object] | None = None) -> str:
        if not interactive:
            return default
        shown = f" [{default}]" if default else ""
        while True:
            answer = input(f"{question}{shown}: ").strip() or default
            try:
                if check is not None and terminal:
                    check(answer)
                return answer
            except SystemExit as refused:  # said, and asked again: every answer before it is kept
                say(str(refused.code).removeprefix("costwarden init: "))

    return ask


def _number(text: str, what: str, t: Words) -> float | None:
    if not text:
        return None
    value = finite(text)
    if value is None:
        raise t.stop("not_number", what=t(what), text=repr(text))
    if not value > 0:
        raise t.stop("not_positive", what=t(what))
    return value


def gather(args: argparse.Namespace, machine: Machine, ask: Ask, say: Say, t: Words) -> Answers:
    """Every answer init needs, asked in order (or taken from the flags); `t` switches to the language chosen."""
    guessed = guess_provider(machine)
    seen = f"{machine.vendor or t('unnamed')} {machine.product}".strip()
    guess = t("looks_like", provider=guessed) if guessed else t("full_stop")
    say(t("this_machine", seen=seen, vcpus=machine.vcpus, memory=f"{machine.memory_gib:g}",
          disk=f"{machine.disk_gib:g}", guess=guess))  # fmt: skip
    chinese = guessed in KEY_PAIR and t.language == "en" and not os.environ.get("COSTWARDEN_LANGUAGE")

    def spoken(value: str) -> str:
        found = spelled(value)
        if found is None:
            raise t.stop("bad_choice", flag="--language", known=", ".join(LANGUAGES))
        return found

    language = spoken(args.language or ask(t("ask_language"), "zh" if chinese else t.language, spoken))
    t.language = language
    presets = preset_names()
    known = ", ".join([*presets, "alibaba", "tencent", "custom"])
    if not (args.provider or guessed or args.interactive):
        raise t.stop("no_provider", known=known)
    # Not recognised: a price of its own (custom) unless the user names a provider; no preset of some other size.
    provider = (args.provider or ask(t("ask_provider", known=known), guessed or "custom")).lower()
    currency = args.currency or CURRENCY.get(provider, "CNY" if language == "zh" else "USD")
    a = Answers(provider, None, None, currency, None, language, "console")
    found = None
    if provider in KEY_PAIR:  # the key first: with it, the provider itself says what the plan is and costs
        _key_pair(args, a, KEY_PAIR[provider], ask, t)
        if provider in presets or not args.monthly_price:  # a price given is the user's word
            found = _plan_found(a, KEY_PAIR[provider][1], provider in presets, say, t)
    size = Machine(machine.vendor, machine.product, found.vcpus, found.memory_gib, found.disk_gib) if found else None
    if provider in presets:
        plans = presets[provider]
        hk = a.region == "ap-hongkong"  # Lighthouse's Hong Kong bundles have their own traffic and overage
        among = [p for p in plans if p.startswith("hk-") == hk] if provider == "lighthouse" and a.region else plans
        proposed = guess_plan(provider, size or machine, among) or plans[0]
        by_case = {p.lower(): p for p in plans}

        def sold(plan: str) -> str:
            if plan.lower() not in by_case:
                raise t.stop("not_a_plan", plan=repr(plan), provider=provider, known=", ".join(plans))
            return by_case[plan.lower()]

        a.plan = sold(args.plan or ask(t("ask_plan", known=", ".join(plans)), proposed, sold))
        table = resolve({"provider": provider, "plan": a.plan})
        a.currency = table.currency
        if found:
            _correct(a, found, table, KEY_PAIR[provider][1], say, t)
    else:
        say(t("no_presets", provider=provider))
        a.provider = "custom"
        if found and args.currency and args.currency != found.currency:
            say(t("plan_other_currency", provider=KEY_PAIR[provider][1], found=found.currency, ours=args.currency))
            found = None
        if found:
            a.currency, a.size = found.currency, size
            _traffic_terms(a, found, KEY_PAIR[provider][1], say, t)
        offered = _figure(found.monthly) if found else ""

        def price(text: str) -> float:
            value = _number(text, "what_monthly", t)
            if value is None:
                raise t.stop("monthly_needed")
            return value

        a.monthly_price = price(args.monthly_price or ask(t("ask_monthly", currency=a.currency), offered, price))

    def budget(text: str) -> float | None:
        return _number(text, "what_budget", t)

    a.budget = budget(args.budget or ask(t("ask_budget", currency=a.currency), "", budget))

    def channel(text: str) -> str:
        named = CHANNEL_NAMES.get(text.strip().lower(), text.strip().lower())
        if named not in CHANNELS:
            raise t.stop("bad_choice", flag="--channel", known=", ".join(CHANNELS))
        return named

    a.channel = channel(args.channel or ask(t("ask_channel", known=", ".join(CHANNELS)), "console", channel))
    if args.secret and a.channel not in ROBOT_SECRET:  # before anything is asked: it would be dropped
        raise t.stop("no_secret", channel=a.channel)
    if a.channel == "telegram":
        _telegram(args, a, ask, say, t)
    elif a.channel != "console":
        _robot(args, a, ask, say, t)
    return a


def _key_pair(args: argparse.Namespace, a: Answers, offer: tuple[str, str, str, str], ask: Ask,
              t: Words) -> None:  # fmt: skip
    """The provider's key pair for its billing API (bill, balance, the instance's traffic package), if the user has
    one to give; skipped when the first half is left empty."""
    api, name, kind, example = offer
    variables = SIGNED[api].KEY_ENV

    def half(variable: str) -> Callable[[str], str]:
        def taken(value: str) -> str:
            value = _plain(value, t("what_key"), t)
            return _valid(compose.VARIABLES[variable], value, t("what_key"), t) if api == "tencent" else value

        return taken

    first, second = half(variables[0]), half(variables[1])
    question = t("ask_key_id", provider=name, kind=kind, variable=variables[0])
    key_id = args.api_key_id or ask(question, "", lambda v: v and first(v))
    if not key_id:
        return
    a.secrets[variables[0]] = first(key_id)
    a.secrets[variables[1]] = second(args.api_key_secret or ask(t("ask_key_secret", variable=variables[1]), "", second))
    a.api = api
    a.api_url = _valid(compose.http_url, args.api_url, "--api-url", t) if args.api_url else ""

    def server(value: str) -> str:
        return _valid(compose.VARIABLES["COSTWARDEN_PROVIDER_SERVER"], value, t("what_instance"), t)

    def region(value: str) -> str:
        return _valid(compose.VARIABLES["COSTWARDEN_PROVIDER_REGION"], value, "--region", t)

    instance = args.instance or ask(t("ask_instance", example=example), "", lambda v: v and server(v))
    if instance:
        a.instance = server(instance)
        a.region = region(args.region or ask(t("ask_region"), "", region))


def _plan_found(a: Answers, name: str, preset: bool, say: Say, t: Words) -> Plan | None:
    """The instance's plan at its list price, read with the key just given (PLAN_LOOKUP); None, said why, when there
    is nothing to read or the API cannot tell: the price is then asked for (a preset's price is used)."""
    lookup = PLAN_LOOKUP.get(a.api)
    if lookup is None or not (a.instance and a.region):
        return None
    say(t("asking", provider=name, instance=a.instance))
    module = SIGNED[a.api]
    cfg = ProviderApi(enabled=True, url=a.api_url, timeout_seconds=LOOKUP_TIMEOUT)
    try:
        found: Plan = lookup(module.Api(*(a.secrets[v] for v in module.KEY_ENV), cfg), a.instance, a.region)
    except ApiError as exc:
        error = t("api_error", reason=t(f"api_{exc.reason}"), detail=printable(str(exc), 300))  # its words, the API's
        say(t("plan_unknown_preset" if preset else "plan_unknown", error=error))
        return None
    say(t("plan_found", provider=name, plan=found.name, vcpus=found.vcpus, memory=f"{found.memory_gib:g}",
          disk=f"{found.disk_gib:g}", traffic=_traffic(found.included_gib, t), price=_figure(found.monthly),
          currency=found.currency))  # fmt: skip
    return found


def _traffic_terms(a: Answers, found: Plan, name: str, say: Say, t: Words) -> None:
    """A custom table written from the plan found: what it counts of traffic billed by the GB (a CVM or ECS paying
    by traffic; a plan's GBs beyond its quota) — the provider's published price where there is one, else none."""
    a.included_gib, a.overage_per_gib = found.included_gib, found.overage_per_gib
    if found.included_gib is None:
        return
    if found.overage_per_gib:
        say(t("traffic_priced", provider=name, price=f"{found.overage_per_gib:.2f}", currency=found.currency,
              region=a.region))  # fmt: skip
    elif found.included_gib == 0:
        say(t("traffic_metered", provider=name))
    else:
        say(t("traffic_beyond", provider=name, included=_traffic(found.included_gib, t)))


def _correct(a: Answers, found: Plan, table: PricingTable, name: str, say: Say, t: Words) -> None:
    """The preset plan chosen, corrected by what the provider says it costs today — only when it is the same plan
    (same size, same currency): another bundle's price on this plan would misprice every resource."""
    size = table.machine.vcpus, table.machine.memory_gib, table.machine.disk_gib
    if found.currency != table.currency:
        say(t("plan_other_currency", provider=name, found=found.currency, ours=table.currency))
    elif (found.vcpus, found.memory_gib, found.disk_gib) != size:
        say(t("preset_other_size", provider=name, bundle=found.name, plan=a.plan, vcpus=found.vcpus,
              memory=f"{found.memory_gib:g}", disk=f"{found.disk_gib:g}"))  # fmt: skip
    elif (found.monthly, found.included_gib) != (table.plan_price.monthly, table.egress.included_gib):
        say(t("preset_differs", plan=a.plan, preset=_figure(table.plan_price.monthly), currency=a.currency,
              included=_traffic(table.egress.included_gib, t), provider=name, price=_figure(found.monthly),
              traffic=_traffic(found.included_gib, t)))  # fmt: skip
        a.monthly_price, a.included_gib = found.monthly, found.included_gib


def _traffic(gib: float | None, t: Words) -> str:
    return t("unlimited") if gib is None else f"{gib:g} GB"


def _figure(value: float | None) -> str:
    """A number as written into a file or offered as an answer: exact (12 digits), never 1.23457e+06."""
    return "" if value is None else f"{value:.12g}"


def _telegram(args: argparse.Namespace, a: Answers, ask: Ask, say: Say, t: Words) -> None:
    def bot(value: str) -> str:
        return _valid(compose.VARIABLES["COSTWARDEN_RECEIVER_TELEGRAM_BOT_TOKEN"], value, t("what_token"), t)

    token = bot(args.telegram_token or ask(t("ask_token"), "", bot))
    a.secrets["COSTWARDEN_RECEIVER_TELEGRAM_BOT_TOKEN"] = token
    a.telegram_api = _valid(compose.http_url, args.telegram_api, "--telegram-api", t)

    def chat_of(value: str) -> str:
        return _valid(compose.VARIABLES["TELEGRAM_CHAT_ID"], value, t("what_chat"), t)

    chat = args.telegram_chat_id
    while not chat:
        ask(t("ask_send"), "")
        try:
            chats = telegram_chats(a.telegram_api, token)
        except TelegramError as exc:
            raise t.stop(exc.key, **exc.params) from None
        if not chats:
            if not args.interactive:
                raise t.stop("no_message_yet")
            say(t("no_message_retry"))
            continue
        for chat_id, name in chats:
            say(t("chat_line", id=chat_id, name=name))
        chat = ask(t("ask_chat"), chats[0][0], chat_of)
    a.chat_id = chat_of(chat)


def _valid(check: compose.Check, value: str, what: str, t: Words) -> str:
    """The value as compose's check of the same variable takes it (init writes what compose and make run read), its
    refusal said in the language the user chose."""
    try:
        return check(value, {})
    except compose.Refused as exc:
        raise SystemExit(f"costwarden init: {what}: {exc.said(t.language)}") from None


def _plain(value: str, what: str, t: Words) -> str:
    """A value init writes into an env file: one line, nothing a shell or compose would read differently."""
    if not value or any(c in value for c in "\r\n\"'$` #\\"):
        raise t.stop("plain", what=what)
    return value


def _robot(args: argparse.Namespace, a: Answers, ask: Ask, say: Say, t: Words) -> None:
    name = a.channel.upper()
    variable = f"COSTWARDEN_RECEIVER_{name}_WEBHOOK_URL"

    def address(url: str) -> str:
        return _valid(compose.VARIABLES[variable], _plain(url, t("what_webhook"), t), t("what_webhook"), t)

    robot = t(f"robot_{a.channel}")  # as people name it: WeCom, 钉钉
    a.secrets[variable] = address(args.webhook_url or ask(t("ask_webhook", channel=robot), "", address))
    host = urllib.parse.urlsplit(a.secrets[variable]).hostname or ""
    if a.secrets[variable].startswith("http://") and host not in ("localhost", "127.0.0.1", "::1"):
        say(t("plain_http", channel=robot))  # the address holds the robot's key: anyone on the way reads it
    if a.channel in ROBOT_SECRET:
        signing = f"COSTWARDEN_RECEIVER_{name}_SECRET"

        def key(secret: str) -> str:
            return _valid(compose.VARIABLES[signing], _plain(secret, t("what_secret"), t), t("what_secret"), t)

        secret = args.secret or ask(t("ask_secret", kind=ROBOT_SECRET[a.channel]), "", lambda s: s and key(s))
        if secret:
            a.secrets[signing] = key(secret)


CHANNEL_NAMES = {"企业微信": "wecom", "钉钉": "dingtalk", "飞书": "feishu", "lark": "feishu"}
"""The robots as people name them, for the channel question."""

RUN_FILES = ("pricing.yml", "receiver.yml", "secrets.env")
"""What init writes for `make run` (secrets.env only with a secret), in --dir."""


def _set_aside(path: Path) -> Path:
    """`path` renamed to `<name>.<date-time>.bak` (a number added if that exists): a second --force keeps the first
    one's files too."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    kept = path.with_name(f"{path.name}.{stamp}.bak")
    for n in itertools.count(2):
        if not kept.exists():
            break
        kept = path.with_name(f"{path.name}.{stamp}-{n}.bak")
    path.rename(kept)
    return kept


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
    parser.add_argument(
        "--api-key-id",
        dest="api_key_id",
        help="lighthouse, tencent, alibaba: the billing API's "
        "read-only key (TENCENTCLOUD_SECRET_ID, ALIBABA_CLOUD_ACCESS_KEY_ID; default: none, no API)",
    )
    parser.add_argument("--api-key-secret", dest="api_key_secret", help="its secret half")
    parser.add_argument(
        "--instance",
        help="with a key: this instance's id (lhins-…, ins-…, i-…, a Simple Application Server's), for its plan's list "
        "price and (Lighthouse, Simple Application Server) its traffic package",
    )
    parser.add_argument("--region", help="with --instance: its region (ap-guangzhou, cn-hangzhou, …)")
    parser.add_argument("--api-url", dest="api_url", help="the provider API's address if not its public one (a proxy)")
    parser.add_argument("--dir", type=Path, default=CONFIG_DIR, help="--target run: where the configs go")
    parser.add_argument("--env-file", dest="env_file", type=Path, default=ROOT / ".env", help="--target compose")
    parser.add_argument("--force", action="store_true",
                        help="replace the configs a run before wrote (the old ones are kept as *.bak)")  # fmt: skip
    parser.add_argument("--yes", action="store_true", help="ask nothing: flags, detection and defaults only")
    parser.add_argument("--ask", action="store_true", help="ask even when the input is not a terminal (scripts)")
    parser.add_argument("--sys-root", dest="sys_root", type=Path, default=Path("/"),
                        help="read the machine's DMI and memory under this root (a chroot; tests)")  # fmt: skip
    parser.add_argument("--no-test", dest="test", action="store_false", help="do not send the test message")
    args = parser.parse_args(argv)
    args.interactive = not args.yes and (args.ask or sys.stdin.isatty())
    machine = read_machine(args.sys_root)
    t = Words(language(args.language))
    targets = [args.env_file] if args.target == "compose" else [args.dir / name for name in RUN_FILES]
    existing = [path for path in targets if path.exists()]
    if existing and not args.force:  # before any question: the user's own edits and secrets are never lost
        print(f"costwarden init: {t('configs_exist', paths=', '.join(map(str, existing)))}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="costwarden-init-") as scratch:
        try:
            answers = gather(args, machine, _asker(args.interactive, print, sys.stdin.isatty()), print, t)
            table = pricing_config(answers, machine)
            resolve(table, source="init")  # what the exporter will load: refused here, not at `make run`
            settings = receiver_settings(answers, Path(scratch))  # and what the receiver will: before any write
        except (ConfigError, SettingsError) as exc:
            print(f"costwarden init: {exc}", file=sys.stderr)
            return 2
        except (EOFError, KeyboardInterrupt):
            print(f"\ncostwarden init: {t('stopped')}", file=sys.stderr)
            return 1
        text = ""
        if args.target == "compose":
            if answers.plan is None:
                print(f"costwarden init: {t('compose_presets')}", file=sys.stderr)
                return 2
            text = env_file(answers, (ROOT / ".env.example").read_text())
            try:  # compose's own check, so `docker compose up` does not refuse what init wrote
                compose.check(dict(line.split("=", 1) for line in text.splitlines() if "=" in line and line[0] != "#"))
            except compose.EnvError as exc:
                print("\n".join(exc.lines), file=sys.stderr)
                return 2
        if args.test and answers.channel != "console":  # before anything is written: a failed test leaves nothing
            results = send_test(settings)
            for name, ok, said in results:
                print(t("test_result", name=name, said=said))
                if not ok and name == answers.channel:
                    print(f"costwarden init: {t('test_refused')}", file=sys.stderr)
                    return 1
        kept = [_set_aside(path) for path in existing]  # --force: kept beside, with its mode (secrets stay 0600)
        if args.target == "compose":
            args.env_file.touch(mode=0o600)
            args.env_file.chmod(0o600)  # before the secrets are in it, also when it existed
            args.env_file.write_text(text)
            written = [args.env_file]
            start = "docker compose up -d"
        else:
            written = write_run(answers, machine, args.dir)
            start = "make run" if args.dir == CONFIG_DIR else f"make run ARGS='--config-dir {args.dir}'"
        print(t("written", paths=", ".join(str(p) for p in written)))
        if existing:
            print(t("kept", paths=", ".join(map(str, kept))))
        print(t("next", start=start))
        print(t("when"))
        return 0
