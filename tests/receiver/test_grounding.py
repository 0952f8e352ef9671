"""The grounding check on its own: which answers may be sent as fact."""

from __future__ import annotations

import json
from typing import Any

import pytest

from receiver import prompt
from receiver.facts import AlertFact, Facts, Workload
from receiver.grounding import check, numbers, supported
from tests.fakes.ollama import grounded_answer

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
SUPPLIED = prompt.messages(FACTS, "en")[-1]["content"]


def answer(**changes: Any) -> str:
    return json.dumps({**grounded_answer(json.loads(FACTS.model_dump_json(exclude_none=True))), **changes})


def test_a_faithful_answer_passes() -> None:
    verdict = check(answer(), "stop", FACTS, SUPPLIED)
    assert verdict.ok, verdict.problems


@pytest.mark.parametrize("written", ["0.01235", "0.0124", "0.012", "1,135", "1135%", "0.27", "24 h", "7 days"])
def test_numbers_as_supplied_or_rounded_are_accepted(written: str) -> None:
    verdict = check(answer(headline=f"Costs {written}"), "stop", FACTS, SUPPLIED)
    assert verdict.ok, verdict.problems


@pytest.mark.parametrize("written", ["0.5", "3 times", "1200%", "8.99", "1.5e-03"])
def test_invented_numbers_are_caught(written: str) -> None:
    verdict = check(answer(headline=f"Costs {written}"), "stop", FACTS, SUPPLIED)
    assert not verdict.ok and "is not in the facts" in verdict.problems[0]


def test_money_at_stake_must_be_the_computed_one() -> None:
    assert not check(answer(money_at_stake_per_day=2.5), "stop", FACTS, SUPPLIED).ok


def test_names_must_be_supplied() -> None:
    assert not check(answer(headline="`nginx` is the culprit"), "stop", FACTS, SUPPLIED).ok
    assert check(answer(headline="`miner` on `vps1` is the culprit"), "stop", FACTS, SUPPLIED).ok


def test_cut_off_and_off_schema_answers_fail() -> None:
    assert check(answer(), "length", FACTS, SUPPLIED).problems[0].startswith("cut off")
    assert check(answer(severity="apocalyptic"), "stop", FACTS, SUPPLIED).problems[0].startswith("not the analysis")
    assert check("{", "stop", FACTS, SUPPLIED).problems[0].startswith("not JSON")


def test_number_reading() -> None:
    assert numbers("1,234.5 and 2.5e-03 but not vps1 or v1.2") == [1234.5, 0.0025]
    assert supported(0.012, [0.01235]) and not supported(0.013, [0.01235])
