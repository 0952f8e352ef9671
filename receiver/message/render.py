"""The message a person reads: plain text, phone-sized, the same layout for the model's analysis and the fallback.

Plain text on purpose: each channel escapes it for its own markup when it sends (issue: channels); nothing here is
markup, and every untrusted string in it was cleaned by `facts.clean`.
"""

from __future__ import annotations

import json
import urllib.parse
from dataclasses import asdict, dataclass, field

from receiver.analysis.schema import Analysis
from receiver.facts.model import Facts, alert_kind, clean
from receiver.intake import Webhook
from receiver.message import words as alert_words

LABELS = {
    "en": {
        "firing": "{severity} · {name} on {instance}",
        "resolved": "RESOLVED · {name} on {instance}",
        "resolved_body": "Started {started}; Alertmanager reports it resolved.",
        "more": "(+{n} more)",
        "seen": "What we see",
        "causes": "Likely causes",
        "cause": "{cause} ({likelihood}; because: {based_on})",
        "now": "Do now",
        "later": "Later",
        "money": "Money at stake: about {money} {cur} per day",
        "capacity": "Plan capacity used beyond usual: worth about {money} {cur} per day. This is a share of the plan, "
        "not extra money: a flat price does not change with use. The risk is what the capacity does: providers "
        "suspend servers that mine or attack, other services slow down, or a bigger plan becomes necessary.",
        "by_model": "Analysis by {model}, checked against the numbers above.",
        "by_rules": "Automatic summary without AI ({reason}).",
        "runbook": "Runbook",
        "dashboard": "Dashboard",
        "graph": "Graph",
        "silence": "Silence",
        "lasted": "It lasted {duration}.",
        "diagnostics": "What the host shows now",
        "actions": "Actions",
        "recommended": "The model recommends: {name} (listed above; it runs only as actions.yml allows)",
        "actions_error": "Diagnostics unavailable: {error}",
    },
    "zh": {
        "firing": "{severity} · {instance} 上的 {name}",
        "resolved": "已恢复 · {instance} 上的 {name}",
        "resolved_body": "开始于 {started}；Alertmanager 报告已恢复。",
        "more": "（另有 {n} 条）",
        "seen": "观察到的情况",
        "causes": "可能原因",
        "cause": "{cause}（{likelihood}；依据：{based_on}）",
        "now": "现在就做",
        "later": "长期建议",
        "money": "涉及金额：每天约 {money} {cur}",
        "capacity": "超出平时的套餐资源占用：每天约值 {money} {cur}。这是套餐资源的占用份额，不是额外花费："
        "固定价格的套餐不会因使用量而多收费。风险在于这些资源被用来做什么：服务商会暂停挖矿或发起攻击的服务器，"
        "其他服务会变慢，或者不得不升级到更贵的套餐。",
        "by_model": "由 {model} 分析，并已与上述数字核对。",
        "by_rules": "未使用 AI 的自动摘要（{reason}）。",
        "runbook": "处理手册",
        "dashboard": "仪表盘",
        "graph": "图表",
        "silence": "静默",
        "lasted": "持续了 {duration}。",
        "diagnostics": "主机当前情况",
        "actions": "处置动作",
        "recommended": "模型建议：{name}（见上；仅按 actions.yml 的设置执行）",
        "actions_error": "诊断不可用：{error}",
    },
}

ACTION_STATES = {
    "en": {
        "dry_run": "dry run, would run: {command} ({reason})",
        "executed": "ran: {command}",
        "failed": "failed: {command} {reason}",
        "timeout": "stopped after its timeout: {command}",
        "refused": "refused: {reason}",
        "unknown": "outcome unknown: {reason}",
    },
    "zh": {
        "dry_run": "演练，将执行：{command}（{reason}）",
        "executed": "已执行：{command}",
        "failed": "失败：{command} {reason}",
        "timeout": "超时已终止：{command}",
        "refused": "已拒绝：{reason}",
        "unknown": "结果未知：{reason}",
    },
}

LIKELIHOOD = {
    "en": {"high": "likely", "medium": "possible", "low": "less likely"},
    "zh": {"high": "很可能", "medium": "可能", "low": "不太可能"},
}

