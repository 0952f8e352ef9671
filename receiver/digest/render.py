"""The digest as a message: the same structure as an alert's (`render.Message`), so every channel lays it out in its
own markup and escapes every piece. Plain words, numbers as computed, in English or Chinese."""

from __future__ import annotations

from datetime import date

from receiver.digest.facts import DigestFacts, Reason, SpendLine
from receiver.message.render import Message, Section
from receiver.message.words import duration

SEVERITY = {"normal": "info", "watch": "warning", "act": "critical"}
OVERVIEW = "/d/costwarden-overview/"

WORDS = {
    "en": {
        "title_day": "Daily spend digest · {first} ({weekday})",
        "title_week": "Weekly spend digest · {first} to {last}",
        "spent": "{total}{cur} spent",
        "vs_previous_day": "{pct} vs the day before",
        "vs_previous_week": "{pct} vs the week before",
        "vs_week_before": "{pct} vs the same day last week",
        "no_spend": "No spend data for this period.",
        "resources": "Spend by resource",
        "workloads": "Top workloads",
        "new": "new",
        "bill": "Bill",
        "bill_line": "{host}month to date {mtd}{cur}; forecast {forecast}{cur} by period end, {days} days left",
        "budget": "{pct} % of the {budget}{cur} budget",
        "egress": "Egress",
        "egress_line": "{host}{used} GiB used, forecast {forecast} GiB by period end",
        "included": "{pct} % of the {included} GiB included",
        "overage": "overage forecast {money}{cur}",
        "sep": "; ",
        "alerts": "Alerts",
        "alert_line": "{name} ({severity}){on}: fired {times}×, {lasted} in all",
        "on": " on {instance}",
        "no_alerts": "No alert fired.",
        "alerts_more": "and {n} more",
        "why": "Verdict",
        "commentary": "Comment",
        "by_model": "Comment by {model}, checked against the numbers above.",
        "late": "Sent late: it was due {due} ({zone}) and the receiver was not running then.",
        "context_error": "Some figures are missing: {error}",
        "dashboard": "Cost overview",
    },
    "zh": {
        "title_day": "每日支出摘要 · {first}（{weekday}）",
        "title_week": "每周支出摘要 · {first} 至 {last}",
        "spent": "支出 {total}{cur}",
        "vs_previous_day": "较前一天 {pct}",
        "vs_previous_week": "较上一周 {pct}",
        "vs_week_before": "较上周同一天 {pct}",
        "no_spend": "本期没有支出数据。",
        "resources": "按资源",
        "workloads": "支出最多的工作负载",
        "new": "新出现",
        "bill": "账单",
        "bill_line": "{host}本期至今 {mtd}{cur}；预计期末 {forecast}{cur}，还剩 {days} 天",
        "budget": "为预算 {budget}{cur} 的 {pct} %",
        "egress": "出站流量",
        "egress_line": "{host}已用 {used} GiB，预计期末 {forecast} GiB",
        "included": "为套餐包含的 {included} GiB 的 {pct} %",
        "overage": "预计超额费用 {money}{cur}",
        "sep": "；",
        "alerts": "告警",
        "alert_line": "{name}（{severity}）{on}：触发 {times} 次，共 {lasted}",
        "on": "，{instance}",
        "no_alerts": "没有告警触发。",
        "alerts_more": "另有 {n} 条",
        "why": "结论",
        "commentary": "点评",
        "by_model": "点评由 {model} 撰写，并已与上述数字核对。",
        "late": "延迟发送：原定 {due}（{zone}），当时接收服务未在运行。",
        "context_error": "部分数字缺失：{error}",
        "dashboard": "费用总览",
    },
}
VERDICTS = {
    "en": {"normal": "normal", "watch": "watch", "act": "act"},
    "zh": {"normal": "正常", "watch": "留意", "act": "需处理"},
}
REASONS = {
    "en": {
        "critical_alert": "act: {subject} was critical for {minutes}",
        "over_budget": "act: {subject} is forecast at {forecast}{cur}, {pct} % of its {budget}{cur} budget",
        "warning_alert": "watch: {subject} fired a warning for {minutes}",
        "egress_overage": "watch: {subject} is forecast to pay {money}{cur} for egress beyond its quota",
        "spend_up": "watch: spend is up {pct} % ({extra}{cur} more) against every comparison",
        "budget_near": "watch: {subject} is forecast to use {pct} % of its {budget}{cur} budget",
        "egress_near": "watch: {subject} is forecast to use {pct} % of its included egress",
        "no_data": "watch: no spend data reached Prometheus for this period; is the exporter running?",
        "unreadable": "watch: Prometheus could not be read, so nothing below is known (see the note)",
        "quiet": "normal: no alert, spend in its usual range, budget and quota on track",
    },
    "zh": {
        "critical_alert": "需处理：{subject} 处于严重状态 {minutes}",
        "over_budget": "需处理：{subject} 预计 {forecast}{cur}，为预算 {budget}{cur} 的 {pct} %",
        "warning_alert": "留意：{subject} 发出警告 {minutes}",
        "egress_overage": "留意：{subject} 预计需为超出配额的流量支付 {money}{cur}",
        "spend_up": "留意：支出较各项对比均上升 {pct} %（多 {extra}{cur}）",
        "budget_near": "留意：{subject} 预计用掉预算 {budget}{cur} 的 {pct} %",
        "egress_near": "留意：{subject} 预计用掉所含流量的 {pct} %",
        "no_data": "留意：本期 Prometheus 没有收到支出数据；exporter 是否在运行？",
        "unreadable": "留意：无法读取 Prometheus，以下情况未知（见备注）",
        "quiet": "正常：没有告警，支出在平常范围内，预算和流量配额正常",
    },
}
WEEKDAY_NAMES = {
    "en": ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"),
    "zh": ("周一", "周二", "周三", "周四", "周五", "周六", "周日"),
}


