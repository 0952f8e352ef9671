"""Is an answer fit to be sent as fact? Schema-valid, complete, and making no claim we did not supply.

Numbers: every number in the answer must match a number in the facts, within 1 % or as that number rounded to the
answer's decimals (0.01235 written 0.012). Names: every backticked name and every cause's workload must be one the
facts named. A few numbers are structural (24 h, 7 d, 5 m, 100 %) and always allowed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from pydantic import ValidationError

from receiver.analysis import Analysis
from receiver.facts import Facts

NUMBER = re.compile(r"(?<![\w.])\d+(?:[,\d]*\d)?(?:\.\d+)?(?:[eE][-+]?\d+)?")
BACKTICKED = re.compile(r"`([^`\n]{1,80})`")
STRUCTURAL = (0.0, 1.0, 5.0, 6.0, 7.0, 24.0, 100.0)
TOLERANCE = 0.01


@dataclass(frozen=True)
class Verdict:
    ok: bool
    problems: list[str] = field(default_factory=list)
    analysis: Analysis | None = None

    def as_dict(self) -> dict[str, object]:
        return {"ok": self.ok, "problems": self.problems}


def numbers(text: str) -> list[float]:
    return [float(m.replace(",", "")) for m in NUMBER.findall(text)]


def _decimals(token: float) -> int:
    text = repr(token)
    return len(text.split(".")[1].rstrip("0")) if "." in text else 0


def supported(value: float, supplied: list[float]) -> bool:
    for s in supplied:
        if abs(value - s) <= TOLERANCE * max(abs(s), 1e-9):
            return True
        places = _decimals(value)
        if (places > 0 or abs(s) >= 10) and round(s, places) == value:
            return True
    return False


def unsupported(texts: list[str], supplied_text: str, names: set[str]) -> list[str]:
    """What in `texts` the facts do not back: numbers not in `supplied_text`, backticked names not in `names`."""
    supplied = [*numbers(supplied_text), *STRUCTURAL]
    problems = [
        f"number {value:g} is not in the facts: {text[:80]!r}"
        for text in texts
        for value in numbers(text)
        if not supported(value, supplied)
    ]
    mentioned = [m for text in texts for m in BACKTICKED.findall(text)]
    return problems + [f"name {name!r} is not in the facts" for name in mentioned if name not in names]


def check_comment(
    raw: str, done_reason: str | None, names: set[str], supplied_text: str
) -> tuple[str | None, list[str]]:
    """A digest's comment: one JSON string field, held to the same rules as an analysis."""
    if done_reason == "length":
        return None, ["cut off: the answer reached num_predict before it ended"]
    try:
        answer = json.loads(raw)
    except ValueError as exc:
        return None, [f"not JSON: {exc}"]
    comment = answer.get("comment") if isinstance(answer, dict) else None
    if not isinstance(comment, str) or not comment.strip() or len(comment) > 400:
        return None, ["not the comment schema: comment must be a string of 1 to 400 characters"]
    problems = unsupported([comment], supplied_text, names)
    return (None, problems) if problems else (comment.strip(), [])


def check(raw: str, done_reason: str | None, facts: Facts, supplied_text: str) -> Verdict:
    """`supplied_text` is the facts block the model saw: its numbers are the only ones an answer may use."""
    if done_reason == "length":
        return Verdict(False, ["cut off: the answer reached num_predict before it ended"])
    try:
        analysis = Analysis.model_validate_json(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        kind = "not JSON" if first["type"] == "json_invalid" else "not the analysis schema"
        return Verdict(False, [f"{kind}: {where}: {first['msg']}"])
    texts = analysis.texts()
    if analysis.money_at_stake_per_day is not None:
        texts.append(json.dumps(analysis.money_at_stake_per_day))
    names = facts.names() | ({facts.currency} if facts.currency else set())
    problems = unsupported(texts, supplied_text, names)
    workloads = [c.workload for c in analysis.likely_causes if c.workload]
    problems += [f"name {name!r} is not in the facts" for name in workloads if name not in names]
    offered = {a.name for a in facts.actions}
    if analysis.recommended_action is not None and analysis.recommended_action not in offered:
        problems.append(f"recommended action {analysis.recommended_action!r} is not one the facts offer")
    return Verdict(not problems, problems, analysis)
