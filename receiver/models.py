"""The Alertmanager webhook payload, version 4, as Alertmanager sends it; later optional fields are tolerated."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError


class Alert(BaseModel):
    model_config = ConfigDict(extra="allow")

    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    startsAt: datetime
    endsAt: datetime
    generatorURL: str = ""
    fingerprint: str = ""


class Webhook(BaseModel):
    model_config = ConfigDict(extra="allow")

    version: Literal["4"]
    groupKey: str = Field(min_length=1)
    truncatedAlerts: int = Field(default=0, ge=0)
    status: Literal["firing", "resolved"]
    receiver: str
    groupLabels: dict[str, str] = Field(default_factory=dict)
    commonLabels: dict[str, str] = Field(default_factory=dict)
    commonAnnotations: dict[str, str] = Field(default_factory=dict)
    externalURL: str = ""
    alerts: list[Alert] = Field(min_length=1)


def dedup_key(hook: Webhook) -> str:
    """What makes two deliveries the same notification.

    Alertmanager resends on purpose (HA pairs, repeat_interval); the key ignores what differs between such copies
    (externalURL, annotations) and keeps what a person would call a different message: the group, the receiver, the
    status and each alert's identity and state.
    """
    alerts = sorted((a.fingerprint, a.status, a.startsAt.isoformat(), a.endsAt.isoformat()) for a in hook.alerts)
    material = json.dumps([hook.groupKey, hook.receiver, hook.status, alerts], separators=(",", ":"))
    return hashlib.sha256(material.encode()).hexdigest()


def first_problem(exc: ValidationError) -> str:
    """`dotted.field: reason` of the first error, so a refusal names one concrete thing to fix."""
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "(top level)"
    return f"{where}: {first['msg']}"
