"""The grounding check on its own: which answers may be sent as fact."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from receiver.analysis import prompt
from receiver.analysis.grounding import check, numbers, pools, supported
from receiver.facts.model import AlertFact, Facts, Workload
from tests.support.fakes.ollama import grounded_answer
from tests.support.grounding_corpus import cases, computed_facts

FACTS = Facts(
    status="firing",
    alerts=[AlertFact(name="CostwardenCostSpike", severity="critical", status="firing", instance="vps1",
                      cgroup="miner", resource="cpu", summary="s", description="d", started="2026-11-28 10:02 UTC")],
    alerts_total=1,
    currency="USD",
    top_workloads=[Workload(name="miner", cost_per_hour=0.01235, baseline_per_hour=0.001, change_pct=1135.0,
                            extra_per_day=0.2724)],
    money_at_stake_per_day=0.2724,
)  # fmt: skip


def answer(**changes: Any) -> str:
    return json.dumps({**grounded_answer(json.loads(FACTS.model_dump_json(exclude_none=True))), **changes})


def test_a_faithful_answer_passes() -> None:
    verdict = check(answer(), "stop", FACTS)
    assert verdict.ok, verdict.problems


@pytest.mark.parametrize("written", ["0.01235", "0.0124", "0.012", "1,135", "1135%", "0.27", "24 h", "7 days"])
def test_numbers_as_supplied_or_rounded_are_accepted(written: str) -> None:
    verdict = check(answer(headline=f"`miner` costs {written}"), "stop", FACTS)
    assert verdict.ok, verdict.problems


@pytest.mark.parametrize("written", ["0.5", "3 times", "1200%", "8.99", "1.5e-03"])
def test_invented_numbers_are_caught(written: str) -> None:
    verdict = check(answer(headline=f"`miner` costs {written}"), "stop", FACTS)
    assert not verdict.ok and "is not in the facts" in verdict.problems[0]


def test_money_at_stake_must_be_the_computed_one() -> None:
    assert not check(answer(money_at_stake_per_day=2.5), "stop", FACTS).ok


def test_names_must_be_supplied() -> None:
    assert not check(answer(headline="`nginx` is the culprit"), "stop", FACTS).ok
    assert check(answer(headline="`miner` on `vps1` is the culprit"), "stop", FACTS).ok


def test_cut_off_and_off_schema_answers_fail() -> None:
    assert check(answer(), "length", FACTS).problems[0].startswith("cut off")
    assert check(answer(severity="apocalyptic"), "stop", FACTS).problems[0].startswith("not the analysis")
    assert check("{", "stop", FACTS).problems[0].startswith("not JSON")


def test_number_reading() -> None:
    assert numbers("1,234.5 and 2.5e-03 but not vps1 or v1.2") == [1234.5, 0.0025]
    assert supported(0.012, [0.01235]) and not supported(0.013, [0.01235])


# --- the labelled corpus, on facts the receiver computed from a real Prometheus -----------------------------------


@pytest.fixture(scope="module")
def computed(prometheus_url: str) -> dict[str, Facts]:
    return asyncio.run(computed_facts(prometheus_url))


def test_the_corpus_is_big_and_the_facts_are_real(computed: dict[str, Facts]) -> None:
    corpus = cases(computed)
    assert len(corpus) >= 200 and {c.language for c in corpus} == {"en", "zh"}
    assert sum(c.good for c in corpus) >= 40 and len({c.kind for c in corpus if not c.good}) >= 18
    spike = computed["spike"]
    assert spike.currency == "EUR" and spike.top_workloads[0].name == "miner" and spike.money_at_stake_per_day
    assert 4242.0 not in pools(spike).numbers  # the alert text is not a source of numbers


@pytest.mark.parametrize("language", ["en", "zh"])
def test_every_good_answer_passes_and_no_bad_one(computed: dict[str, Facts], language: str) -> None:
    wrong = []
    for case in cases(computed):
        if case.language != language:
            continue
        verdict = check(case.answer, case.done_reason, computed[case.facts_name])
        if verdict.ok != case.good:
            wrong.append((case.facts_name, case.kind, verdict.problems[:2]))
        elif not case.good and not any(case.reason in p for p in verdict.problems):
            wrong.append((case.facts_name, case.kind, f"rejected, but not for {case.reason!r}: {verdict.problems[:2]}"))
    assert wrong == []


def test_the_sent_money_at_stake_is_the_computed_one(computed: dict[str, Facts]) -> None:
    facts = computed["spike"]
    good = json.loads(next(c.answer for c in cases({"spike": facts}) if c.kind == "money left out"))
    verdict = check(json.dumps(good), "stop", facts)
    assert verdict.ok and verdict.analysis is not None
    assert verdict.analysis.money_at_stake_per_day == facts.money_at_stake_per_day  # filled in by us


def test_the_prompt_fences_the_alert_text_and_fits(computed: dict[str, Facts]) -> None:
    msgs = prompt.messages(computed["spike with actions"], "zh")
    user = msgs[-1]["content"]
    facts_part, _, fenced = user.partition("\n\nALERT TEXT")
    assert "4242" not in facts_part and "4242" in fenced and fenced.rstrip().endswith(">>>")
    data = json.loads(facts_part.split("\n", 1)[1])
    assert list(data)[:2] == ["currency", "money_at_stake_per_day"]  # most important first
    assert "money_at_stake_per_day (copy FACTS.money_at_stake_per_day or null)" in msgs[0]["content"]  # explained
    assert len(prompt.text(msgs)) < 6000  # about 1,500 tokens; bench.prompt_size counts them with the tokenizer
