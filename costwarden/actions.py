"""The exporter's /actions API as both sides speak it: `GET /actions` lists what applies to an alert,
`POST /actions/run` takes a RunRequest and answers an Outcome. The receiver also audits its own steps as Outcomes
(`considered`, `unknown`), so a row in its audit trail is what the exporter answered."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from costwarden.catalogue import LANGUAGES

FINAL = ("ok", "dry_run", "executed", "failed", "timeout", "refused")
"""The states the exporter answers: a diagnostic that ran (`ok`), a remediation's outcome, or why it did not run."""
RUN_REQUEST_SHAPE = (
    'expected {"action": name, "labels": {str: str}, "severity": str, "dry_run": bool, "confirmed_by": str, '
    '"language": str}'
)


@dataclass(frozen=True)
class RunRequest:
    action: str
    labels: dict[str, str]
    severity: str = ""
    dry_run: bool = False
    confirmed_by: str = ""
    """Who confirmed this run from a chat button: a remediation with `button: true` then runs even if not enabled."""
    language: str = "en"
    """The language of the message it is for: a diagnostic's lines are said in it."""

    @classmethod
    def parse(cls, body: Any) -> RunRequest:
        """ValueError (RUN_REQUEST_SHAPE) unless `body` is a request of exactly these types."""
        try:
            name, labels = body["action"], body.get("labels", {})
            severity, dry_run = body.get("severity", ""), body.get("dry_run", False)
            confirmed_by, language = body.get("confirmed_by", ""), body.get("language", "en")
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(RUN_REQUEST_SHAPE) from exc
        if not (isinstance(name, str) and isinstance(labels, dict) and isinstance(severity, str)
                and isinstance(dry_run, bool) and isinstance(confirmed_by, str) and isinstance(language, str)
                and all(isinstance(v, str) for v in labels.values())):  # fmt: skip
            raise ValueError(RUN_REQUEST_SHAPE)
        # A language this exporter does not speak (a newer receiver's): English lines, not a refused run.
        return cls(name, labels, severity, dry_run, confirmed_by[:100], language if language in LANGUAGES else "en")

    def to_json(self) -> dict[str, object]:
        return {"action": self.action, "labels": self.labels, "severity": self.severity, "dry_run": self.dry_run,
                "confirmed_by": self.confirmed_by, "language": self.language}  # fmt: skip


@dataclass(frozen=True)
class Outcome:
    action: str
    kind: str
    """`diagnostic` or `remediation`."""
    state: str
    """One of FINAL from the exporter; the receiver's audit also says `considered` (before asking) and `unknown`
    (it stopped while the action ran)."""
    argv: tuple[str, ...] = ()
    output: str = ""
    reason: str = ""
    exit_code: int | None = None

    def to_json(self) -> dict[str, object]:
        return {"action": self.action, "kind": self.kind, "state": self.state, "argv": list(self.argv),
                "output": self.output, "reason": self.reason, "exit_code": self.exit_code}  # fmt: skip

    @classmethod
    def parse(cls, document: dict[str, Any], action: str, kind: str) -> Outcome:
        """The exporter's answer to running `action`, read defensively (a field missing or of the wrong type is a
        failure or empty, never a crash)."""
        argv = document.get("argv") or ()
        code = document.get("exit_code")
        return cls(action, kind, str(document.get("state", "failed")), tuple(str(a) for a in argv),
                   str(document.get("output", "")), str(document.get("reason", "")),
                   code if isinstance(code, int) else None)  # fmt: skip


def names(catalog: dict[str, Any], kind: str) -> list[str]:
    """The action names of one kind (`diagnostics`, `remediation`) in a `GET /actions` answer."""
    return [str(entry["name"]) for entry in catalog.get(kind, [])]
