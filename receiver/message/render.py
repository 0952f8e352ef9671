"""The message a person reads: plain text, phone-sized, the same layout for the model's analysis and the fallback.

Plain text on purpose: each channel escapes it for its own markup when it sends (issue: channels); nothing here is
markup, and every untrusted string in it was cleaned by `facts.clean`.
"""

from __future__ import annotations

import ipaddress
import json
import time
import urllib.parse
from dataclasses import asdict, dataclass, field

from costwarden import catalogue as costwarden_catalogue
from receiver.analysis.schema import Analysis
from receiver.facts.model import Facts, alert_kind, clean
from receiver.intake import Webhook
from receiver.message import catalogue
from receiver.message import words as alert_words
from receiver.settings import PublicUrls

BUTTONS = ("s1h", "s24h", "ack", "expected")
"""What a firing alert offers: silence it for 1 h or 24 h, acknowledge it, mark it expected (planned: the digest
counts these per alert; receiver/buttons.py acts on them)."""


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
    actions: tuple[tuple[str, str], ...] = ()
    """(label, action) a person can take from the message: the buttons of channels that have them (receiver/buttons)."""
    act_links: tuple[tuple[str, str], ...] = ()
    """(label, signed URL) to the same actions, for channels without buttons (receiver/links; receiver_url set)."""

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
        """Without the signed action links: they are credentials, for the people a message reaches, not for logs,
        files or the machines behind a webhook."""
        return {k: v for k, v in asdict(self).items() if k != "act_links"}


def opens_elsewhere(url: str) -> bool:
    """Whether a link could open on a phone: an http(s) URL whose host is not loopback and not a bare name (a
    container's name or id, as compose and Docker give them). Private addresses stay: a VPN may reach them."""
    parts = urllib.parse.urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https") or not host or host == "localhost" or host.endswith(".localhost"):
        return False
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return "." in host
    return not (address.is_loopback or address.is_unspecified or address.is_link_local)


LINK_CHARS = 2000
"""The longest link a message carries: what every browser and chat app opens. A longer one (a silence pre-filled
with a 5,000-character label) is left out, as a link cut short or clipped with an ellipsis would be a dead one."""


def links(hook: Webhook, urls: PublicUrls, words: dict[str, str]) -> tuple[tuple[str, str], ...]:
    """Runbook, dashboard, the Prometheus graph and a pre-filled silence, each on the address people open (the
    configured public URLs) or left out when it could not open from a phone: a message carries no dead links."""
    first = hook.alerts[0]
    annotations = {**hook.commonAnnotations, **first.annotations}
    out: list[tuple[str, str]] = []
    if opens_elsewhere(runbook := annotations.get("runbook_url", "")):
        out.append((words["runbook"], runbook))
    dashboard = annotations.get("dashboard_url", "")
    if dashboard.startswith("/") and urls.grafana:
        out.append((words["dashboard"], urls.grafana.rstrip("/") + dashboard))
    elif opens_elsewhere(dashboard):
        out.append((words["dashboard"], dashboard))
    graph = urllib.parse.urlsplit(first.generatorURL)
    if urls.prometheus and graph.path.endswith("/graph"):  # <external URL>/graph?g0.expr=…: the expression kept
        out.append((words["graph"], f"{urls.prometheus.rstrip('/')}/graph?{graph.query}"))
    elif opens_elsewhere(first.generatorURL):
        out.append((words["graph"], first.generatorURL))
    silences = urls.alertmanager or (hook.externalURL if opens_elsewhere(hook.externalURL) else "")
    if hook.status == "firing" and silences:
        matchers = ", ".join(f"{k}={json.dumps(v)}" for k, v in sorted((hook.groupLabels or first.labels).items()))
        query = urllib.parse.quote("{" + matchers + "}", safe="")
        out.append((words["silence"], f"{silences.rstrip('/')}/#/silences/new?filter={query}"))
    kept = ((label, url.strip()) for label, url in out)  # a block scalar's newline is no part of the link
    return tuple((label, url) for label, url in kept if clean(url, LINK_CHARS) == url)  # clean clips a longer one


def offered(facts: Facts, language: str, runs: bool = False) -> tuple[tuple[str, str], ...]:
    """The buttons under a firing alert: silence, acknowledge, expected, and (`runs`: buttons.allowed_users is set)
    *Run <action>* for each remediation actions.yml lets a person run (`button: true`) that did not already run by
    itself (`r<its index in facts>`)."""
    if facts.status != "firing":
        return ()
    words = catalogue.of(language).labels
    run_buttons = [(words["button_run"].format(name=a.name), f"r{i}") for i, a in enumerate(facts.actions)
                   if runs and a.button and a.state == "dry_run"]  # fmt: skip
    return tuple((words[f"button_{a}"], a) for a in BUTTONS) + tuple(run_buttons)


