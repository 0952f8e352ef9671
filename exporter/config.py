"""The pricing table: load a user's pricing.yml, merge it over a built-in preset, validate it.

Validation happens once, at start-up, so that a wrong price is a refusal to start with the file, field and reason —
never a silently wrong bill later. Everything downstream receives a frozen, fully resolved `PricingTable`.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib.resources
import math
import re
import types
import typing
import zoneinfo
from pathlib import Path
from typing import Any

import yaml

from costwarden import yamlfile
from costwarden.catalogue import say

DEFAULT_CPU_RAM_RATIO = 7.46
"""OpenCost's default price ratio of one vCPU-hour to one GiB-hour of memory."""
HOURS_PER_MONTH = 730.0
"""A month of hours, the table's default: a monthly price over it is the hourly one, an hourly price times it the
month (init prices a pay-as-you-go ECS instance so)."""


def explain(key: str, **params: object) -> str:
    """One of the exporter's error words, in $COSTWARDEN_LANGUAGE (else the locale's language)."""
    return say("exporter_errors", key, **params)


class ConfigError(Exception):
    """A config file that cannot be used; the message names the file (and line), the field and the reason, in the
    user's language."""

    def __init__(self, message: str, *, field: str | None = None, reason: str = "") -> None:
        super().__init__(message)
        self.field, self.reason = field, reason

    @classmethod
    def at(cls, source: str, field: str, reason: str) -> ConfigError:
        where = field or explain("top_level")
        return cls(say("config_errors", "field", source=source, where=where, reason=reason), field=field,
                   reason=reason)  # fmt: skip

    def within(self, source: str) -> ConfigError:
        """The same problem said of `source` (a file, or file:line); a problem without a field is left as it is."""
        return self if self.field is None else ConfigError.at(source, self.field, self.reason)


def _spec(default: Any = dataclasses.MISSING, **rules: Any) -> Any:
    """A field with validation rules (ge, gt, le, pattern, check) kept in its metadata."""
    if isinstance(default, tuple | list | dict) or dataclasses.is_dataclass(default):
        return dataclasses.field(default_factory=lambda: default, metadata=rules)
    return dataclasses.field(default=default, metadata=rules)


def _timezone(value: str) -> str | None:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return explain("timezone", value=repr(value))
    return None


# The exporter validates with these few frozen dataclasses rather than pydantic: pydantic alone adds ~10 MiB of RSS,
# a quarter of the exporter's budget on a 512 MiB VPS.
@dataclasses.dataclass(frozen=True)
class Machine:
    vcpus: float = _spec(gt=0)
    memory_gib: float = _spec(gt=0)
    disk_gib: float = _spec(ge=0)


@dataclasses.dataclass(frozen=True)
class PlanPrice:
    hourly: float = _spec(ge=0)
    monthly: float | None = _spec(None, ge=0)
    """The monthly cap; None = no cap (EC2)."""


@dataclasses.dataclass(frozen=True)
class UnitPrices:
    cpu_per_vcpu_hour: float | None = _spec(None, ge=0)
    memory_per_gib_hour: float | None = _spec(None, ge=0)
    disk_per_gib_month: float = _spec(0.0, ge=0)


@dataclasses.dataclass(frozen=True)
class Egress:
    included_gib: float = _spec(0.0, ge=0)
    overage_per_gib: float = _spec(0.0, ge=0)


@dataclasses.dataclass(frozen=True)
class Volume:
    name: str = _spec(pattern=r".+")
    size_gib: float = _spec(gt=0)
    per_gib_month: float = _spec(ge=0)


@dataclasses.dataclass(frozen=True)
class Snapshots:
    size_gib: float = _spec(0.0, ge=0)
    per_gib_month: float = _spec(0.0, ge=0)


@dataclasses.dataclass(frozen=True)
class Backups:
    percent_of_plan: float = _spec(0.0, ge=0, le=100)


