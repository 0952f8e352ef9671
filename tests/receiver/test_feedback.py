"""`costwarden-receiver feedback export`: the pages marked expected, as a corpus the detection benchmark reads, from
the real Prometheus serving a known history."""

from __future__ import annotations

import json
import math
import time
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest

from costwarden import corpus
from costwarden.actions import Outcome
from receiver import cli, feedback
from receiver.facts.prometheus import Prometheus
from receiver.settings import Prometheus as PrometheusSettings
from receiver.store import audit, notifications
from receiver.store.outbox import Outbox
from tests.support.history import NOW

FIXTURES = Path(__file__).parents[1] / "fixtures" / "alertmanager"


async def test_pages_marked_expected_export_as_a_corpus_the_benchmark_reads(
    tmp_path: Path, prometheus_url: str
) -> None:
    hook = json.loads((FIXTURES / "firing.json").read_text())
    hook["alerts"][0]["startsAt"] = datetime.fromtimestamp(NOW - 3600, UTC).isoformat()
    outbox = Outbox(tmp_path / "outbox.sqlite3", 3600)
    await outbox.open()
    try:
        marked = await outbox.store(notifications.Arrival("k1", "g1", "firing", json.dumps(hook)))
        other = await outbox.store(notifications.Arrival("k2", "g2", "firing", json.dumps(hook)))
        for note, row in (
            (marked.id, Outcome("button:expected", "button", "done", reason="@ann (telegram 42)")),
            (other.id, Outcome("button:ack", "button", "done", reason="@bob (telegram 43)")),
            (other.id, Outcome("button:expected", "button", "refused", reason="chat -1 not allowed")),
        ):
            await outbox.write(audit.record, note, "g", row, time.time())  # fmt: skip
        async with aiohttp.ClientSession() as session:
            prometheus = Prometheus(session, PrometheusSettings(url=prometheus_url, timeout_seconds=10))
            written = await feedback.export(outbox, prometheus, tmp_path / "corpus", time.time() - 86400, time.time())
    finally:
        await outbox.close()
    (scenario,) = corpus.read_all(tmp_path / "corpus")  # only the page marked expected, and only once
    assert (
        written == [tmp_path / "corpus" / scenario.name]
        and scenario.name == f"expected-{marked.id}-CostwardenCostSpike"
    )
    assert scenario.normal and scenario.forbid == [{"alertname": "CostwardenCostSpike", "instance": "vps1"}]
    assert "marked expected by @ann" in scenario.description
    costs = {
        f"{s.labels['cgroup']}/{s.labels['resource']}": s
        for s in scenario.series
        if s.metric == "costwarden_cost_total"
    }
    assert {"web/cpu", "miner/cpu"} <= set(costs) and costs["miner/cpu"].kind == "counter"
    miner = costs["miner/cpu"]
    assert miner.timestamps[0] <= NOW - 3600 - 8 * 86400 + 60 and miner.timestamps[-1] >= NOW - 60  # 8 days before
    known = [v for v in miner.values if not math.isnan(v)]
    assert len(known) >= 29 * 60 and known == sorted(known)  # Prometheus' own samples of a counter; gaps before
    assert math.isnan(miner.values[0])  # the history is 30 h long: the rest of the baseline is a gap, not zeros


def test_feedback_needs_export_and_a_directory(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["feedback"])
    assert exited.value.code == 2 and "feedback needs: export --out DIR" in capsys.readouterr().err
    # Found in a new-user trial: `serve export` started the server, the word silently ignored.
    with pytest.raises(SystemExit) as exited:
        cli.main(["serve", "export"])
    assert exited.value.code == 2 and "export belongs to feedback" in capsys.readouterr().err