REASONS = {
    "en": {
        "page": "facts first; the model's analysis follows when it can give one",
        "disabled": "enrichment is turned off",
        "unreachable": "Ollama is not reachable",
        "timeout": "the model took too long",
        "model_missing": "the model is not installed in Ollama",
        "busy": "Ollama is busy",
        "ollama_error": "Ollama answered with an error",
        "ungrounded": "the model's answer did not match the facts",
    },
    "zh": {
        "page": "先发送事实；模型的分析稍后跟进（如能给出）",
        "disabled": "已关闭模型分析",
        "unreachable": "无法连接 Ollama",
        "timeout": "模型响应超时",
        "model_missing": "Ollama 中未安装该模型",
        "busy": "Ollama 繁忙",
        "ollama_error": "Ollama 返回了错误",
        "ungrounded": "模型的回答与事实不符",
    },
}


@dataclass(frozen=True)
class Section:
    heading: str
    lines: tuple[str, ...]
    numbered: bool = False


@dataclass(frozen=True)
class Message:
    """A notification as structure: each channel lays it out in its own markup (escaping every piece), and
    `plain()` is the text version (console, file, fallbacks of rich channels)."""

    id: int
    group_key: str
    status: str
    severity: str
    kind: str
    """`message` (the whole thing), `page` (facts first, for a critical alert) or `followup` (the analysis after)."""
    title: str
    headline: str
    sections: tuple[Section, ...]
    footer: str
    links: tuple[tuple[str, str], ...]
    source: str
    data: dict[str, object] = field(default_factory=dict, compare=False)
    """The analysis, the facts and the Alertmanager payload, for machine channels (webhook)."""

    def plain(self) -> str:
        lines = [self.title]
        if self.headline:
            lines.append(self.headline)
        for section in self.sections:
            lines += ["", section.heading] if section.heading else [""]
            lines += [f"{i}. {line}" if section.numbered else f"• {line}" for i, line in enumerate(section.lines, 1)]
        if self.footer:
            lines += ["", self.footer]
        lines += [f"{label}: {url}" for label, url in self.links]
        return "\n".join(lines)

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def links(hook: Webhook, grafana_url: str | None, words: dict[str, str]) -> tuple[tuple[str, str], ...]:
    """Runbook, dashboard (made absolute with grafana_url), the Prometheus graph, and a pre-filled silence."""
    first = hook.alerts[0]
    annotations = {**hook.commonAnnotations, **first.annotations}
    out = []
    if (runbook := annotations.get("runbook_url", "")).startswith("http"):
        out.append((words["runbook"], clean(runbook, 500)))
    dashboard = annotations.get("dashboard_url", "")
    if dashboard.startswith("http") or (dashboard.startswith("/") and grafana_url):
        base = "" if dashboard.startswith("http") else (grafana_url or "").rstrip("/")
        out.append((words["dashboard"], clean(base + dashboard, 500)))
    if first.generatorURL.startswith("http"):
        out.append((words["graph"], clean(first.generatorURL, 500)))
    if hook.status == "firing" and hook.externalURL.startswith("http"):
        matchers = ", ".join(f"{k}={json.dumps(v)}" for k, v in sorted((hook.groupLabels or first.labels).items()))
        query = urllib.parse.quote("{" + matchers + "}", safe="")
        out.append((words["silence"], f"{hook.externalURL.rstrip('/')}/#/silences/new?filter={query}"))
    return tuple(out)


def host_sections(facts: Facts, language: str) -> list[Section]:
    """What the exporter's diagnostics saw and what became of each remediation: facts, shown whoever wrote the
    analysis (and so also in the page sent before it)."""
    words, states = LABELS[language], ACTION_STATES[language]
    seen = [f"{d.name}: {line}" for d in facts.diagnostics for line in (d.lines or [d.reason or d.state])]
    done = [
        f"{a.name}: " + states.get(a.state, "{reason}").format(command=a.command, reason=a.reason or a.state)
        for a in facts.actions
    ]
    if facts.actions_error:
        seen.append(words["actions_error"].format(error=facts.actions_error))
    out = []
    if seen:
        out.append(Section(words["diagnostics"], tuple(seen)))
    if done:
        out.append(Section(words["actions"], tuple(done)))
    return out


