"""receiver.yml: typed settings, validated at start-up; secrets come from the environment or *_FILE files."""

from __future__ import annotations

import difflib
import os
import re
import typing
import urllib.parse
from dataclasses import dataclass
from datetime import time
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError

from costwarden import catalogue as costwarden_catalogue
from costwarden import yamlfile
from costwarden.secrets import SecretFileError, env_or_file
from receiver.links import Signer
from receiver.message import catalogue


@dataclass(frozen=True)
class PublicUrls:
    """The addresses people open from a phone. A link to one of these is kept as it is (the user chose it); any other
    link is kept only if its host could open elsewhere (not loopback, not a bare container name)."""

    grafana: str | None = None
    prometheus: str | None = None
    alertmanager: str | None = None
    actions: Signer | None = None
    """Makes the signed links to an alert's actions (receiver_url set), for the channels without buttons."""


def _refusal(key: str, **params: object) -> PydanticCustomError:
    """A validator's refusal as an error type of its own (the catalogue's config_errors key), so that _explain says
    it in the file's language; its English words are the catalogue's too, read only when it is raised."""
    return PydanticCustomError(
        key, costwarden_catalogue.tables("en")["config_errors"][key], {k: str(v) for k, v in params.items()}
    )


class SettingsError(Exception):
    """A receiver.yml that cannot be used; names the file, the field and the reason."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Listen(_Model):
    host: str = Field(default="127.0.0.1", description="loopback by default; compose sets 0.0.0.0 on its network")
    port: int = Field(default=9095, gt=0, lt=65536)


class Intake(_Model):
    max_body_bytes: int = Field(default=16 * 2**20, ge=2**20, description="aiohttp's 1 MiB default loses big groups")
    dedup_window_seconds: float = Field(default=3600.0, ge=0)
    max_inflight_bytes: int = Field(
        default=32 * 2**20, ge=2**20, description="bodies read at once beyond this wait (503, Alertmanager retries)"
    )


class Auth(_Model):
    """Optional: Alertmanager's http_config can send a bearer token or basic auth (or both are accepted)."""

    bearer_token: str | None = Field(default=None, min_length=1)
    basic_username: str | None = Field(default=None, min_length=1)
    basic_password: str | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _pairs(self) -> Auth:
        """Half a basic pair must not turn authentication off (or accept an empty password): it is refused."""
        if (self.basic_username is None) != (self.basic_password is None):
            given, missing = ("basic_username", "basic_password")[:: 1 if self.basic_username else -1]
            raise _refusal("auth_pair", given=given, missing=missing)
        return self

    @property
    def enabled(self) -> bool:
        return self.bearer_token is not None or self.basic_username is not None


def _authority(url: str) -> tuple[str, str, str, str]:
    """(scheme://, userinfo, host[:port], rest): the authority ends at the first `/`, `?` or `#`, and its userinfo
    at the last `@` in it (a password may hold `@` only percent-encoded, but people write it raw)."""
    scheme, _, tail = url.partition("://")
    cut = min((i for i in (tail.find("/"), tail.find("?"), tail.find("#")) if i >= 0), default=len(tail))
    userinfo, _, hostport = tail[:cut].rpartition("@")
    return f"{scheme}://", userinfo, hostport, tail[cut:]


def without_userinfo(url: str) -> str:
    """The URL as it may be shown (messages, logs, --config.check) and requested: `user:password@` taken out."""
    scheme, _, hostport, rest = _authority(url)
    return f"{scheme}{hostport}{rest}"


class Prometheus(_Model):
    """Where the context of an alert is read from; a dead Prometheus only thins the analysis."""

    url: str = Field(default="http://localhost:9090", pattern=r"^https?://",
                     description="user:password@ in it is sent as basic auth, and shown nowhere")  # fmt: skip
    timeout_seconds: float = Field(default=5.0, gt=0, le=60)

    @field_validator("url")
    @classmethod
    def _userinfo_encoded(cls, value: str) -> str:
        if "@" in _authority(value)[3].split("?")[0]:
            raise _refusal("at_after_host")
        return value

    @property
    def credentials(self) -> tuple[str, str] | None:
        """(user, password) from the URL's userinfo, percent-decoded; None without one."""
        userinfo = _authority(self.url)[1]
        if not userinfo:
            return None
        user, _, password = userinfo.partition(":")
        return urllib.parse.unquote(user), urllib.parse.unquote(password)


