"""The deterministic summary: what is sent when the model is absent, slow, missing or ungrounded.

Built from the same computed facts with fixed sentences, so it is always true, if plainer; the renderer labels it.
"""

from __future__ import annotations

import re

from receiver.analysis.schema import LINE_CHARS, Analysis, Cause
from receiver.facts.model import Facts, alert_kind, clip, context_said
from receiver.message import catalogue
from receiver.message import words as alert_words


def _named(action: str, cgroup: str | None) -> str:
    """The command with the workload's own name, not `<container>`: a systemd unit gets `systemctl status`. Only a
    name Docker or systemd could have given is put in a command (a label is untrusted text)."""
    if not cgroup or cgroup == "/" or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,127}", cgroup):
        return action
    command = f"systemctl status {cgroup}" if cgroup.endswith(".service") else f"docker top {cgroup}"
    return action.replace("docker top <container>", command)


SEVERITY = {"critical": "critical", "warning": "high", "info": "medium"}
DESCRIPTION_LINES = 3
"""Of the six observed facts, how many one alert's description may fill (the series, bill and egress lines follow)."""


def _lines(text: str, limit: int = DESCRIPTION_LINES) -> list[str]:
    """A description as lines of at most LINE_CHARS characters, cut between sentences (". " or "。"), so that its last
    sentence (what it costs) is not clipped away; a sentence longer than a line is cut with an ellipsis."""
    sentences = [s for s in re.split(r"(?<=[.;])\s+|(?<=[。；])", text) if s]
    out: list[str] = []
    for sentence in sentences:
        cjk = bool(out) and out[-1][-1] in "。；"  # Chinese sentences follow each other without a space
        if out and len(out[-1]) + 1 + len(sentence) <= LINE_CHARS:
            out[-1] += ("" if cjk else " ") + sentence
        else:
            out.append(clip(sentence, LINE_CHARS))
    return out[:limit]


def summarise(facts: Facts, language: str) -> Analysis:
    words, causes = catalogue.of(language).fallback, catalogue.of(language).causes
    cur = facts.currency
    said = [alert_words.texts(a, cur, language) for a in facts.alerts[:2]]
    observed = [line for i, (summary, description) in enumerate(said)
                for line in _lines(description or summary, DESCRIPTION_LINES if i == 0 else 1)]  # fmt: skip
    observed = list(dict.fromkeys(observed))  # alike alerts of one group say the same thing once
    observed += [
        words["now"].format(window=s.window, now=s.now, mean=s.mean, min=s.min, max=s.max, cur=cur)
        for s in facts.alerted_series
    ]
    grown = [w for w in facts.top_workloads if w.extra_per_day > 0][:2]
    observed += [
        words["workload"].format(name=w.name, cost=w.cost_per_hour, base=w.baseline_per_hour, cur=cur) for w in grown
    ]
    if facts.bill is not None:
        b = facts.bill
        line = words["bill"].format(mtd=b.month_to_date, forecast=b.forecast_period_end, days=b.days_left, cur=cur)
        observed.append(line + (words["budget"].format(budget=b.budget, cur=cur) if b.budget else ""))
    if facts.egress is not None and facts.egress.used_gib > 0:
        e = facts.egress
        line = words["egress"].format(used=e.used_gib, forecast=e.forecast_gib)
        observed.append(line + (words["included"].format(included=e.included_gib) if e.included_gib else ""))
    if facts.context_error:
        observed.append(words["noctx"].format(error=context_said(facts.context_error, facts.context_problem, words)))
    first = facts.alerts[0]
    kind = alert_kind(first.name)
    if kind == "cost":
        resource = next((a.resource for a in facts.alerts if a.resource in causes), "")
        cause, action = causes[resource]
        action = _named(action, first.cgroup)
    else:  # a drop, a bill, a disk, costwarden's own health or not ours: never "spending is above its usual level"
        cause, action = catalogue.of(language).kind_causes[kind]
    return Analysis(
        observed_facts=[line[:LINE_CHARS] for line in observed[:6]] or [first.name],
        likely_causes=[
            Cause(
                cause=cause,
                likelihood="medium",
                based_on=observed[0][:LINE_CHARS] if observed else first.name,
                workload=grown[0].name if grown else (first.cgroup or None),
            )
        ],
        severity=SEVERITY.get(first.severity, "medium"),  # type: ignore[arg-type]
        severity_reason=words["severity"].format(severity=first.severity or "-"),
        immediate_actions=[action],
        # Only a bill read without a budget: unknown (no Prometheus, send-test's sample) says nothing of budgets.
        longer_term_advice=[words["advice"]] if facts.bill is not None and not facts.bill.budget else [],
        money_at_stake_per_day=facts.money_at_stake_per_day if kind in ("cost", "bill") else None,
        headline=clip(
            words["headline"].format(
                name=first.name or catalogue.of(language).labels["unnamed"],
                instance=first.instance or "-",
                summary=said[0][0],
            ),
            140,
        ),
    )
