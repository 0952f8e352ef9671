"""Every alert of rules/ in the receiver's words, in every language (issue 20): a Chinese message carries no English
word but names and units, and every alert says what it does to the invoice. The alerts are the ones the rules' promtool
unit tests fire, with the annotations Prometheus really renders (promtool checks them, exactly, in make test)."""

from __future__ import annotations

import json
import re
import string
from pathlib import Path

import pytest
import yaml

from costwarden import catalogue as costwarden_catalogue
from costwarden.resources import METERED_RESOURCES, RESOURCES
from receiver.analysis.fallback import summarise
from receiver.facts import model as f
from receiver.intake import Webhook
from receiver.message import catalogue
from receiver.message import words as alert_words
from receiver.message.render import render
from receiver.settings import PublicUrls

ROOT = Path(__file__).parents[2]
FIRING = json.loads((ROOT / "tests" / "fixtures" / "alertmanager" / "firing.json").read_text())
RULE_NAMES = {
    rule["alert"]
    for path in (ROOT / "rules" / "alerting").glob("*.yml")
    for group in yaml.safe_load(path.read_text())["groups"]
    for rule in group["rules"]
}


def _fired() -> list[tuple[dict[str, str], dict[str, str]]]:
    """(labels, annotations) of every alert the promtool unit tests expect, one per alert name and severity."""
    out: dict[tuple[str, str], tuple[dict[str, str], dict[str, str]]] = {}
    for path in sorted((ROOT / "tests" / "rules" / "unit").glob("*.test.yml")):
        for test in yaml.safe_load(path.read_text())["tests"]:
            for case in test.get("alert_rule_test", []):
                for alert in case.get("exp_alerts", []):
                    labels = {"alertname": case["alertname"], **{k: str(v) for k, v in alert["exp_labels"].items()}}
                    out.setdefault((labels["alertname"], labels["severity"]), (labels, alert["exp_annotations"]))
    return list(out.values())


FIRED = _fired()
# What a Chinese message may still spell in Latin letters: names (alerts, hosts, workloads, programs, files), units
# and currency codes, and links.
ALLOWED = re.compile(
    r"https?://\S+|`[^`]*`|Costwarden\w+|costwarden(?:-receiver)?|send-test|Prometheus|Alertmanager|Ollama|"
    r"pricing\.yml|plan_price|(?<![A-Za-z])(?:CPU|AI|CNY|USD|EUR|[KMGTP]iB|B)(?![A-Za-z])"
)


def message(labels: dict[str, str], annotations: dict[str, str], language: str, currency: str = "CNY") -> str:
    body = {**FIRING, "alerts": [{**FIRING["alerts"][0], "labels": labels, "annotations": annotations}],
            "commonLabels": labels, "groupLabels": {"alertname": labels["alertname"]}}  # fmt: skip
    hook = Webhook.model_validate(body)
    facts = f.Facts(status="firing", alerts=f.alert_facts(hook), alerts_total=1, currency=currency,
                    top_workloads=f.workloads({"web": 0.02}, {"web": 0.002}),
                    bill=f.bill(3.1, 6.0, 0.0, 0.0, 10 * 86400, 5.0))  # fmt: skip
    facts.money_at_stake_per_day = f.money_at_stake(facts)
    urls = PublicUrls(grafana="http://grafana:3000")
    return render(1, hook, facts, summarise(facts, language), kind="message", language=language, model="m",
                  source="fallback", reason="unreachable", urls=urls).plain()  # fmt: skip


def test_the_unit_tests_fire_every_alert_of_the_rules() -> None:
    assert {labels["alertname"] for labels, _ in FIRED} == RULE_NAMES


def test_every_alert_has_its_words_in_every_language_with_the_same_numbers() -> None:
    fields = {
        language: {name: {p for _, p, _, _ in string.Formatter().parse(s + d) if p} for name, (s, d) in table.items()}
        for language, table in ((lang, w.alerts) for lang, w in catalogue.CATALOGUES.items())
    }
    assert set(fields["en"]) == set(fields["zh"])
    assert {name.partition(":")[0] for name in fields["en"]} == RULE_NAMES | {"CostwardenSendTest"}
    for name in fields["en"]:
        assert fields["en"][name] == fields["zh"][name], name
    for words in catalogue.CATALOGUES.values():
        assert set(RESOURCES) <= set(words.resources)


@pytest.mark.parametrize(("labels", "annotations"), FIRED, ids=lambda x: x.get("alertname", "") + x.get("severity", ""))
@pytest.mark.parametrize("language", ["en", "zh"])
def test_every_number_the_words_need_is_annotated_by_the_rule(
    labels: dict[str, str], annotations: dict[str, str], language: str
) -> None:
    """A placeholder the rule's `values` does not fill would drop the description to the bare summary."""
    values = alert_words.parse_values(annotations.get("values", ""))
    said = alert_words.words_for(labels["alertname"], labels["severity"], labels, values, "CNY", language)
    assert said is not None and said[1], (labels, values)


