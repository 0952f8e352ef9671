"""receiver.yml: typed settings, validated at start-up; secrets come from the environment or *_FILE files."""

from __future__ import annotations

import os
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from receiver.models import first_problem


class SettingsError(Exception):
    """A receiver.yml that cannot be used; names the file, the field and the reason."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Listen(_Model):
    host: str = "0.0.0.0"  # noqa: S104 - a service: compose publishes it only to Alertmanager's network
    port: int = Field(default=9095, gt=0, lt=65536)


class Intake(_Model):
    max_body_bytes: int = Field(default=16 * 2**20, ge=2**20, description="aiohttp's 1 MiB default loses big groups")
    dedup_window_seconds: float = Field(default=3600.0, ge=0)


class Auth(_Model):
    """Optional: Alertmanager's http_config can send a bearer token or basic auth."""

    bearer_token: str | None = None
    basic_username: str | None = None
    basic_password: str | None = None


class Settings(_Model):
    listen: Listen = Listen()
    data_dir: Path = Path("data")
    intake: Intake = Intake()
    auth: Auth = Auth()

    @property
    def outbox_path(self) -> Path:
        return self.data_dir / "outbox.sqlite3"


def _secret(name: str) -> str | None:
    """COSTWARDEN_RECEIVER_<NAME>, or the contents of the file named by COSTWARDEN_RECEIVER_<NAME>_FILE."""
    env = f"COSTWARDEN_RECEIVER_{name}"
    if os.environ.get(env):
        return os.environ[env]
    path = os.environ.get(f"{env}_FILE")
    if path:
        try:
            return Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise SettingsError(f"{env}_FILE={path}: cannot read: {exc.strerror or exc}") from exc
    return None


def load(path: Path | None) -> Settings:
    raw: object = {}
    source = "<embedded defaults>"
    if path is not None:
        source = str(path)
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except OSError as exc:
            raise SettingsError(f"{path}: cannot read: {exc.strerror or exc}") from exc
        except yaml.YAMLError as exc:
            raise SettingsError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise SettingsError(f"{source}: field (top level): expected a mapping, got {type(raw).__name__}")
    auth = dict(raw.get("auth") or {})
    for field, name in (("bearer_token", "BEARER_TOKEN"), ("basic_password", "BASIC_PASSWORD")):
        secret = _secret(name)
        if secret is not None:
            auth[field] = secret
    if auth:
        raw = {**raw, "auth": auth}
    try:
        return Settings.model_validate(raw)
    except ValidationError as exc:
        raise SettingsError(f"{source}: field {first_problem(exc)}") from exc
