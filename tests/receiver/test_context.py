"""Facts gathered from the real Prometheus serving a known history; every figure checked against that history."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import pytest

from receiver.facts import model as f
from receiver.facts.gather import gather
from receiver.facts.prometheus import Prometheus, matchers
from receiver.intake import Webhook
from receiver.settings import Prometheus as PrometheusSettings
from tests.receiver.conftest import dead_url
from tests.support.history import NOW

FIRING = json.loads((Path(__file__).parents[1] / "fixtures" / "alertmanager" / "firing.json").read_text())


def hook(**labels: str) -> Webhook:
    body: dict[str, Any] = copy.deepcopy(FIRING)
    alert = body["alerts"][0]
    alert["labels"].update(labels)
    alert["startsAt"] = datetime.fromtimestamp(NOW - 3600, UTC).isoformat()
    body["commonLabels"] = alert["labels"]
    return Webhook.model_validate(body)


async def facts_from(url: str, h: Webhook) -> f.Facts:
    async with aiohttp.ClientSession() as session:
        return await gather(h, Prometheus(session, PrometheusSettings(url=url, timeout_seconds=5.0)), NOW)


def close(actual: float | None, expected: float, rel: float = 0.02) -> bool:
    return actual is not None and abs(actual - expected) <= rel * abs(expected)


async def test_facts_of_a_cpu_spike(prometheus_url: str) -> None:
    facts = await facts_from(prometheus_url, hook())
    assert facts.context_error is None
    assert facts.currency == "EUR"
    miner = next(w for w in facts.top_workloads if w.name == "miner")
    assert close(miner.cost_per_hour, 0.02)
    assert close(miner.baseline_per_hour, 0.001)  # the week before the alert, not including the spike
    assert close(miner.change_pct, 1900, 0.03)
    assert close(miner.extra_per_day, 0.019 * 24, 0.03)
    assert [w.name for w in facts.top_workloads] == ["miner", "web"]
    day, week = facts.alerted_series
    assert (day.window, week.window) == ("24h", "7d")
    assert close(day.now, 0.02) and close(day.min, 0.001) and close(day.max, 0.02)
    assert 0.0015 < day.mean < 0.0025  # one hour of 0.02 in a day of 0.001
    resources = {r.resource: r for r in facts.by_resource}
    assert close(resources["cpu"].cost_per_hour, 0.022) and close(resources["network_egress"].cost_per_hour, 0.0005)
    assert close(resources["cpu"].share_pct, 0.022 / 0.0225 * 100)
    bill = facts.bill
    assert bill is not None
    assert close(bill.month_to_date, 2.0 + 30 * 0.006 + 0.06)
    assert close(bill.forecast_period_end, 4.5 + 0.06 + 0.01 * 240)  # fixed part + overage so far + its pace
    assert close(bill.days_left, 10) and bill.budget == 5.0
    assert close(bill.forecast_vs_budget_pct, (4.5 + 0.06 + 2.4) / 5 * 100)
    assert close(bill.egress_overage_forecast, 0.06 + 2.4)
    egress = facts.egress
    assert egress is not None
    assert close(egress.used_gib, 130) and close(egress.forecast_gib, 130 + 240) and egress.included_gib == 1000
    assert close(facts.money_at_stake_per_day, (0.02 - week.mean) * 24)


async def test_a_label_cannot_inject_promql(prometheus_url: str) -> None:
    evil = 'miner"} or vector(1) or {__name__="x'
    facts = await facts_from(prometheus_url, hook(cgroup=evil))
    assert facts.context_error is None  # the query was valid: the label is a string value, not syntax
    assert facts.alerted_series == []  # and it selected nothing, because no workload has that name
    assert evil.startswith(facts.alerts[0].cgroup.rstrip("…"))
    assert matchers({"cgroup": 'a"b\\'}) == '{cgroup="a\\"b\\\\"}'


async def test_prometheus_down_gives_alert_only_facts_that_say_so() -> None:
    facts = await facts_from(dead_url(), hook())
    assert facts.context_error is not None and "unreachable" in facts.context_error
    assert facts.alerts[0].cgroup == "miner" and facts.top_workloads == [] and facts.bill is None


async def test_resolved_groups_skip_prometheus(prometheus_url: str) -> None:
    body = {**FIRING, "status": "resolved", "alerts": [{**FIRING["alerts"][0], "status": "resolved"}]}
    facts = await facts_from(prometheus_url, Webhook.model_validate(body))
    assert facts.status == "resolved" and facts.top_workloads == [] and facts.context_error is None


def test_clean_strips_control_and_escape_characters() -> None:
    assert f.clean("\x1b[31mred\x1b[0m\u202ename\n\tnext") == "redname next"
    assert f.clean("x" * 100) == "x" * 63 + "…"


@pytest.mark.parametrize(
    ("value", "expected"), [(0.012345, 0.01235), (1234.5, 1234.0), (0.0, 0.0), (float("nan"), 0.0), (-2.5, -2.5)]
)
def test_significant_digits(value: float, expected: float) -> None:
    assert f.sig(value) == expected


def test_slope_is_least_squares_and_never_negative() -> None:
    t = np.arange(0.0, 600.0, 60.0)
    assert f.slope_per_second(t, 3.0 * t + 7) == pytest.approx(3.0)
    assert f.slope_per_second(t, -t) == 0.0
    assert f.slope_per_second(t[:1], t[:1]) == 0.0