@dataclasses.dataclass(frozen=True)
class Ips:
    count: int = _spec(0, ge=0)
    monthly_each: float = _spec(0.0, ge=0)


@dataclasses.dataclass(frozen=True)
class Extras:
    volumes: tuple[Volume, ...] = ()
    snapshots: Snapshots = _spec(Snapshots())
    backups: Backups = _spec(Backups())
    ips: Ips = _spec(Ips())


@dataclasses.dataclass(frozen=True)
class Budget:
    monthly: float | None = _spec(None, gt=0)


@dataclasses.dataclass(frozen=True)
class Billing:
    timezone: str = _spec("UTC", check=_timezone)
    cycle_day: int = _spec(1, ge=1, le=28)
    """Day of the month the billing period starts (28 at most, so every month has it)."""


API_OF_PROVIDER = {"digitalocean": "digitalocean", "linode": "linode", "vultr": "vultr", "hetzner": "hetzner",
                   "lightsail": "aws", "ec2": "aws", "lighthouse": "tencent"}  # fmt: skip
APIS = ("digitalocean", "linode", "vultr", "hetzner", "aws", "tencent", "alibaba")


@dataclasses.dataclass(frozen=True)
class ProviderApi:
    """The provider's own billing and transfer figures, polled in the background (docs/billing.md)."""

    enabled: bool = False
    api: str = _spec("", pattern=r"(digitalocean|linode|vultr|hetzner|aws|tencent|alibaba)?")
    """Empty: the provider's own (lightsail and ec2 use aws, lighthouse tencent); required for provider: custom."""
    interval_seconds: float | None = _spec(None, ge=60)
    """Empty: 900 (15 min); 21600 (6 h) for aws, whose Cost Explorer charges USD 0.01 per request."""
    timeout_seconds: float = _spec(20.0, gt=0, le=120)
    url: str = _spec("", pattern=r"(https?://.+)?")
    """Empty: the provider's public API; set for a proxy (or a test server)."""
    server: str = ""
    """Hetzner: this server's name or id in the project (default: this machine's hostname). Tencent Lighthouse: the
    instance id (lhins-…), for its traffic package. Alibaba Simple Application Server: the instance id."""


@dataclasses.dataclass(frozen=True)
class PricingTable:
    """A fully resolved pricing table; see docs/configuration.md for every field."""

    machine: Machine
    plan_price: PlanPrice
    provider: str = "custom"
    plan: str = ""
    region: str = ""
    currency: str = _spec("USD", pattern=r"[A-Z]{3}")
    hours_per_month: float = _spec(HOURS_PER_MONTH, gt=0, le=744)
    cpu_ram_ratio: float = _spec(DEFAULT_CPU_RAM_RATIO, gt=0)
    unit_prices: UnitPrices = _spec(UnitPrices())
    egress: Egress = _spec(Egress())
    extras: Extras = _spec(Extras())
    budget: Budget = _spec(Budget())
    billing: Billing = _spec(Billing())
    provider_api: ProviderApi = _spec(ProviderApi())

    @property
    def api(self) -> str:
        """Which billing API `provider_api` polls ("" when none applies)."""
        return self.provider_api.api or API_OF_PROVIDER.get(self.provider, "")


class _Invalid(Exception):
    def __init__(self, field: str, reason: str) -> None:
        super().__init__(field, reason)
        self.field, self.reason = field, reason


_T = typing.TypeVar("_T")


def build(cls: type[_T], data: Any, source: str) -> _T:
    """Validate `data` against one of these frozen dataclasses (for other config files of the exporter); raises
    ConfigError naming the source and the dotted field."""
    try:
        return _build(cls, data, "")
    except _Invalid as exc:
        raise ConfigError.at(source, exc.field, exc.reason) from exc