class Ollama(_Model):
    """The local model that writes the analysis; absent, slow or wrong, the deterministic summary is sent instead."""

    enabled: bool = True
    host: str = Field(default="http://127.0.0.1:11434", pattern=r"^https?://")
    model: str = Field(default="llama3.2:3b", min_length=1)
    timeout_seconds: float = Field(
        default=120.0, gt=0, description="one deadline for the whole analysis, retry included"
    )
    concurrency: int = Field(default=1, ge=1, le=16, description="Ollama serves one request per model by default")
    language: Literal["en", "zh"] = "en"
    num_ctx: int = Field(default=4096, ge=512)
    num_predict: int = Field(default=768, ge=64)
    seed: int = 7
    keep_alive: str = "30m"


class ConsoleChannel(_Model):
    type: Literal["console"]
    name: str = "console"


class FileChannel(_Model):
    type: Literal["file"]
    name: str = "file"
    path: Path


class _HttpChannel(_Model):
    timeout_seconds: float = Field(default=15.0, gt=0, le=120)


class TelegramChannel(_HttpChannel):
    type: Literal["telegram"]
    name: str = "telegram"
    bot_token: str = Field(min_length=1, description="secret: COSTWARDEN_RECEIVER_<NAME>_BOT_TOKEN or …_FILE")
    chat_id: str | int
    api_url: str = Field(default="https://api.telegram.org", pattern=r"^https?://")


class SlackChannel(_HttpChannel):
    type: Literal["slack"]
    name: str = "slack"
    webhook_url: str = Field(pattern=r"^https?://", description="secret: COSTWARDEN_RECEIVER_<NAME>_WEBHOOK_URL")
    bot_token: str | None = Field(
        default=None, description="secret: COSTWARDEN_RECEIVER_<NAME>_BOT_TOKEN (xoxb-…, scope files:write): charts "
        "are uploaded as files; without it a chart is not sent (the message's links remain)",
    )  # fmt: skip
    channel_id: str | None = Field(default=None, pattern=r"^[A-Z0-9]+$", description="where charts are uploaded (C…)")
    api_url: str = Field(default="https://slack.com/api", pattern=r"^https?://")

    @model_validator(mode="after")
    def _channel_for_files(self) -> SlackChannel:
        if self.bot_token and not self.channel_id:
            raise _refusal("slack_files_channel")
        return self


class DiscordChannel(_HttpChannel):
    type: Literal["discord"]
    name: str = "discord"
    webhook_url: str = Field(pattern=r"^https?://", description="secret: COSTWARDEN_RECEIVER_<NAME>_WEBHOOK_URL")


class WebhookChannel(_HttpChannel):
    type: Literal["webhook"]
    name: str = "webhook"
    url: str = Field(pattern=r"^https?://")
    secret: str | None = Field(default=None, description="signs the body: X-Costwarden-Signature: sha256=<hmac>")


class WeComChannel(_HttpChannel):
    """A WeCom (企业微信) group robot: its webhook URL carries the key."""

    type: Literal["wecom"]
    name: str = "wecom"
    webhook_url: str = Field(pattern=r"^https?://", description="secret: COSTWARDEN_RECEIVER_<NAME>_WEBHOOK_URL")


class _SignedRobot(_HttpChannel):
    """A robot whose URL carries its token and whose optional `secret` signs every request."""

    webhook_url: str = Field(pattern=r"^https?://", description="secret: COSTWARDEN_RECEIVER_<NAME>_WEBHOOK_URL")
    secret: str | None = Field(default=None, description="secret: COSTWARDEN_RECEIVER_<NAME>_SECRET")


class DingTalkChannel(_SignedRobot):
    """A DingTalk (钉钉) custom robot: `secret` (SEC…) turns on signing (加签)."""

    type: Literal["dingtalk"]
    name: str = "dingtalk"


class FeishuChannel(_SignedRobot):
    """A Feishu / Lark (飞书) custom bot: `secret` turns on signature verification."""

    type: Literal["feishu"]
    name: str = "feishu"