def act_links(note_id: int, facts: Facts, urls: PublicUrls, language: str) -> tuple[tuple[str, str], ...]:
    """Signed links to a firing alert's silence / acknowledge / expected (not to a remediation: that stays on Telegram,
    where the person is known), when people can reach the receiver."""
    if urls.actions is None or facts.status != "firing" or note_id <= 0:
        return ()
    now = time.time()
    return tuple((label, urls.actions.url(note_id, a, now)) for label, a in offered(facts, language) if a in BUTTONS)


def host_sections(facts: Facts, language: str) -> list[Section]:
    """What the exporter's diagnostics saw and what became of each remediation: facts, shown whoever wrote the
    analysis (and so also in the page sent before it)."""
    words, states = catalogue.of(language).labels, catalogue.of(language).action_states
    named = costwarden_catalogue.tables(language)["diagnostics"]  # the built-in ones' headings; others keep theirs
    seen = [words["diagnostic"].format(name=named.get(f"heading_{d.name}", d.name), line=line)
            for d in facts.diagnostics for line in (d.lines or [d.reason or d.state])]  # fmt: skip
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
    urls: PublicUrls,
    runs: bool = False,
) -> Message:
    """The message for a notification. `analysis` is None for a resolution, which needs none. `runs`: *Run <action>*
    buttons may be offered (buttons.allowed_users is set)."""
    words = catalogue.of(language).labels
    first = facts.alerts[0]
    severity = first.severity or "alert"
    title = words["resolved" if facts.status == "resolved" else "firing"].format(
        severity=catalogue.of(language).severity.get(first.severity, first.severity.upper()),
        name=first.name or words["unnamed"],
        instance=first.instance or "-",
    )
    if facts.alerts_total > 1:
        title += words["more"].format(n=facts.alerts_total - 1)  # its own space, if its language has one
    alertmanager = {**hook.model_dump(mode="json"), "groupKey": hook.group}
    data = {"facts": facts.model_dump(mode="json"), "alertmanager": alertmanager,
            "analysis": analysis.model_dump(mode="json") if analysis else None}  # fmt: skip
    base = {"data": data, "id": note_id, "group_key": clean(hook.groupKey, 300), "status": facts.status,
            "severity": severity, "kind": kind, "title": title, "source": source,
            "links": links(hook, urls, words),
            "actions": offered(facts, language, runs) if kind in ("message", "page") else (),
            "act_links": act_links(note_id, facts, urls, language) if kind in ("message", "page") else ()}  # fmt: skip
    if analysis is None:
        alert = hook.alerts[0]
        lasted = (alert.endsAt - alert.startsAt).total_seconds() if alert.endsAt > alert.startsAt else None
        body = words["resolved_body"].format(started=first.started)
        if lasted is not None:
            # The catalogue's "lasted" holds its own space between sentences (none in Chinese).
            body += words["lasted"].format(duration=alert_words.duration(lasted, language))
        summary = alert_words.texts(first, facts.currency, language)[0]
        return Message(**base, headline=summary, sections=(Section("", (body,)),), footer="")  # type: ignore[arg-type]
    likelihood = catalogue.of(language).likelihood
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
        footer.append(words["by_rules"].format(reason=catalogue.of(language).reasons.get(reason or "", reason or "")))
    else:
        footer.append(words["by_model"].format(model=clean(model)))
    return Message(**base, headline=analysis.headline, sections=tuple(sections), footer="\n".join(footer))  # type: ignore[arg-type]


def no_analysis(note_id: int, group_key: str, title: str, reason: str, language: str) -> Message:
    """The follow-up a page promised, when the model could not give an analysis: one line saying why."""
    words = catalogue.of(language)
    return Message(
        id=note_id, group_key=group_key, status="firing", severity="", kind="followup", title=title,
        headline=words.no_analysis.format(reason=words.reasons.get(reason, reason)), sections=(), footer="",
        links=(), source="fallback",
    )  # fmt: skip


def parked_notice(note_id: int, group_key: str, error: str, attempts: int, language: str) -> Message:
    """What the admin channels are told when a notification is parked: which one, why, and where it is kept."""
    w = catalogue.of(language).notice
    group = clean(group_key, 200)
    return Message(
        id=note_id, group_key=group_key, status="parked", severity="warning", kind="notice", title=w["title"],
        headline=w["headline"].format(id=note_id, group=group, n=attempts),
        sections=(Section(w["heading"], (clean(error, 500),)),), footer=w["footer"].format(id=note_id), links=(),
        source="receiver",
    )  # fmt: skip
