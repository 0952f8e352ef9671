"""The digest as a message: the same structure as an alert's (`render.Message`), so every channel lays it out in its
own markup and escapes every piece. Plain words, numbers as computed, in English or Chinese."""

from __future__ import annotations

from datetime import date

from receiver.digest.facts import DigestFacts, Reason, SpendLine
from receiver.facts.model import context_said
from receiver.message import catalogue
from receiver.message.render import Message, Section
from receiver.message.words import duration

SEVERITY = {"normal": "info", "watch": "warning", "act": "critical"}
OVERVIEW = "/d/costwarden-overview/"


def num(value: float) -> str:
    return f"{value:g}"


def pct(value: float | None) -> str:
    return "" if value is None else f"{value:+g} %"


def _line(s: SpendLine, cur: str, words: dict[str, str]) -> str:
    who = f"{s.name} ({s.instance})" if s.instance else s.name
    change = pct(s.change_pct) if s.change_pct is not None else (words["new"] if s.previous is None else "")
    return f"{who}: {num(s.amount)}{cur}" + (f" ({change})" if change else "")


def reason_text(r: Reason, cur: str, language: str) -> str:
    template = catalogue.of(language).digest_reasons[r.code]
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
    w = catalogue.of(language).digest
    first = date.fromisoformat(d.first_day)
    if d.kind == "day":
        title = w["title_day"].format(first=d.first_day, weekday=catalogue.of(language).weekdays[first.weekday()])
    else:
        title = w["title_week"].format(first=d.first_day, last=d.last_day)
    title += f" · {catalogue.of(language).verdicts[d.verdict]}"
    cur = f" {d.currency}" if d.currency else ""  # "1.23 USD", or "1.23" when the currency is unknown
    if d.total is None:
        headline = w["no_spend"]
    else:
        parts = [w["spent"].format(total=num(d.total), cur=cur)]
        if d.change_pct is not None:
            parts.append(w[f"vs_previous_{d.kind}"].format(pct=pct(d.change_pct)))
        if d.week_before_change_pct is not None:
            parts.append(w["vs_week_before"].format(pct=pct(d.week_before_change_pct)))
        headline = w["headline_sep"].join(parts)
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
            if b is not None and b.egress_overage_forecast > 0:  # no quota: every GB is billed, none is "overage"
                said = w["metered" if e.metered else "overage"]
                text += w["sep"] + said.format(money=num(b.egress_overage_forecast), cur=cur)
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
    if d.expected:
        sections.append(Section(w["expected"], tuple(w["expected_line"].format(name=name, count=count)
                                                     for name, count in sorted(d.expected.items()))))  # fmt: skip
    if commentary:
        sections.append(Section(w["commentary"], (commentary,)))
    footer = []
    if commentary:
        footer.append(w["by_model"].format(model=model))
    if d.context_error:
        said = context_said(d.context_error, d.context_problem, catalogue.of(language).fallback)
        footer.append(w["context_error"].format(error=said))
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
