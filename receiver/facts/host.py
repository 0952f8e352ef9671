"""Ask the exporter to run the diagnostics and remediation its actions.yml names for an alert, and keep an audit.

The receiver has no host access; the exporter does the work behind its authenticated /actions endpoint and decides
what may run: the receiver can make a disabled action run only if actions.yml gives it `button: true`, by saying who
confirmed it (the exporter trusts the holder of the actions token to say so truthfully: keep that token secret).
Every step is stored in the outbox's `actions` table and logged: considered, then its outcome (ok, dry_run, executed,
failed, timeout, refused). A remediation that was started for a notification is never started again for it, even if
the notification is processed again after a restart: the stored outcome is reused, or, if the process died while it
ran, reported as unknown.

Nothing here can stop the notification: an exporter that is down, slow or refusing only adds a line saying so.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from costwarden.actions import FINAL, Outcome, RunRequest, names
from receiver.facts.model import ActionFact, DiagnosticFact, Facts, clean
from receiver.intake import Webhook
from receiver.settings import Actions
from receiver.store import audit
from receiver.store.db import OutboxError
from receiver.store.outbox import Outbox

log = logging.getLogger("receiver.actions")

LINES = 8
"""Lines of each diagnostic kept in the facts (and so in the prompt and the message)."""


@dataclass(frozen=True)
class Findings:
    """The host's diagnostics and the remediation's outcomes for one alert, or why there are none."""

    diagnostics: list[DiagnosticFact] = field(default_factory=list)
    actions: list[ActionFact] = field(default_factory=list)
    error: str | None = None

    def into(self, facts: Facts) -> Facts:
        return facts.model_copy(update={"diagnostics": self.diagnostics, "actions": self.actions,
                                        "actions_error": self.error})  # fmt: skip


class ExporterActions:
    def __init__(self, cfg: Actions, session: aiohttp.ClientSession, outbox: Outbox, language: str = "en") -> None:
        self._cfg = cfg
        self._language = language  # the messages': a diagnostic's lines are said in it
        self._session = session
        self._outbox = outbox
        self._url = (cfg.url or "").rstrip("/")
        self._headers = {"Authorization": f"Bearer {cfg.token}"}
        self._timeout = aiohttp.ClientTimeout(total=cfg.timeout_seconds)

    async def diagnose(self, notification_id: int, hook: Webhook) -> Findings:
        """Run what applies to this alert group's first alert: what the facts say of the host."""
        alert = hook.alerts[0]
        labels = {**hook.commonLabels, **alert.labels}
        severity = labels.get("severity", "")
        if not labels.get("alertname"):
            return Findings()  # the table maps alert names to actions: an alert that names none gets none
        try:
            plan = await self._get("/actions", {k: labels[k] for k in ("alertname", "resource") if k in labels})
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            log.warning("actions unavailable: the exporter at %s did not answer: %s", self._url, exc)
            return Findings(error=clean(f"the exporter did not answer: {exc}", 200))
        found = Findings()
        done = await self._outbox.read(audit.latest, notification_id)
        for name in names(plan, "diagnostics"):
            row = await self._step(notification_id, hook.group, name, "diagnostic", labels, severity,
                                   done)  # fmt: skip
            lines = [clean(line, 160) for line in row.output.splitlines() if line.strip()][:LINES]
            found.diagnostics.append(DiagnosticFact(name=clean(row.action), state=row.state, lines=lines,
                                                    reason=clean(row.reason, 200) or None))  # fmt: skip
        buttons = {str(entry.get("name")) for entry in plan.get("remediation", []) if entry.get("button") is True}
        for name in names(plan, "remediation"):
            row = await self._step(notification_id, hook.group, name, "remediation", labels, severity,
                                   done)  # fmt: skip
            found.actions.append(ActionFact(
                name=clean(row.action), state=row.state, command=clean(" ".join(row.argv), 200),
                reason=clean(row.reason, 200) or None, output=clean(row.output, 300) or None,
                button=name in buttons,
            ))  # fmt: skip
        return found

    async def run_confirmed(self, note: int, hook: Webhook, name: str, who: str) -> Outcome:
        """Run a remediation a person confirmed from its button, for real unless actions.yml forbids it (the
        exporter decides: its patterns and min_severity hold, and only a `button: true` action runs when not
        enabled); audited like any step."""
        labels = {**hook.commonLabels, **hook.alerts[0].labels}
        await self._audit(note, hook.group, Outcome(name, "remediation", "considered", reason=f"confirmed by {who}"))
        try:
            request = RunRequest(name, labels, labels.get("severity", ""), confirmed_by=who, language=self._language)
            row = Outcome.parse(await self._post("/actions/run", request.to_json()), name, "remediation")
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            row = Outcome(name, "remediation", "failed", reason=f"the exporter did not answer: {exc}")
        await self._audit(note, hook.group, row)
        return row

    async def _step(
        self, note: int, group: str, name: str, kind: str, labels: dict[str, str], severity: str,
        done: dict[str, Outcome],
    ) -> Outcome:  # fmt: skip
        previous = done.get(name)
        if previous is not None and previous.state in FINAL:
            return previous  # processed again after a restart: the same result, not a second run
        if previous is not None and kind == "remediation":
            row = Outcome(name, kind, "unknown", previous.argv,
                            reason="the receiver stopped while this ran; not started again")  # fmt: skip
            await self._audit(note, group, row)
            return row
        await self._audit(note, group, Outcome(name, kind, "considered"))
        try:
            request = RunRequest(name, labels, severity, language=self._language)
            answer = await self._post("/actions/run", request.to_json())
            row = Outcome.parse(answer, name, kind)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            row = Outcome(name, kind, "failed", reason=f"the exporter did not answer: {exc}")
        await self._audit(note, group, row)
        return row

    async def _audit(self, note: int, group: str, row: Outcome) -> None:
        log.info("action %s (%s): %s%s%s", row.action, row.kind, row.state, f" {list(row.argv)}" if row.argv else "",
                 f": {row.reason}" if row.reason else "")  # fmt: skip
        try:
            await self._outbox.write(audit.record, note, group, row, time.time())
        except OutboxError as exc:
            log.error("cannot record action %s: %s", row.action, exc)

    async def _get(self, path: str, params: dict[str, str]) -> dict[str, Any]:
        async with self._session.get(self._url + path, params=params, headers=self._headers,
                                     timeout=self._timeout) as answer:  # fmt: skip
            return await self._json(answer)

    async def _post(self, path: str, body: dict[str, object]) -> dict[str, Any]:
        async with self._session.post(self._url + path, json=body, headers=self._headers,
                                      timeout=self._timeout) as answer:  # fmt: skip
            return await self._json(answer)

    @staticmethod
    async def _json(answer: aiohttp.ClientResponse) -> dict[str, Any]:
        text = await answer.text()
        if answer.status != 200:
            raise ValueError(f"HTTP {answer.status}: {text[:200]}")
        document = json.loads(text)
        if not isinstance(document, dict):
            raise ValueError("not a JSON object")
        return document