def _build(cls: type[_T], data: Any, where: str) -> _T:
    """Check `data` against a dataclass, recursively; the first problem is raised with its dotted field path."""
    if not isinstance(data, dict):
        raise _Invalid(where, explain("mapping", kind=type(data).__name__))
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(fields), key=str)
    if unknown:
        close = difflib.get_close_matches(str(unknown[0]), list(fields), n=1, cutoff=0.6)
        hint = explain("did_you_mean", name=close[0]) if close else ""
        raise _Invalid(_join(where, str(unknown[0])), explain("unknown", hint=hint, known=", ".join(fields)))
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for name, field in fields.items():
        path = _join(where, name)
        if name not in data:
            if field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
                raise _Invalid(path, explain("required"))
            continue
        values[name] = _value(hints[name], data[name], path, field.metadata)
    return cls(**values)


def _join(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name


def _value(hint: Any, raw: Any, path: str, rules: typing.Mapping[str, Any]) -> Any:
    args = typing.get_args(hint)
    if isinstance(hint, types.UnionType):  # `X | None`
        if raw is None:
            return None
        hint = next(a for a in args if a is not type(None))
    if typing.get_origin(hint) is tuple:
        if not isinstance(raw, list):
            raise _Invalid(path, explain("list", kind=type(raw).__name__))
        if args[0] is str:
            return tuple(_value(str, item, f"{path}[{i}]", rules) for i, item in enumerate(raw))
        return tuple(_build(args[0], item, f"{path}[{i}]") for i, item in enumerate(raw))
    if dataclasses.is_dataclass(hint):
        return _build(hint, raw, path)  # type: ignore[arg-type]
    if hint is bool:
        if not isinstance(raw, bool):
            raise _Invalid(path, explain("bool", value=repr(raw)))
        return raw
    if hint in (float, int):
        if isinstance(raw, bool) or not isinstance(raw, int | float) or (hint is int and not isinstance(raw, int)):
            raise _Invalid(path, explain("whole_number" if hint is int else "number", value=repr(raw)))
        if not math.isfinite(raw):
            raise _Invalid(path, explain("finite", value=repr(raw)))
        for rule, ok in (("ge", raw.__ge__), ("gt", raw.__gt__), ("le", raw.__le__)):
            if rule in rules and not ok(rules[rule]):
                raise _Invalid(path, explain(rule, bound=rules[rule], value=repr(raw)))
        return hint(raw)
    if not isinstance(raw, str):
        raise _Invalid(path, explain("string", value=repr(raw)))
    if "pattern" in rules and not re.fullmatch(rules["pattern"], raw):
        raise _Invalid(path, explain("pattern", value=repr(raw), pattern=rules["pattern"]))
    problem = rules["check"](raw) if "check" in rules else None
    if problem:
        raise _Invalid(path, problem)
    return raw


def _presets() -> dict[str, Any]:
    text = importlib.resources.files("exporter").joinpath("presets.yml").read_text(encoding="utf-8")
    loaded: dict[str, Any] = yaml.safe_load(text)
    return loaded


def preset_names() -> dict[str, list[str]]:
    """Provider -> plan names, for error messages and `--help`."""
    return {provider: sorted(spec["plans"]) for provider, spec in _presets().items()}


def _hint(close: list[str]) -> str:
    """The "; did you mean a or b?" of an unknown name; nothing when no name is close."""
    return explain("hint", names=explain("or").join(close)) if close else ""


def plan_price(raw: dict[str, Any], monthly: float) -> dict[str, float]:
    """A preset plan at the monthly price its provider asks today (its API, or the user, says it differs from the
    preset): the hourly figure spread over the preset's own hours a month, as the preset spreads its own."""
    return {"hourly": round(monthly / resolve(raw).hours_per_month, 6), "monthly": monthly}


def included_egress(gib: float | None) -> dict[str, float]:
    """The `egress` of a plan that includes `gib` a month (None: unlimited, so nothing is billed beyond it)."""
    return {"included_gib": 0, "overage_per_gib": 0} if gib is None else {"included_gib": gib}


def resolve(raw: dict[str, Any], source: str = "<embedded default>") -> PricingTable:
    """Merge a user's raw table over its preset and validate the result; raise ConfigError naming `source`."""
    presets = _presets()
    if "provider" not in raw and "machine" not in raw:
        raise ConfigError.at(source, "provider", explain("provider_required", known=", ".join(sorted(presets))))
    provider = raw.get("provider", "custom")
    if not isinstance(provider, str):
        raise ConfigError.at(source, "provider", explain("string", value=repr(provider)))
    provider = provider.lower() if provider.lower() in presets else provider  # "Hetzner" means hetzner
    raw = {**raw, "provider": provider} if "provider" in raw else raw
    merged: dict[str, Any] = {}
    if provider != "custom":
        if provider not in presets:
            close = difflib.get_close_matches(provider.lower(), list(presets), n=1, cutoff=0.6)
            known = ", ".join(["custom", *sorted(presets)])
            raise ConfigError.at(source, "provider", explain("unknown_provider", provider=repr(provider),
                                                          hint=_hint(close), known=known))  # fmt: skip
        plans = presets[provider]["plans"]
        plan = raw.get("plan")
        by_case = {name.lower(): name for name in plans}
        if isinstance(plan, str) and plan.lower() in by_case:
            plan = by_case[plan.lower()]  # the provider's console writes CX22; the preset is cx22
            raw = {**raw, "plan": plan}
        if not isinstance(plan, str) or plan not in plans:
            close = difflib.get_close_matches(str(plan).lower(), list(by_case), n=2, cutoff=0.6)
            raise ConfigError.at(source, "plan", explain("unknown_plan", provider=provider, plan=repr(plan),
                                                      hint=_hint([by_case[c] for c in close]),
                                                      known=", ".join(sorted(plans))))  # fmt: skip
        merged = yamlfile.merge(presets[provider]["defaults"], plans[plan])
    merged = yamlfile.merge(merged, raw)
    table = build(PricingTable, merged, source)
    disk_share = table.machine.disk_gib * table.unit_prices.disk_per_gib_month / table.hours_per_month
    if disk_share > table.plan_price.hourly and table.unit_prices.cpu_per_vcpu_hour is None:
        # CPU and memory are priced from what the plan leaves after its disk: nothing would be left.
        raise ConfigError.at(
            source,
            "unit_prices.disk_per_gib_month",
            explain("disk_over_plan", share=f"{disk_share:.6f}", hourly=table.plan_price.hourly),
        )
    if table.provider_api.enabled and not table.api:
        raise ConfigError.at(source, "provider_api.api", explain("no_api", provider=repr(table.provider),
                                                              apis=", ".join(APIS)))  # fmt: skip
    return table


EMBEDDED_DEFAULT: dict[str, Any] = {"provider": "digitalocean", "plan": "s-1vcpu-1gb"}
"""What runs with no --config.file: a documented example so a newcomer sees numbers at once."""


def read_yaml(path: Path) -> Any:
    """A config file's YAML ({} when empty); ConfigError naming the file, and the line and column of a syntax error."""
    try:
        return yamlfile.read(path)
    except yamlfile.YamlFileError as exc:
        raise ConfigError(str(exc)) from exc


def load(path: Path | None) -> PricingTable:
    """Read and resolve a pricing file; `None` means the embedded default table."""
    if path is None:
        return resolve(EMBEDDED_DEFAULT)
    raw = read_yaml(path)
    if raw == {}:
        raise ConfigError(explain("empty_file", path=path))
    if not isinstance(raw, dict):
        raise ConfigError.at(str(path), "", explain("mapping", kind=type(raw).__name__))
    try:
        return resolve(raw, source=str(path))
    except ConfigError as exc:
        raise on_its_line(exc, path) from exc


def on_its_line(exc: ConfigError, path: Path) -> ConfigError:
    """The problem said of file:line where its field is written, for errors an editor can jump to."""
    line = yamlfile.line_of(path.read_text(encoding="utf-8"), exc.field) if exc.field else None
    return exc if line is None else exc.within(f"{path}:{line}")