def num(value: float) -> str:
    return f"{value:g}"


def pct(value: float | None) -> str:
    return "" if value is None else f"{value:+g} %"


def _line(s: SpendLine, cur: str, words: dict[str, str]) -> str:
    who = f"{s.name} ({s.instance})" if s.instance else s.name
    change = pct(s.change_pct) if s.change_pct is not None else (words["new"] if s.previous is None else "")
    return f"{who}: {num(s.amount)}{cur}" + (f" ({change})" if change else "")


def reason_text(r: Reason, cur: str, language: str) -> str:
    template = REASONS[language][r.code]
    values = {k: num(v) for k, v in r.values.items()}
    if "minutes" in r.values:
        values["minutes"] = duration(r.values["minutes"] * 60, language)
    return template.format(subject=r.subject, cur=cur, **values)


def render_digest(
    d: DigestFacts,
    *,
    language: str,
    grafana_url: str | None,
    window_ms: tuple[int, int],
    commentary: str | None = None,
    model: str = "",
    late_due: str | None = None,
) -> Message:
    """`window_ms` (start, end) makes the dashboard link open on the period; `late_due` (the local send time) marks a
    digest sent after its time."""
    w = WORDS[language]
    first = date.fromisoformat(d.first_day)
    if d.kind == "day":
        title = w["title_day"].format(first=d.first_day, weekday=WEEKDAY_NAMES[language][first.weekday()])
    else:
        title = w["title_week"].format(first=d.first_day, last=d.last_day)
    title += f" · {VERDICTS[language][d.verdict]}"
    cur = f" {d.currency}" if d.currency else ""  # "1.23 USD", or "1.23" when the currency is unknown
    if d.total is None:
        headline = w["no_spend"]
    else:
        parts = [w["spent"].format(total=num(d.total), cur=cur)]
        if d.change_pct is not None:
            parts.append(w[f"vs_previous_{d.kind}"].format(pct=pct(d.change_pct)))
        if d.week_before_change_pct is not None:
            parts.append(w["vs_week_before"].format(pct=pct(d.week_before_change_pct)))
        headline = ", ".join(parts) if language == "en" else "，".join(parts)
    sections = [Section(w["why"], tuple(reason_text(r, cur, language) for r in d.reasons))]
    if d.by_resource:
        sections.append(Section(w["resources"], tuple(_line(s, cur, w) for s in d.by_resource)))
    if d.top_workloads:
        sections.append(Section(w["workloads"], tuple(_line(s, cur, w) for s in d.top_workloads)))
    many = len(d.hosts) > 1
    bills, egress = [], []
    for h in d.hosts:
        host = f"{h.instance}: " if many else ""
        if (b := h.bill) is not None:
            text = w["bill_line"].format(host=host, mtd=num(b.month_to_date), forecast=num(b.forecast_period_end),
                                              days=num(b.days_left), cur=cur)  # fmt: skip
            if b.budget is not None and b.forecast_vs_budget_pct is not None:
                text += w["sep"] + w["budget"].format(pct=num(b.forecast_vs_budget_pct), budget=num(b.budget), cur=cur)
            bills.append(text)
        if (e := h.egress) is not None:
            text = w["egress_line"].format(host=host, used=num(e.used_gib), forecast=num(e.forecast_gib))
            if e.included_gib is not None and e.forecast_vs_included_pct is not None:
                text += w["sep"] + w["included"].format(pct=num(e.forecast_vs_included_pct),
                                                         included=num(e.included_gib))  # fmt: skip
            if b is not None and b.egress_overage_forecast > 0:
                text += w["sep"] + w["overage"].format(money=num(b.egress_overage_forecast), cur=cur)
            egress.append(text)
    if bills:
        sections.append(Section(w["bill"], tuple(bills)))
    if egress:
        sections.append(Section(w["egress"], tuple(egress)))
    alerts = [
        w["alert_line"].format(
            name=a.name + (f" · {a.subject}" if a.subject else ""), severity=a.severity, times=a.times,
            on=w["on"].format(instance=a.instance) if a.instance else "", lasted=duration(a.minutes * 60, language),
        )
        for a in d.alerts
    ]  # fmt: skip
    if d.alerts_more:
        alerts.append(w["alerts_more"].format(n=d.alerts_more))
    if not d.context_error:  # unread, "no alert fired" would be a claim we cannot make
        sections.append(Section(w["alerts"], tuple(alerts or [w["no_alerts"]])))
    if commentary:
        sections.append(Section(w["commentary"], (commentary,)))
    footer = []
    if commentary:
        footer.append(w["by_model"].format(model=model))
    if d.context_error:
        footer.append(w["context_error"].format(error=d.context_error))
    if late_due:
        footer.append(w["late"].format(due=late_due, zone=d.timezone))
    links: tuple[tuple[str, str], ...] = ()
    if grafana_url:
        start, end = window_ms
        links = ((w["dashboard"], f"{grafana_url.rstrip('/')}{OVERVIEW}?from={start}&to={end}"),)
    key = f"digest:{d.kind}:{d.first_day}"
    return Message(
        id=0, group_key=key, status="digest", severity=SEVERITY[d.verdict], kind="digest", title=title,
        headline=headline, sections=tuple(sections), footer="\n".join(footer), links=links, source="digest",
        data={"digest": d.model_dump(mode="json"), "commentary": commentary},
    )  # fmt: skip