class EmailChannel(_Model):
    type: Literal["email"]
    name: str = "email"
    host: str = Field(min_length=1)
    port: int = Field(default=587, gt=0, lt=65536)
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: str | None = None
    password: str | None = Field(default=None, description="secret: COSTWARDEN_RECEIVER_<NAME>_PASSWORD or …_FILE")
    sender: str = Field(pattern=r"^[^@\s]+@[^@\s]+$")
    to: list[Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+$")]] = Field(min_length=1)
    timeout_seconds: float = Field(default=30.0, gt=0, le=300)


Channel = Annotated[
    ConsoleChannel
    | FileChannel
    | TelegramChannel
    | SlackChannel
    | DiscordChannel
    | WebhookChannel
    | EmailChannel
    | WeComChannel
    | DingTalkChannel
    | FeishuChannel,
    Field(discriminator="type"),
]
SECRET_FIELDS = ("bot_token", "webhook_url", "secret", "password")


def _console_only() -> list[Channel]:
    return [ConsoleChannel(type="console")]


class Route(_Model):
    """Alerts whose labels match (all of `match` exactly, all of `match_re` as full regexes) go to `channels`."""

    match: dict[str, str] = Field(default_factory=dict)
    match_re: dict[str, str] = Field(default_factory=dict)
    channels: list[str] = Field(min_length=1)

    @model_validator(mode="after")
    def _compiles(self) -> Route:
        for label, pattern in self.match_re.items():
            try:
                re.compile(pattern)
            except re.error as exc:
                raise _refusal("not_regex", label=label, error=exc) from exc
        return self

    def matches(self, labels: dict[str, str]) -> bool:
        return all(labels.get(k) == v for k, v in self.match.items()) and all(
            re.fullmatch(p, labels.get(k, "")) for k, p in self.match_re.items()
        )


class Processing(_Model):
    workers: int = Field(default=2, ge=1, le=64, description="alert groups analysed at once (one group in order)")
    shutdown_grace_seconds: float = Field(default=20.0, ge=0, description="in-flight work gets this long at stop")
    page_first: list[str] = Field(
        default_factory=lambda: ["critical"], description="severities whose facts are sent before the analysis"
    )
    max_attempts: int = Field(default=5, ge=1, le=100, description="a notification failing this often is parked")
    admin_channels: list[str] | None = Field(
        default=None, description="told about parked notifications; none: the channels a warning goes to"
    )


class Delivery(_Model):
    concurrency: int = Field(default=4, ge=1, le=64, description="sends in flight at once, over all channels")
    retry_base_seconds: float = Field(default=5.0, gt=0)
    retry_max_seconds: float = Field(default=300.0, gt=0, description="cap of the back-off between tries")
    max_age_hours: float = Field(default=48.0, gt=0, description="a send still failing after this long is parked")


class Charts(_Model):
    """A picture after every alert about money and every digest (receiver/chart): cost per hour against the usual."""

    enabled: bool = True
    timeout_seconds: float = Field(
        default=10.0, gt=0, le=120, description="a chart not drawn in time is left out; the message never waits for it"
    )


class Actions(_Model):
    """Diagnostics and remediation the exporter runs for an alert (docs/actions.md); off without `url`."""

    url: str | None = Field(default=None, pattern=r"^https?://", description="the exporter, e.g. http://127.0.0.1:9877")
    token: str | None = Field(default=None, description="secret: COSTWARDEN_RECEIVER_ACTIONS_TOKEN or …_FILE")
    timeout_seconds: float = Field(default=60.0, gt=0, le=600, description="per action, the exporter's run included")

    @model_validator(mode="after")
    def _token_with_url(self) -> Actions:
        if self.url and not self.token:
            raise _refusal("actions_token")
        return self


class Heartbeat(_Model):
    """The dead man's switch (rules: CostwardenWatchdog): a URL pinged on every repeat of the watchdog alert."""

    url: str | None = Field(
        default=None,
        pattern=r"^https?://",
        description="secret: COSTWARDEN_RECEIVER_HEARTBEAT_URL or …_FILE (the URL holds a key)",
    )
    method: Literal["GET", "POST"] = "GET"
    timeout_seconds: float = Field(default=10.0, gt=0, le=60)


class Buttons(_Model):
    """Buttons under each firing alert on Telegram (silence 1 h / 24 h, acknowledge), answered by long-polling the
    Bot API (no public URL needed) and acted on through Alertmanager's API v2 (docs/receiver.md#buttons)."""

    alertmanager_api: str | None = Field(
        default=None, pattern=r"^https?://",
        description="where the receiver creates silences (Alertmanager's API); unset: no buttons",
    )  # fmt: skip
    allowed_users: list[int] = Field(
        default_factory=list, description="Telegram user ids that may act; empty: anyone in the channel's own chat"
    )
    poll_timeout_seconds: int = Field(default=25, ge=1, le=50)


WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _clock(value: object) -> object:
    """A number is never a time of day: `at: 9` meant 09:00, not 9 minutes after midnight, and `at: 900` (09:00 as
    soldiers write it) meant nothing like the 15:00 it was read as. The file loader reads an unquoted 15:00 as text
    (costwarden.yamlfile), so a number here was written as one."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        raise _refusal("time_ambiguous", value=value)
    if isinstance(value, str) and (hours := re.fullmatch(r"\s*([0-9]):([0-5][0-9])\s*", value)):
        return time(int(hours[1]), int(hours[2]))  # 7:05, as people write it; the parser wants 07:05
    return value


class DailyDigest(_Model):
    enabled: bool = True
    at: time = Field(default=time(9, 0), description="local time (HH:MM) the digest of the day before is sent")

    _at = field_validator("at", mode="before")(_clock)


class WeeklyDigest(_Model):
    enabled: bool = False
    at: time = time(9, 0)
    _at = field_validator("at", mode="before")(_clock)
    weekday: Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"] = "monday"
    """The digest of the seven days before this day is sent on it."""


class Digest(_Model):
    """Spend digests: the receiver schedules them itself (no cron); one per period per channel."""

    daily: DailyDigest = DailyDigest()
    weekly: WeeklyDigest = WeeklyDigest()
    timezone: str = Field(default="UTC", description="IANA zone of `at` and of the days summed (DST-aware)")
    channels: list[str] | None = Field(default=None, description="none: the channels a warning alert goes to")
    commentary: bool = Field(default=True, description="a grounded line from the local model, when it answers")
    top_workloads: int = Field(default=5, ge=1, le=20)
    late_after_minutes: float = Field(default=15.0, gt=0, description="sent later than this after `at`: marked late")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise _refusal("unknown_zone", value=repr(value)) from exc
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class Settings(_Model):
    listen: Listen = Listen()
    data_dir: Path = Path("data")
    keep_days: int = Field(
        default=90, ge=35, le=36500, description="finished notifications, their messages and audit steps older than "
        "this are deleted from the outbox (hourly); at least 35: the digest counts 30 days of marks",
    )  # fmt: skip
    intake: Intake = Intake()
    auth: Auth = Auth()
    prometheus: Prometheus = Prometheus()
    ollama: Ollama = Ollama()
    processing: Processing = Processing()
    delivery: Delivery = Delivery()
    channels: list[Channel] = Field(default_factory=_console_only, min_length=1)
    routes: list[Route] = Field(default_factory=list, description="first match wins; no match: default_channels")
    default_channels: list[str] | None = Field(default=None, description="none: every channel")
    grafana_url: str | None = Field(default=None, pattern=r"^https?://", description="makes dashboard links absolute")
    prometheus_url: str | None = Field(
        default=None, pattern=r"^https?://", description="where people open Prometheus: graph links are rebased onto it"
    )
    alertmanager_url: str | None = Field(
        default=None, pattern=r"^https?://", description="where people open Alertmanager: silence links are made on it"
    )
    receiver_url: str | None = Field(
        default=None, pattern=r"^https?://", description="where people reach this receiver (a proxy, a VPN): "
        "messages without buttons (Slack, Discord, email, robots) get signed links to the alert's actions",
    )  # fmt: skip
    digest: Digest = Digest()
    charts: Charts = Charts()
    actions: Actions = Actions()
    heartbeat: Heartbeat = Heartbeat()
    buttons: Buttons = Buttons()

    @model_validator(mode="after")
    def _links_need_alertmanager(self) -> Settings:
        if self.receiver_url and not self.buttons.alertmanager_api:
            raise _refusal("links_need_alertmanager")
        return self

    @model_validator(mode="after")
    def _actions_need_auth(self) -> Settings:
        """With actions on, a webhook can make the exporter act: nobody may forge one."""
        if self.actions.url and not self.auth.enabled:
            raise _refusal("actions_need_auth")
        return self

    @model_validator(mode="after")
    def _unique_channel_names(self) -> Settings:
        names = [c.name for c in self.channels]
        if len(set(names)) != len(names):
            twice = ", ".join(sorted({n for n in names if names.count(n) > 1}))
            raise _refusal("unique_channel_names", names=twice)
        for where, wanted in [
            ("default_channels", self.default_channels or []),
            ("digest.channels", self.digest.channels or []),
            ("processing.admin_channels", self.processing.admin_channels or []),
        ] + [(f"routes.{i}.channels", r.channels) for i, r in enumerate(self.routes)]:
            unknown = sorted(set(wanted) - set(names))
            if unknown:
                raise _refusal("unknown_channel", where=where, unknown=", ".join(unknown), names=", ".join(names))
        return self

    def channels_for(self, labels: dict[str, str]) -> list[str]:
        for route in self.routes:
            if route.matches(labels):
                return route.channels
        return self.default_channels if self.default_channels is not None else [c.name for c in self.channels]

    def admin_channels(self) -> list[str]:
        if self.processing.admin_channels is not None:
            return self.processing.admin_channels
        return self.channels_for({"severity": "warning", "status": "firing"})

    def public_urls(self) -> PublicUrls:
        return PublicUrls(self.grafana_url, self.prometheus_url, self.alertmanager_url)

    def digest_channels(self) -> list[str]:
        if self.digest.channels is not None:
            return list(dict.fromkeys(self.digest.channels))
        return self.channels_for({"severity": "warning", "status": "firing"})

    @property
    def outbox_path(self) -> Path:
        return self.data_dir / "outbox.sqlite3"


def _secret(name: str) -> str | None:
    """COSTWARDEN_RECEIVER_<NAME>, or the contents of the file named by COSTWARDEN_RECEIVER_<NAME>_FILE."""
    try:
        return env_or_file(f"COSTWARDEN_RECEIVER_{name}", os.environ)
    except SecretFileError as exc:
        raise SettingsError(str(exc)) from exc


def _channel_secrets(channel: object) -> object:
    """A channel's secret from COSTWARDEN_RECEIVER_<NAME>_<FIELD> (or …_FILE) wins over the file's value."""
    if not isinstance(channel, dict):
        return channel
    name = str(channel.get("name") or channel.get("type") or "")
    out = dict(channel)
    for field in SECRET_FIELDS:
        secret = _secret(f"{re.sub(r'[^A-Za-z0-9]', '_', name).upper()}_{field.upper()}")
        if secret is not None:
            out[field] = secret
    return out


def load(path: Path | None) -> Settings:
    raw: object = {}
    source = "<embedded defaults>"
    if path is not None:
        source = str(path)
        try:
            raw = yamlfile.read(path) or {}  # an empty document ([] or '') means the defaults, as no file does
        except yamlfile.YamlFileError as exc:
            raise SettingsError(str(exc)) from exc
    if not isinstance(raw, dict):
        raise _not_mapping(path, source, None, raw, _language({}))
    for section in ("auth", "actions"):
        if raw.get(section) is not None and not isinstance(raw[section], dict):
            raise _not_mapping(path, source, section, raw[section], _language(raw))
    auth = dict(raw.get("auth") or {})
    for field, name in (("bearer_token", "BEARER_TOKEN"), ("basic_password", "BASIC_PASSWORD")):
        secret = _secret(name)
        if secret is not None:
            auth[field] = secret
    if auth:
        raw = {**raw, "auth": auth}
    heartbeat_url = _secret("HEARTBEAT_URL")
    if heartbeat_url is not None:
        if raw.get("heartbeat") is not None and not isinstance(raw["heartbeat"], dict):
            raise _not_mapping(path, source, "heartbeat", raw["heartbeat"], _language(raw))
        raw = {**raw, "heartbeat": {**(raw.get("heartbeat") or {}), "url": heartbeat_url}}
    actions_token = _secret("ACTIONS_TOKEN")
    if actions_token is not None:
        raw = {**raw, "actions": {**(raw.get("actions") or {}), "token": actions_token}}
    if isinstance(raw.get("channels"), list):
        raw = {**raw, "channels": [_channel_secrets(c) for c in raw["channels"]]}
    try:
        return Settings.model_validate(raw)
    except ValidationError as exc:
        language = _language(raw)
        where, reason = _explain(exc, raw, language)
        written = _as_written([str(p) for p in exc.errors()[0]["loc"]], raw)
        raise _field_error(path, source, written, where, reason, language) from exc


def _as_written(loc: list[str], raw: object) -> str:
    """An error's path as the file writes it, for its line: pydantic names a channel's type in the path
    (channels.0.slack.webhook_url), which is no key of the file."""
    parts: list[str] = []
    node = raw
    for part in loc:
        if isinstance(node, dict) and part not in node and node.get("type") == part:
            continue
        parts.append(part)
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            node = None
    return ".".join(parts)


def _field_error(path: Path | None, source: str, written: str, where: str, reason: str, language: str) -> SettingsError:
    """`source:line: field where: reason` in the file's language; the line is where `written` (the field's path as
    the file writes it) is, where an editor jumps (as the exporter's)."""
    line = yamlfile.line_of(path.read_text(encoding="utf-8"), written) if path is not None and written else None
    at = source if line is None else f"{source}:{line}"
    return SettingsError(catalogue.of(language).config_errors["field"].format(source=at, where=where, reason=reason))


def _not_mapping(path: Path | None, source: str, where: str | None, value: object, language: str) -> SettingsError:
    """A section the secrets from the environment are merged into, given as something else than a mapping."""
    reason = costwarden_catalogue.say("exporter_errors", "mapping", language, kind=type(value).__name__)
    shown = where or costwarden_catalogue.say("exporter_errors", "top_level", language)
    return _field_error(path, source, where or "", shown, reason, language)


def _language(raw: dict[str, typing.Any]) -> str:
    """The language of the file's own messages (ollama.language), else $COSTWARDEN_LANGUAGE, else the locale's."""
    ollama = raw.get("ollama")
    return costwarden_catalogue.language(ollama.get("language") if isinstance(ollama, dict) else None)


def _models(annotation: object) -> list[type[BaseModel]]:
    """The settings models an annotation holds, through Optional, list, Union and Annotated."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for inner in typing.get_args(annotation) for m in _models(inner)]


def _field_names(loc: list[str]) -> set[str]:
    """The field names valid where `loc` points (its last part is the unknown one), for "did you mean": a name valid
    elsewhere in the file is no answer. List indices and a channel's type tag are not fields: they are stepped over."""
    models: list[type[BaseModel]] = [Settings]
    for part in loc[:-1]:
        inner = [m for model in models if part in model.model_fields
                 for m in _models(model.model_fields[part].annotation)]  # fmt: skip
        tagged = [m for m in models if "type" in m.model_fields
                  and part in typing.get_args(m.model_fields["type"].annotation)]  # fmt: skip
        models = inner or tagged or models  # a field; or a channel's type tag: that type's fields only
    return {name for model in models for name in model.model_fields}


def _explain(exc: ValidationError, raw: object, language: str) -> tuple[str, str]:
    """(dotted field, the first problem in words a person can act on): a misspelt field gets its likely name, a
    missing secret the variable that supplies it (instead of the library's "Extra inputs are not permitted", "Field
    required"); the library's other reasons in the file's language where the catalogue has them."""
    words = catalogue.of(language).config_errors
    first = exc.errors()[0]
    loc = [str(p) for p in first["loc"]]
    where = ".".join(loc) or costwarden_catalogue.say("exporter_errors", "top_level", language)
    if first["type"] == "extra_forbidden" and loc:
        close = difflib.get_close_matches(loc[-1], sorted(_field_names(loc)), n=1, cutoff=0.6)
        hint = words["did_you_mean"].format(name=close[0]) if close else words["see_docs"]
        return where, words["unknown"].format(hint=hint)
    if first["type"] == "missing" and loc and loc[-1] in SECRET_FIELDS and loc[0] == "channels" and len(loc) > 1:
        channels = raw.get("channels") if isinstance(raw, dict) else None
        channel = channels[int(loc[1])] if isinstance(channels, list) and loc[1].isdigit() else {}
        name = str(channel.get("name") or channel.get("type") or "") if isinstance(channel, dict) else ""
        variable = f"COSTWARDEN_RECEIVER_{re.sub(r'[^A-Za-z0-9]', '_', name).upper()}_{loc[-1].upper()}"
        return where, words["secret"].format(variable=variable)
    template = words.get(first["type"]) if language != "en" else None  # English: the library's own words
    ctx = dict(first.get("ctx", {}))
    if isinstance(ctx.get("expected"), str):  # the library's "'en' or 'zh'": its "or" in the file's language
        ctx["expected"] = ctx["expected"].replace(", ", words["comma"]).replace(" or ", words["or"])
    try:
        reason = template.format(**ctx) if template else first["msg"]
    except (KeyError, IndexError):  # a context the template does not expect: the library's own words
        reason = first["msg"]
    return where, reason
