"""The pricing table: load a user's pricing.yml, merge it over a built-in preset, validate it.

Validation happens once, at start-up, so that a wrong price is a refusal to start with the file, field and reason —
never a silently wrong bill later. Everything downstream receives a frozen, fully resolved `PricingTable`.
"""

from __future__ import annotations

import importlib.resources
import zoneinfo
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

DEFAULT_CPU_RAM_RATIO = 7.46
"""OpenCost's default price ratio of one vCPU-hour to one GiB-hour of memory."""


class ConfigError(Exception):
    """A pricing file that cannot be used; the message names the file, the field and the reason."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Machine(_Model):
    vcpus: float = Field(gt=0, description="vCPUs of the plan")
    memory_gib: float = Field(gt=0, description="memory of the plan, GiB")
    disk_gib: float = Field(ge=0, description="disk included in the plan, GiB")


class PlanPrice(_Model):
    hourly: float = Field(ge=0, description="the plan's flat hourly price")
    monthly: float | None = Field(default=None, ge=0, description="monthly cap; null = no cap (e.g. EC2)")


class UnitPrices(_Model):
    cpu_per_vcpu_hour: float | None = Field(default=None, ge=0)
    memory_per_gib_hour: float | None = Field(default=None, ge=0)
    disk_per_gib_month: float = Field(default=0.0, ge=0)


class Egress(_Model):
    included_gib: float = Field(default=0.0, ge=0, description="egress included per billing month")
    overage_per_gib: float = Field(default=0.0, ge=0, description="price of each GiB beyond the included egress")


class Volume(_Model):
    name: str = Field(min_length=1)
    size_gib: float = Field(gt=0)
    per_gib_month: float = Field(ge=0)


class Snapshots(_Model):
    size_gib: float = Field(default=0.0, ge=0)
    per_gib_month: float = Field(default=0.0, ge=0)


class Backups(_Model):
    percent_of_plan: float = Field(default=0.0, ge=0, le=100)


class Ips(_Model):
    count: int = Field(default=0, ge=0)
    monthly_each: float = Field(default=0.0, ge=0)


class Extras(_Model):
    volumes: tuple[Volume, ...] = ()
    snapshots: Snapshots = Snapshots()
    backups: Backups = Backups()
    ips: Ips = Ips()


class Budget(_Model):
    monthly: float | None = Field(default=None, gt=0)


class Billing(_Model):
    timezone: str = "UTC"
    cycle_day: int = Field(default=1, ge=1, le=28, description="day of the month the billing period starts")

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r} (use an IANA name such as 'Europe/Berlin')") from exc
        return value


class PricingTable(_Model):
    """A fully resolved pricing table; see docs/configuration.md for every field."""

    provider: str = "custom"
    plan: str = ""
    region: str = ""
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")
    hours_per_month: float = Field(default=730.0, gt=0, le=744)
    machine: Machine
    plan_price: PlanPrice
    cpu_ram_ratio: float = Field(default=DEFAULT_CPU_RAM_RATIO, gt=0)
    unit_prices: UnitPrices = UnitPrices()
    egress: Egress = Egress()
    extras: Extras = Extras()
    budget: Budget = Budget()
    billing: Billing = Billing()


def _presets() -> dict[str, Any]:
    text = importlib.resources.files("exporter").joinpath("presets.yml").read_text(encoding="utf-8")
    loaded: dict[str, Any] = yaml.safe_load(text)
    return loaded


def preset_names() -> dict[str, list[str]]:
    """Provider -> plan names, for error messages and `--help`."""
    return {provider: sorted(spec["plans"]) for provider, spec in _presets().items()}


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def resolve(raw: dict[str, Any], source: str = "<embedded default>") -> PricingTable:
    """Merge a user's raw table over its preset and validate the result; raise ConfigError naming `source`."""
    provider = raw.get("provider", "custom")
    if not isinstance(provider, str):
        raise ConfigError(f"{source}: field provider: must be a string")
    merged: dict[str, Any] = {}
    if provider != "custom":
        presets = _presets()
        if provider not in presets:
            known = ", ".join(["custom", *sorted(presets)])
            raise ConfigError(f"{source}: field provider: unknown provider {provider!r} (known: {known})")
        plans = presets[provider]["plans"]
        plan = raw.get("plan")
        if plan not in plans:
            raise ConfigError(
                f"{source}: field plan: unknown {provider} plan {plan!r} (known: {', '.join(sorted(plans))}); "
                "for another plan use provider: custom and give machine and plan_price"
            )
        merged = _merge(presets[provider]["defaults"], plans[plan])
    merged = _merge(merged, raw)
    try:
        table = PricingTable.model_validate(merged)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "(top level)"
        more = f" (and {exc.error_count() - 1} more problem(s))" if exc.error_count() > 1 else ""
        raise ConfigError(f"{source}: field {field}: {first['msg']}{more}") from exc
    _check_derivable(table, source)
    return table


def _check_derivable(table: PricingTable, source: str) -> None:
    disk_share = table.machine.disk_gib * table.unit_prices.disk_per_gib_month / table.hours_per_month
    if disk_share > table.plan_price.hourly and table.unit_prices.cpu_per_vcpu_hour is None:
        raise ConfigError(
            f"{source}: field unit_prices.disk_per_gib_month: the plan's disk alone "
            f"({disk_share:.6f}/h) costs more than the whole plan ({table.plan_price.hourly}/h), "
            "so CPU and memory prices cannot be derived; give unit_prices.cpu_per_vcpu_hour and memory_per_gib_hour"
        )


EMBEDDED_DEFAULT: dict[str, Any] = {"provider": "digitalocean", "plan": "s-1vcpu-1gb"}
"""What runs with no --config.file: a documented example so a newcomer sees numbers at once."""


def load(path: Path | None) -> PricingTable:
    """Read and resolve a pricing file; `None` means the embedded default table."""
    if path is None:
        return resolve(EMBEDDED_DEFAULT)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise ConfigError(f"{path}: not valid YAML{where}: {getattr(exc, 'problem', exc)}") from exc
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: field (top level): expected a mapping of fields, got {type(raw).__name__}")
    return resolve(raw, source=str(path))
