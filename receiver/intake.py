"""The Alertmanager webhook payload, version 4, as Alertmanager sends it; fields added later are ignored (the stored
body keeps them)."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

GROUP_KEY_KEPT = 1024
"""Longer group keys are stored and logged as their start and a hash: Alertmanager's own keys are a few hundred
characters; a 10 MiB one must not become 80 MiB of logs (the hash keeps two long keys apart)."""


class BadWebhook(ValueError):
    """A body the receiver refuses with 400: `reason` is the short code counted in metrics, `detail` the why."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def _well_formed(text: str) -> str:
    """A lone surrogate (JSON allows `\\ud800`, UTF-8 cannot carry it) becomes U+FFFD: such a label could be stored
    but never encoded into a message, so the notification would be acknowledged and then stuck."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text


Text = Annotated[str, AfterValidator(_well_formed)]


class Alert(BaseModel):
    model_config = ConfigDict(extra="ignore")

    status: Literal["firing", "resolved"]
    labels: dict[Text, Text]
    annotations: dict[Text, Text] = Field(default_factory=dict)
    startsAt: datetime
    endsAt: datetime
    generatorURL: Text = ""
    fingerprint: Text = ""


class Webhook(BaseModel):
    model_config = ConfigDict(extra="ignore")

    version: Literal["4"]
    groupKey: Text = Field(min_length=1)
    truncatedAlerts: int = Field(default=0, ge=0)
    status: Literal["firing", "resolved"]
    receiver: Text
    groupLabels: dict[Text, Text] = Field(default_factory=dict)
    commonLabels: dict[Text, Text] = Field(default_factory=dict)
    commonAnnotations: dict[Text, Text] = Field(default_factory=dict)
    externalURL: Text = ""
    alerts: list[Alert] = Field(min_length=1)

    @property
    def group(self) -> str:
        """The group key as stored, queued and logged (see GROUP_KEY_KEPT)."""
        return clip_key(self.groupKey)


def clip_key(key: str) -> str:
    if len(key) <= GROUP_KEY_KEPT:
        return key
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]
    return f"{key[: GROUP_KEY_KEPT - 40]}…[{len(key)} chars, sha256 {digest}]"


def decode_body(body: bytes) -> str:
    """The webhook body as text: UTF-8 as RFC 8259 and Alertmanager have it, a leading BOM tolerated."""
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BadWebhook("malformed_json", f"the body is not UTF-8 (byte {exc.start}); JSON is sent as UTF-8") from exc


def parse_webhook(text: str) -> Webhook:
    """The one reading of a webhook: intake refuses what it raises, and the worker reads the stored text the same way,
    so a notification that was acknowledged can always be read again."""
    try:
        document = json.loads(text)
    except RecursionError as exc:
        raise BadWebhook("malformed_json", "nested too deeply") from exc
    except ValueError as exc:
        raise BadWebhook("malformed_json", str(exc)[:200]) from exc
    try:
        return Webhook.model_validate(document)
    except ValidationError as exc:
        raise BadWebhook("not_webhook_v4", first_problem(exc)[:300]) from exc
    except RecursionError as exc:
        raise BadWebhook("malformed_json", "nested too deeply") from exc


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
