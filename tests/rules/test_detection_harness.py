"""The detection benchmark's own parts: the corpus format, `for:` handling, and a real replay of a short scenario."""

from __future__ import annotations

import math
from pathlib import Path

from costwarden import corpus
from tests.support.detection import engine, score, synth
from tests.support.detection.synth import monday_base


def test_corpus_round_trip_keeps_gaps_labels_and_windows(tmp_path: Path) -> None:
    original = next(s for s in synth.build(monday_base()) if s.name == "counter-resets")
    corpus.write(original, tmp_path / "c")
    again = corpus.read(tmp_path / "c")
    assert (again.name, again.normal, again.forbid) == (original.name, original.normal, original.forbid)
    assert len(again.series) == len(original.series)
    for a, b in zip(again.series, original.series, strict=True):
        assert (a.metric, a.labels, a.kind, a.timestamps) == (b.metric, b.labels, b.kind, b.timestamps)
        assert [math.isnan(v) for v in a.values] == [math.isnan(v) for v in b.values]
        if a.metric == "costwarden_cost_total":
            assert any(math.isnan(v) for v in a.values)  # the restarts' missed scrapes survive as gaps
        assert all(x == y for x, y in zip(a.values, b.values, strict=True) if not math.isnan(x))


def test_for_duration_needs_an_unbroken_run() -> None:
    step = engine.STEP
    values = [[t * step, "1"] for t in (*range(0, 6), *range(10, 30))]  # 5 min true, a gap, then 19 min true
    fired = engine.firings(10 * 60, {"severity": "warning"}, "A", [{"metric": {"instance": "x"}, "values": values}])
    assert len(fired) == 1
    assert fired[0].start == 20 * step
    assert fired[0].end == 29 * step
    assert fired[0].labels == {"instance": "x", "severity": "warning"}


def test_replay_of_a_fresh_install_with_the_real_engine(tmp_path: Path) -> None:
    scenarios = [s for s in synth.build(monday_base()) if s.name == "new-install"]
    firings = engine.replay(scenarios, tmp_path / "work")
    result = score.score(scenarios[0], firings)
    assert result.forbidden == []
    (outcome,) = result.outcomes
    assert outcome.caught
    assert outcome.to_warning is not None
    assert 30 * 60 <= outcome.to_warning <= 45 * 60  # the forecast's for: 30m, from the first minutes of data


def test_keep_firing_for_joins_what_comes_back_and_only_that() -> None:
    step = engine.STEP
    # true 0-9, false 10-39 (30 min), true 40-49, false 50-149 (100 min), true 150-159
    minutes = (*range(0, 10), *range(40, 50), *range(150, 160))
    values = [[t * step, "1"] for t in minutes]
    fired = engine.firings(5 * 60, {}, "A", [{"metric": {}, "values": values}], keep_seconds=3600)
    assert [(f.start / step, f.end / step) for f in fired] == [(5, 49), (155, 159)]
    assert [f.resolved / step for f in fired] == [109, 219]  # each episode resolves its rule's hold after its end
    # Without keep_firing_for each run is its own episode.
    alone = engine.firings(5 * 60, {}, "A", [{"metric": {}, "values": values}])
    assert [f.start / step for f in alone] == [5, 45, 155]


def test_a_series_that_stops_is_gone_at_the_next_step_as_with_staleness_markers(tmp_path: Path) -> None:
    """Backfilled blocks have no staleness markers: with the default 5-minute lookback a recorded condition true at
    one evaluation read as true at the next ones too (and passed a `for:`)."""
    t0 = (monday_base() // 3600) * 3600
    points = [(t0 + 60.0 * i, 1.0) for i in (0, 1, 3)]  # nothing at minute 2: the rule's condition was false then
    data = tmp_path / "data"
    data.mkdir()
    engine.import_series([("cond", {"instance": "x"}, points)], data, tmp_path)
    with engine.serve(data, tmp_path, lookback=engine.STEP - 1) as url:  # as the replay serves its steps
        answers = [engine._query_range(url, "cond", t0 + 60.0 * i, t0 + 60.0 * i) for i in range(4)]
    assert [len(a) for a in answers] == [1, 1, 0, 1]
