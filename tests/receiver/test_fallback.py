"""The deterministic summary says only what is true, for every alert of rules/ (issue 16): its cause and action belong
to that alert, and money at stake is shown only for alerts about spending more."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from costwarden.resources import RESOURCES
from receiver.analysis.fallback import summarise
from receiver.facts import model as f
from receiver.intake import Webhook
from receiver.message import catalogue
from receiver.message.render import render
from receiver.settings import PublicUrls

ROOT = Path(__file__).parents[2]
FIRING = json.loads((ROOT / "tests" / "fixtures" / "alertmanager" / "firing.json").read_text())
RULES = [
    (rule["alert"], rule["labels"].get("severity", ""))
    for path in sorted((ROOT / "rules" / "alerting").glob("*.yml"))
    for group in yaml.safe_load(path.read_text())["groups"]
    for rule in group["rules"]
]
SPENDING_UP = {"en": "Spending is above its usual level", "zh": "支出高于平时水平"}
MONEY = {"en": "Money at stake", "zh": "涉及金额"}
CAPACITY = {"en": "Plan capacity used beyond usual", "zh": "超出平时的套餐资源占用"}


def facts_for(name: str, severity: str) -> tuple[Webhook, f.Facts]:
    labels = {"alertname": name, "severity": severity, "instance": "vps1", "job": "costwarden-exporter",
              "cgroup": "web", "resource": "cpu"}  # fmt: skip
    body = {**FIRING, "alerts": [{**FIRING["alerts"][0], "labels": labels}], "commonLabels": labels}
    hook = Webhook.model_validate(body)
    facts = f.Facts(status="firing", alerts=f.alert_facts(hook), alerts_total=1, currency="EUR",
                    top_workloads=f.workloads({"web": 0.02}, {"web": 0.002}),
                    bill=f.bill(3.1, 6.0, 0.0, 0.0, 10 * 86400, 5.0))  # fmt: skip
    facts.money_at_stake_per_day = f.money_at_stake(facts)
    return hook, facts


def test_every_alert_rule_is_classified() -> None:
    assert len(RULES) >= 19
    kinds = {name: f.alert_kind(name) for name, _ in RULES}
    assert set(f.KINDS) - {"CostwardenSendTest"} <= set(kinds)  # no stale name in the table
    assert kinds["CostwardenExporterDown"] == kinds["CostwardenCollectorErrors"] == "watch"


@pytest.mark.parametrize("language", ["en", "zh"])
@pytest.mark.parametrize(("name", "severity"), RULES)
def test_the_fallback_of_each_alert_says_only_what_is_true(name: str, severity: str, language: str) -> None:
    hook, facts = facts_for(name, severity)
    analysis = summarise(facts, language)
    text = render(1, hook, facts, analysis, kind="message", language=language, model="m", source="fallback",
                  reason="unreachable", urls=PublicUrls()).plain()  # fmt: skip
    kind = f.alert_kind(name)
    cause = analysis.likely_causes[0].cause
    if kind == "cost":
        assert cause == catalogue.of(language).causes["cpu"][0]
        # CPU on a flat plan: capacity, not money (issue 20)
        assert CAPACITY[language] in text and MONEY[language] not in text and facts.money_at_stake_per_day
    else:
        assert cause == catalogue.of(language).kind_causes[kind][0]
        assert SPENDING_UP[language] not in text
        assert (MONEY[language] in text) == (kind == "bill"), text


@pytest.mark.parametrize("language", ["en", "zh"])
def test_every_resource_the_exporter_prices_has_its_own_cause(language: str) -> None:
    """The exporter names egress `network_egress`; the causes were keyed `egress`, so an egress spike got the
    generic cause."""
    assert set(RESOURCES) <= set(catalogue.of(language).causes)
    labels = {"alertname": "CostwardenCostSpike", "severity": "critical", "instance": "vps1", "cgroup": "web",
              "resource": "network_egress"}  # fmt: skip
    body = {**FIRING, "alerts": [{**FIRING["alerts"][0], "labels": labels}], "commonLabels": labels}
    facts = f.Facts(status="firing", alerts=f.alert_facts(Webhook.model_validate(body)), alerts_total=1)
    assert summarise(facts, language).likely_causes[0].cause == catalogue.of(language).causes["network_egress"][0]


def test_a_chinese_fallback_gives_its_reason_in_chinese() -> None:
    hook, facts = facts_for("CostwardenCostSpike", "critical")
    text = render(1, hook, facts, summarise(facts, "zh"), kind="message", language="zh", model="m",
                  source="fallback", reason="ungrounded", urls=PublicUrls()).plain()  # fmt: skip
    assert "未使用 AI 的自动摘要（模型的回答与事实不符）。" in text and "did not match" not in text


@pytest.mark.parametrize(
    ("cgroup", "command"),
    [
        ("web", "`docker top web`"),
        ("nginx.service", "`systemctl status nginx.service`"),
        ("a b`; rm -rf /", "`docker top <container>`"),
    ],
)
def test_do_now_names_the_workload(cgroup: str, command: str) -> None:
    """Issue 20: "Do now" said `docker top <container>` instead of naming the container; an odd label stays out."""
    _, facts = facts_for("CostwardenCostSpike", "critical")
    facts.alerts[0].cgroup = cgroup
    assert command in summarise(facts, "en").immediate_actions[0]


def test_budget_advice_only_when_the_bill_is_known_to_have_none() -> None:
    """Found trying `make init` as a new user: the test message init sends (no Prometheus yet, so no bill facts)
    advised "Set a budget in the pricing table" to a user who had just given one. The advice needs a bill read
    without a budget; an unknown bill says nothing about budgets."""
    _, facts = facts_for("CostwardenCostSpike", "warning")
    advice = catalogue.of("en").fallback["advice"]
    assert advice not in summarise(facts, "en").longer_term_advice  # a budget is set
    unknown = facts.model_copy(update={"bill": None})
    assert advice not in summarise(unknown, "en").longer_term_advice
    unset = facts.model_copy(update={"bill": f.bill(3.1, 6.0, 0.0, 0.0, 10 * 86400, None)})
    assert advice in summarise(unset, "en").longer_term_advice
