"""The real-world (NAB) part of the detection benchmark: how a NAB series becomes cost, and how firings become the
alert starts that NAB's sweeper scores. The corpus itself lives outside the repository (`make bench` reads it)."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

from tests.support.detection import engine, nab

ROOT = Path(__file__).parents[2]


def _series(key: str, values: list[float]) -> nab.NabSeries:
    t0 = datetime(2014, 4, 1, 10, 7)
    return nab.NabSeries(key, [t0 + timedelta(minutes=5 * i) for i in range(len(values))], values, [])


def test_a_series_becomes_cost_with_its_median_at_two_cents_an_hour() -> None:
    series = _series("realTraffic/speed_1.csv", [10.0, 20.0, 30.0, -5.0])
    scenario = nab.scenario(series, base=1_000_000.0)
    counters = {s.labels["resource"]: s for s in scenario.series if s.metric == "costwarden_cost_total"}
    assert set(counters) == {"network_egress", "memory", "disk"}  # "traffic" in the name: egress
    egress = counters["network_egress"]
    assert egress.timestamps[0] == 1_000_000.0 + (10 * 60 + 5) * 60  # the time of day, on the 5-minute grid
    assert len(egress.timestamps) == 16  # 15 minutes step-held at 1-minute samples
    per_minute = [b - a for a, b in zip(egress.values, egress.values[1:], strict=False)]
    # median 20 -> 0.02/h; 10 -> 0.01/h; a negative value costs nothing
    assert abs(per_minute[0] - 0.01 / 60) < 1e-12 and abs(per_minute[5] - 0.02 / 60) < 1e-12
    assert per_minute[-1] == 0.0
    assert nab.resource_of("realKnownCause/cpu_utilization.csv") == "cpu"


def test_starts_are_rising_edges_of_any_paging_alert_held_by_keep_firing_for() -> None:
    series = _series("x/y.csv", [1.0] * 40)  # 200 minutes at 5-minute samples
    first = 1_000_000.0
    grid = first - 60.0  # the evaluation grid may start before this series

    def firing(name: str, severity: str, start: float, end: float, keep: float) -> engine.Firing:
        return engine.Firing(
            name, {"severity": severity}, first + start * 60, first + end * 60, first + (end + keep) * 60
        )

    warn, again = firing("A", "warning", 19, 29, 40), firing("A", "critical", 99, 109, 40)
    info = firing("A", "info", 0, 190, 0)  # never counts
    starts = nab.starts(series, first, [warn, info, again], grid)
    assert [i for i, s in enumerate(starts) if s] == [4, 20]
    held = firing("A", "warning", 19, 29, 75)  # the dip is shorter than the hold
    assert [i for i, s in enumerate(nab.starts(series, first, [held, again], grid)) if s] == [4]


def test_the_benchmark_says_so_and_skips_without_the_corpus(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "bench.detection", "--no-synthetic", "--nab", str(tmp_path)],
        capture_output=True, text=True, cwd=ROOT, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert f"Real-world series skipped: no NAB corpus at {tmp_path}" in proc.stdout


def test_the_table_names_every_series_beyond_one_start_per_window_and_one_false_start_per_week() -> None:
    def scored(key: str, days: float, windows: int, starts: int) -> nab.SeriesScore:
        return nab.SeriesScore(key, days, windows, starts, 0.0, 0.0, [None] * windows)

    within = scored("a/within.csv", 14.0, 1, 3)  # at most 1 + 2 weeks
    beyond = scored("a/beyond.csv", 14.0, 1, 4)
    quiet = scored("a/quiet.csv", 7.0, 0, 1)
    table = nab.table([within, beyond, quiet])
    rows = {line.split(" | ")[0].removeprefix("| "): line for line in table.splitlines() if line.startswith("| a/")}
    assert "| 3 | 3.0 |" in rows["a/within.csv"] and "beyond" not in rows["a/within.csv"]
    assert "| 4 | 3.0 **beyond** |" in rows["a/beyond.csv"]
    assert "| 1 | 1.0 |" in rows["a/quiet.csv"]
    assert (
        "series within the goal (at most one start per window plus one false start per week): 2/3; beyond it: "
        "a/beyond.csv (4 starts, at most 3.0)"
    ) in table.splitlines()


def test_a_series_of_4032_five_minute_readings_is_two_weeks_of_data() -> None:
    assert _series("x/y.csv", [1.0] * 4032).days == 14.0


def test_with_outages_a_long_gap_between_readings_has_no_samples_and_the_counter_carries_on() -> None:
    t0 = datetime(2014, 4, 1, 10, 7)
    times = [t0 + timedelta(minutes=m) for m in (0, 5, 10, 130, 135)]  # two hours without a reading after minute 10
    series = nab.NabSeries("realTraffic/speed_1.csv", times, [20.0, 20.0, 40.0, 20.0, 20.0], [])

    def egress(outage_after: float | None) -> tuple[list[float], list[float]]:
        counters = nab.scenario(series, 1_000_000.0, outage_after).series
        own = next(s for s in counters if s.labels.get("resource") == "network_egress" and s.labels["cgroup"] == "/")
        return [(t - own.timestamps[0]) / 60 for t in own.timestamps], own.values

    held_minutes, held = egress(None)
    assert held_minutes == list(range(136))  # the reference's way: 40 held for two hours
    assert abs(held[129] - held[10] - 119 * 0.04 / 60) < 1e-12
    minutes, values = egress(60.0)
    assert minutes == [*range(15), *range(130, 136)]  # the reading at 10 lasts its 5 minutes, then nothing
    assert abs(values[15] - values[14] - 0.02 / 60) < 1e-12  # no jump, no reset: 0.02/h for one minute
    assert egress(180.0)[0] == held_minutes  # a gap shorter than the outage threshold is held as before
