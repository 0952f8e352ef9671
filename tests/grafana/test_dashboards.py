"""grafana/: the provisioned datasource and the three dashboards the alerts link to. Every panel uses the provisioned
datasource, every alert's dashboard link exists, and every panel's query returns data on a real Prometheus loaded
with two scenarios (a miner, a budget overrun: eight days each) and every recording rule evaluated over them."""

from __future__ import annotations

import json
import re
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from costwarden.corpus import Series
from tests.support.detection import engine, synth
from tests.support.detection.synth import monday_base

ROOT = Path(__file__).parents[2]
DASHBOARDS = {p.stem: json.loads(p.read_text()) for p in sorted((ROOT / "grafana" / "dashboards").glob("*.json"))}
DATASOURCE = yaml.safe_load((ROOT / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text())
UID = DATASOURCE["datasources"][0]["uid"]


def targets() -> Iterator[tuple[str, str, str]]:
    for uid, dashboard in DASHBOARDS.items():
        for panel in dashboard["panels"]:
            for target in panel["targets"]:
                yield uid, panel["title"], target["expr"]


def test_dashboards_are_the_three_the_alerts_link_to() -> None:
    assert set(DASHBOARDS) == {"costwarden-overview", "costwarden-containers", "costwarden-anomalies"}
    assert all(d["uid"] == uid for uid, d in DASHBOARDS.items())  # file name = uid, uids unique
    linked = set()
    for path in (ROOT / "rules" / "alerting").glob("*.yml"):
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                url = rule["annotations"]["dashboard_url"]
                linked.add(re.match(r"/d/([^/?]+)/", url).group(1))  # type: ignore[union-attr]
    assert linked == {"costwarden-overview", "costwarden-anomalies"}  # containers is for browsing, not linked


def test_everything_uses_the_provisioned_datasource() -> None:
    for uid, dashboard in DASHBOARDS.items():
        for panel in dashboard["panels"]:
            assert panel["datasource"] == {"type": "prometheus", "uid": UID}, (uid, panel["title"])
            assert all(t["datasource"]["uid"] == UID for t in panel["targets"])
            ids = [p["id"] for p in dashboard["panels"]]
            assert len(set(ids)) == len(ids)
        assert all(v["datasource"]["uid"] == UID for v in dashboard["templating"]["list"])


def usage(instance: str, start: float, end: float) -> list[Series]:
    """The exporter's per-container usage series, which the detection scenarios do not carry."""
    ts = [start + 60 * i for i in range(int((end - start) // 60) + 1)]
    labels = {"instance": instance, "job": "costwarden-exporter", "cgroup": "app"}
    rising = [float(i) for i in range(len(ts))]
    return [
        Series("costwarden_cgroup_cpu_usage_seconds_total", labels, "counter", ts, [30 * x for x in rising]),
        Series("costwarden_cgroup_memory_working_set_bytes", labels, "gauge", ts, [2.0**28] * len(ts)),
        Series("costwarden_cgroup_network_transmit_bytes_total", labels, "counter", ts, [1e6 * x for x in rising]),
    ]  # fmt: skip


def provider_bill(scenario_series: list[Series]) -> list[Series]:
    """What the exporter's provider_api adds: the provider's month-to-date, three hours late and updated every
    15 minutes, which the detection scenarios do not carry."""
    plan = next(s for s in scenario_series if s.metric == "costwarden_bill_total" and s.labels["component"] == "plan")
    labels = {"instance": plan.labels["instance"], "job": plan.labels["job"], "provider": "digitalocean"}
    lag, step = 180, 15  # minutes: the samples are a minute apart
    values = [plan.values[max(0, (i - lag) // step * step)] for i in range(len(plan.values))]
    return [Series("costwarden_billing_month_to_date", labels, "gauge", plan.timestamps, values)]


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, float]]:
    scenarios = [s for s in synth.build(monday_base()) if s.name in ("miner", "budget-overrun")]
    scenarios[0].series += usage(scenarios[0].series[0].labels["instance"], scenarios[0].start, scenarios[0].end)
    scenarios[1].series += provider_bill(scenarios[1].series)
    workdir = tmp_path_factory.mktemp("grafana")
    data, _, end = engine.backfill(scenarios, workdir)
    with engine.serve(data, workdir) as url:
        yield url, end


def query(url: str, expr: str, end: float) -> list[dict[str, Any]]:
    params = urllib.parse.urlencode({"query": expr, "start": end - 6 * 3600, "end": end, "step": 300})
    with urllib.request.urlopen(f"{url}/api/v1/query_range?{params}", timeout=60) as resp:  # noqa: S310 - loopback
        body = json.load(resp)
    assert body["status"] == "success", body
    return list(body["data"]["result"])


# Against two scenarios backfilled and their recording rules replayed (about 2.5 minutes): `make test-slow`.
@pytest.mark.slow
@pytest.mark.parametrize(("uid", "title", "expr"), list(targets()), ids=lambda v: str(v)[:60])
def test_every_panel_query_returns_data(prometheus: tuple[str, float], uid: str, title: str, expr: str) -> None:
    url, end = prometheus
    concrete = expr.replace("$instance", ".*").replace("$cgroup", ".*").replace("$resource", ".*")
    assert query(url, concrete, end), f"{uid} / {title}: no data for {concrete}"


@pytest.mark.slow
def test_variable_queries_find_values(prometheus: tuple[str, float]) -> None:
    url, end = prometheus
    for dashboard in DASHBOARDS.values():
        for variable in dashboard["templating"]["list"]:
            inner = re.fullmatch(r"label_values\((.+), (\w+)\)", variable["definition"])
            assert inner is not None
            series = query(url, inner.group(1).replace("$instance", ".*").replace("$cgroup", ".*"), end)
            assert {s["metric"].get(inner.group(2)) for s in series} - {None}
