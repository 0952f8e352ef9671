"""The message a person reads: plain text, phone-sized, the same layout for the model's analysis and the fallback.

Plain text on purpose: each channel escapes it for its own markup when it sends (issue: channels); nothing here is
markup, and every untrusted string in it was cleaned by `facts.clean`.
"""

from __future__ import annotations

from dataclasses import dataclass

from receiver.analysis import Analysis
from receiver.facts import Facts, clean

LABELS = {
    "en": {
        "firing": "{severity} · {name} on {instance}",
        "resolved": "RESOLVED · {name} on {instance}",
        "resolved_body": "Started {started}; Alertmanager reports it resolved.",
        "more": "(+{n} more alerts in this group)",
        "seen": "What we see",
        "causes": "Likely causes",
        "because": "because",
        "now": "Do now",
        "later": "Later",
        "money": "Money at stake: about {money} {cur} per day",
        "by_model": "Analysis by {model}, checked against the numbers above.",
        "by_rules": "Automatic summary without AI ({reason}).",
        "runbook": "Runbook",
        "dashboard": "Dashboard",
    },
    "zh": {
        "firing": "{severity} · {instance} 上的 {name}",
        "resolved": "已恢复 · {instance} 上的 {name}",
        "resolved_body": "开始于 {started}；Alertmanager 报告已恢复。",
        "more": "（本组另有 {n} 条告警）",
        "seen": "观察到的情况",
        "causes": "可能原因",
        "because": "依据",
        "now": "现在就做",
        "later": "长期建议",
        "money": "涉及金额：每天约 {money} {cur}",
        "by_model": "由 {model} 分析，并已与上述数字核对。",
        "by_rules": "未使用 AI 的自动摘要（{reason}）。",
        "runbook": "处理手册",
        "dashboard": "仪表盘",
    },
}

LIKELIHOOD = {
    "en": {"high": "likely", "medium": "possible", "low": "less likely"},
    "zh": {"high": "很可能", "medium": "可能", "low": "不太可能"},
}

REASONS = {
    "disabled": "enrichment is turned off",
    "unreachable": "Ollama is not reachable",
    "timeout": "the model took too long",
    "model_missing": "the model is not installed in Ollama",
    "busy": "Ollama is busy",
    "ollama_error": "Ollama answered with an error",
    "ungrounded": "the model's answer did not match the facts",
}


@dataclass(frozen=True)
class Notification:
    """What a channel sends: the rendered text plus the few fields a channel routes or formats on."""

    id: int
    group_key: str
    status: str
    severity: str
    title: str
    text: str
    source: str


def _links(facts_payload: dict[str, str], grafana_url: str | None, words: dict[str, str]) -> list[str]:
    out = []
    if runbook := facts_payload.get("runbook_url", ""):
        out.append(f"{words['runbook']}: {clean(runbook, 300)}")
    dashboard = facts_payload.get("dashboard_url", "")
    if dashboard and (dashboard.startswith("http") or grafana_url):
        base = "" if dashboard.startswith("http") else (grafana_url or "").rstrip("/")
        out.append(f"{words['dashboard']}: {clean(base + dashboard, 300)}")
    return out


def render(
    facts: Facts,
    analysis: Analysis | None,
    *,
    language: str,
    model: str,
    source: str,
    reason: str | None,
    annotations: dict[str, str],
    grafana_url: str | None,
) -> tuple[str, str]:
    """(title, text). `analysis` is None for a resolution, which needs no analysis."""
    words = LABELS[language]
    first = facts.alerts[0]
    title_key = "resolved" if facts.status == "resolved" else "firing"
    title = words[title_key].format(
        severity=(first.severity or "alert").upper(), name=first.name, instance=first.instance or "-"
    )
    lines = [title]
    if facts.alerts_total > 1:
        lines.append(words["more"].format(n=facts.alerts_total - 1))
    if analysis is None:
        lines += [first.summary or "", words["resolved_body"].format(started=first.started)]
        return title, "\n".join(line for line in lines if line)
    likelihood = LIKELIHOOD[language]
    lines += [analysis.headline, "", words["seen"]]
    lines += [f"• {fact}" for fact in analysis.observed_facts]
    lines += ["", words["causes"]]
    lines += [
        f"{i}. {c.cause} ({likelihood[c.likelihood]}; {words['because']}: {c.based_on})"
        for i, c in enumerate(analysis.likely_causes, 1)
    ]
    lines += ["", words["now"]] + [f"• {a}" for a in analysis.immediate_actions]
    if analysis.longer_term_advice:
        lines += ["", words["later"]] + [f"• {a}" for a in analysis.longer_term_advice]
    lines.append("")
    if analysis.money_at_stake_per_day is not None and facts.currency:
        lines.append(words["money"].format(money=analysis.money_at_stake_per_day, cur=facts.currency))
    if source == "fallback":
        lines.append(words["by_rules"].format(reason=REASONS.get(reason or "", reason or "")))
    else:
        lines.append(words["by_model"].format(model=clean(model)))
    lines += _links(annotations, grafana_url, words)
    return title, "\n".join(lines)