def render(
    note_id: int,
    hook: Webhook,
    facts: Facts,
    analysis: Analysis | None,
    *,
    kind: str,
    language: str,
    model: str,
    source: str,
    reason: str | None,
    grafana_url: str | None,
) -> Message:
    """The message for a notification. `analysis` is None for a resolution, which needs none."""
    words = LABELS[language]
    first = facts.alerts[0]
    severity = first.severity or "alert"
    title = words["resolved" if facts.status == "resolved" else "firing"].format(
        severity=alert_words.SEVERITY[language].get(first.severity, first.severity.upper()),
        name=first.name,
        instance=first.instance or "-",
    )
    if facts.alerts_total > 1:
        title += " " + words["more"].format(n=facts.alerts_total - 1)
    alertmanager = {**hook.model_dump(mode="json"), "groupKey": hook.group}
    data = {"facts": facts.model_dump(mode="json"), "alertmanager": alertmanager,
            "analysis": analysis.model_dump(mode="json") if analysis else None}  # fmt: skip
    base = {"data": data, "id": note_id, "group_key": clean(hook.groupKey, 300), "status": facts.status,
            "severity": severity, "kind": kind, "title": title, "source": source,
            "links": links(hook, grafana_url, words)}  # fmt: skip
    if analysis is None:
        alert = hook.alerts[0]
        lasted = (alert.endsAt - alert.startsAt).total_seconds() if alert.endsAt > alert.startsAt else None
        body = words["resolved_body"].format(started=first.started)
        if lasted is not None:
            body += " " + words["lasted"].format(duration=alert_words.duration(lasted, language))
        summary = alert_words.texts(first, facts.currency, language)[0]
        return Message(**base, headline=summary, sections=(Section("", (body,)),), footer="")  # type: ignore[arg-type]
    likelihood = LIKELIHOOD[language]
    causes = tuple(
        words["cause"].format(cause=c.cause, likelihood=likelihood[c.likelihood], based_on=c.based_on)
        for c in analysis.likely_causes
    )
    do_now = list(analysis.immediate_actions)
    if analysis.recommended_action:
        do_now.append(words["recommended"].format(name=clean(analysis.recommended_action)))
    sections = [
        Section(words["seen"], tuple(analysis.observed_facts)),
        *(host_sections(facts, language) if kind != "followup" else []),  # the page before it showed them
        Section(words["causes"], causes, numbered=True),
        Section(words["now"], tuple(do_now)),
    ]
    if analysis.longer_term_advice:
        sections.append(Section(words["later"], tuple(analysis.longer_term_advice)))
    footer = []
    if analysis.money_at_stake_per_day is not None and facts.currency:
        flat = alert_words.flat(first.resource) and alert_kind(first.name) == "cost"
        footer.append(words["capacity" if flat else "money"].format(money=analysis.money_at_stake_per_day,
                                                                    cur=facts.currency))  # fmt: skip
    if source == "fallback":
        footer.append(words["by_rules"].format(reason=REASONS[language].get(reason or "", reason or "")))
    else:
        footer.append(words["by_model"].format(model=clean(model)))
    return Message(**base, headline=analysis.headline, sections=tuple(sections), footer="\n".join(footer))  # type: ignore[arg-type]


NO_ANALYSIS = {
    "en": "No analysis by the model this time: {reason}. The facts above are all there is.",
    "zh": "这次模型未能给出分析：{reason}。以上事实即为全部信息。",
}


def no_analysis(note_id: int, group_key: str, title: str, reason: str, language: str) -> Message:
    """The follow-up a page promised, when the model could not give an analysis: one line saying why."""
    return Message(
        id=note_id, group_key=group_key, status="firing", severity="", kind="followup", title=title,
        headline=NO_ANALYSIS[language].format(reason=REASONS[language].get(reason, reason)), sections=(), footer="",
        links=(), source="fallback",
    )  # fmt: skip


NOTICE = {
    "en": {
        "title": "costwarden: a notification could not be processed",
        "headline": "Notification {id} (alert group {group}) failed {n} times and was set aside. It is kept in the "
        "outbox; later alerts of its group go on.",
        "heading": "Last error",
        "footer": "The receiver's log names notification {id}; the stored webhook is in the outbox (state parked).",
    },
    "zh": {
        "title": "costwarden：有一条通知无法处理",
        "headline": "通知 {id}（告警组 {group}）处理失败 {n} 次，已被搁置并保存在 outbox 中；该组后续告警照常处理。",
        "heading": "最后的错误",
        "footer": "接收器日志中记录了通知 {id}；原始 webhook 保存在 outbox 中（状态 parked）。",
    },
}


def parked_notice(note_id: int, group_key: str, error: str, attempts: int, language: str) -> Message:
    """What the admin channels are told when a notification is parked: which one, why, and where it is kept."""
    w = NOTICE[language]
    group = clean(group_key, 200)
    return Message(
        id=note_id, group_key=group_key, status="parked", severity="warning", kind="notice", title=w["title"],
        headline=w["headline"].format(id=note_id, group=group, n=attempts),
        sections=(Section(w["heading"], (clean(error, 500),)),), footer=w["footer"].format(id=note_id), links=(),
        source="receiver",
    )  # fmt: skip