@pytest.mark.parametrize(("labels", "annotations"), FIRED, ids=lambda x: x.get("alertname", "") + x.get("severity", ""))
def test_the_chinese_message_of_every_alert_has_no_english_word(
    labels: dict[str, str], annotations: dict[str, str]
) -> None:
    text = message(labels, annotations, "zh")
    rest = text
    for name in filter(re.compile("[A-Za-z]").search, labels.values()):  # hosts, workloads, collectors: names
        rest = re.sub(rf"(?<![\w.-]){re.escape(name)}(?![\w.-])", "", rest)
    left = re.findall(r"[A-Za-z]{2,}", ALLOWED.sub("", rest))
    assert not left, f"{left} in:\n{text}"
    english = message(labels, annotations, "en", "USD")
    assert annotations["summary"] in english or labels["alertname"] == "CostwardenCostSpike"


def test_a_cpu_spike_on_a_flat_plan_is_capacity_and_an_egress_spike_is_money() -> None:
    """Issue 20: "0.0312 USD/h against 0.0010 expected" on a flat-price plan read like money being lost."""
    labels, annotations = next((lab, ann) for lab, ann in FIRED if lab["alertname"] == "CostwardenCostSpike")
    assert labels["resource"] not in METERED_RESOURCES
    cpu = message(labels, annotations, "en", "USD")
    assert "share of the plan, not extra money" in cpu and "providers suspend servers" in cpu
    assert "Money at stake" not in cpu and "Plan capacity used beyond usual" in cpu
    egress = message({**labels, "resource": "network_egress"}, annotations, "en", "USD")
    assert "a day more" in egress and "Money at stake" in egress and "not extra money" not in egress
    zh = message(labels, annotations, "zh")
    assert "不是额外花费" in zh and "涉及金额" not in zh


def test_values_are_numbers_only() -> None:
    """An annotation is untrusted: only key=number pairs are read, and nothing that is not finite."""
    assert alert_words.parse_values("ratio=4 sustained=0.05 x=NaN y=+Inf evil=`rm` z=1e+06") == {
        "ratio": 4.0, "sustained": 0.05, "z": 1e6,
    }  # fmt: skip


def test_an_alert_without_its_numbers_says_its_summary_and_an_unknown_alert_keeps_its_own_words() -> None:
    labels = {"alertname": "CostwardenBudgetExceeded", "severity": "critical", "instance": "vps1"}
    assert alert_words.words_for("CostwardenBudgetExceeded", "critical", labels, {}, "CNY", "zh") == (
        catalogue.of("zh").alerts["CostwardenBudgetExceeded"][0], None,
    )  # fmt: skip
    mine = {"alertname": "MyOwnAlert", "severity": "warning", "instance": "vps1"}
    text = message(mine, {"summary": "Disk on fire", "description": "Call Bob"}, "zh")
    assert "Call Bob" in text and "警告" in text


@pytest.mark.parametrize(
    ("seconds", "en", "zh"), [(840, "14 min", "14 分钟"), (93900, "1 d 2 h 5 min", "1 天 2 小时 5 分钟")]
)
def test_durations_in_both_languages(seconds: float, en: str, zh: str) -> None:
    assert alert_words.duration(seconds, "en") == en and alert_words.duration(seconds, "zh") == zh


def test_every_table_of_words_has_the_same_entries_and_placeholders_in_every_language() -> None:
    """A word added in one language only (or with a placeholder the other lacks) would raise KeyError, or show the
    English key, in the other language's messages — the receiver's tables, config errors and the command line's."""

    def walk(mine: object, theirs: object, where: str) -> None:
        if isinstance(theirs, dict):
            assert isinstance(mine, dict) and set(mine) == set(theirs), where
            for key in theirs:
                walk(mine[key], theirs[key], f"{where}.{key}")
        elif isinstance(theirs, list):
            assert isinstance(mine, list) and len(mine) == len(theirs), where
            if where.split(".")[1] != "weekdays":  # weekdays are names; (cause, check) pairs have placeholders
                for i, (a, b) in enumerate(zip(mine, theirs, strict=True)):
                    walk(a, b, f"{where}[{i}]")
        else:
            assert isinstance(mine, str) and placeholders(mine) == placeholders(str(theirs)), where

    for language in costwarden_catalogue.LANGUAGES:
        walk(costwarden_catalogue.tables(language), costwarden_catalogue.tables("en"), language)


def placeholders(text: str | tuple[str, ...]) -> set[str]:
    texts = text if isinstance(text, tuple) else (text,)
    return {p for t in texts for _, p, _, _ in string.Formatter().parse(t) if p}
