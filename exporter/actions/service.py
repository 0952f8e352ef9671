"""What the exporter's /actions endpoints do: list the table, run a diagnostic, decide and (only when allowed) run a
remediation. Every decision is logged as one structured line: the exporter's half of the audit trail.

A remediation runs only when all hold: the action exists in actions.yml, every placeholder's label is present and
matches its allow-pattern in full, `enabled: true`, the alert's severity reaches `min_severity`, and the caller did not
ask for a dry run. Otherwise the answer says exactly what would have run, or why it was refused. The program runs
without a shell, with a fixed argument list, a minimal environment, no stdin, and a timeout that kills its whole
process group.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from costwarden.actions import Outcome
from exporter.actions import diagnostics
from exporter.actions.table import PLACEHOLDER, SEVERITIES, Actions, Diagnostic, Remediation

log = logging.getLogger("exporter.actions")

SAFE_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}
OUTPUT_CHARS = 4000


def argv_for(action: Remediation, labels: dict[str, str]) -> tuple[str, ...] | str:
    """The command with its placeholders filled by label values that match their patterns in full, or why not."""
    values = {}
    for param in action.params:
        value = labels.get(param.label)
        if value is None:
            return f"the alert has no {param.label} label"
        if not re.fullmatch(param.pattern, value):
            return f"label {param.label}={diagnostics.printable(value, 80)!r} does not match {param.pattern}"
        values[param.label] = value
    return tuple(PLACEHOLDER.sub(lambda m: values[m.group(1)], arg) for arg in action.command)


def execute(argv: tuple[str, ...], timeout: float) -> tuple[str, int | None, str]:
    """(state, exit code, output) of running `argv` without a shell; the whole process group dies at the timeout."""
    try:
        proc = subprocess.Popen(  # noqa: S603 - a fixed argument list from actions.yml, validated labels only
            list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=SAFE_ENV,
            start_new_session=True,
        )  # fmt: skip
    except OSError as exc:
        return "failed", None, f"cannot start {argv[0]}: {exc.strerror or exc}"
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        return "timeout", None, _text(out) + f"\n(killed after {timeout:g} s)"
    return ("executed" if proc.returncode == 0 else "failed"), proc.returncode, _text(out)


def _text(raw: bytes) -> str:
    lines = [diagnostics.printable(line, 300) for line in raw.decode("utf-8", "replace").splitlines()]
    text = "\n".join(lines)
    return text if len(text) <= OUTPUT_CHARS else text[: OUTPUT_CHARS - 1] + "…"


class ActionService:
    def __init__(
        self, actions: Actions, host: diagnostics.Host, run_diagnostic: Callable[..., list[str]] = diagnostics.run
    ) -> None:
        self._actions = actions
        self._host = host
        self._run_diagnostic = run_diagnostic

    def catalog(self, labels: dict[str, str] | None = None) -> dict[str, Any]:
        """The table as the receiver needs it: names, kinds and what each would run (not the host's paths); with
        `labels`, only the actions that answer an alert with those labels."""
        if labels is None:
            diagnostics, remediation = list(self._actions.diagnostics), list(self._actions.remediation)
        else:
            diagnostics, remediation = self._actions.for_alert(labels)
        return {
            "diagnostics": [{"name": d.name, "kind": d.kind} for d in diagnostics],
            "remediation": [
                {"name": r.name, "command": list(r.command), "enabled": r.enabled, "button": r.button,
                 "min_severity": r.min_severity,
                 "params": {p.label: p.pattern for p in r.params}}
                for r in remediation
            ],
            "alerts": [asdict(rule) for rule in self._actions.alerts] if labels is None else [],
        }  # fmt: skip

    def run(
        self,
        name: str,
        labels: dict[str, str],
        severity: str,
        dry_run: bool,
        confirmed_by: str = "",
        language: str = "en",
    ) -> Outcome | None:
        """None when there is no such action. `confirmed_by`: the person who confirmed a run from a chat button;
        `language`: the one a diagnostic says its lines in."""
        action = self._actions.find(name)
        if action is None:
            return None
        if isinstance(action, Diagnostic):
            outcome = self._diagnose(action, language)
        else:
            outcome = self._remedy(action, labels, severity, dry_run, confirmed_by)
        log.info(
            "action %s (%s): %s%s%s%s", outcome.action, outcome.kind, outcome.state,
            f" {list(outcome.argv)}" if outcome.argv else "", f": {outcome.reason}" if outcome.reason else "",
            f", confirmed by {confirmed_by}" if confirmed_by else "",
            extra={"action": outcome.action, "state": outcome.state, "alertname": labels.get("alertname", ""),
                   "confirmed_by": confirmed_by},
        )  # fmt: skip
        return outcome

    def _diagnose(self, action: Diagnostic, language: str) -> Outcome:
        try:
            lines = self._run_diagnostic(action, self._host, language)
        except Exception as exc:  # a diagnostic's failure is reported, never raised into the HTTP server
            log.exception("diagnostic %s failed", action.name)
            return Outcome(action.name, "diagnostic", "failed", reason=repr(exc)[:300])
        return Outcome(
            action.name, "diagnostic", "ok", output="\n".join(lines) or diagnostics.words(language)["nothing"]
        )

    def _remedy(
        self, action: Remediation, labels: dict[str, str], severity: str, dry_run: bool, confirmed_by: str
    ) -> Outcome:
        argv = argv_for(action, labels)
        if isinstance(argv, str):
            return Outcome(action.name, "remediation", "refused", reason=argv)
        why_not = None
        if not action.enabled and not (action.button and confirmed_by):
            why_not = "not enabled in actions.yml (enabled: false)" + (
                "; a person may run it from its button" if action.button else "")  # fmt: skip
        elif severity not in SEVERITIES or SEVERITIES.index(severity) < SEVERITIES.index(action.min_severity):
            why_not = f"severity {severity or 'none'} is below min_severity {action.min_severity}"
        elif dry_run:
            why_not = "a dry run was asked for"
        if why_not:
            return Outcome(action.name, "remediation", "dry_run", argv, reason=why_not)
        state, code, output = execute(argv, action.timeout_seconds)
        return Outcome(action.name, "remediation", state, argv, output, exit_code=code)
