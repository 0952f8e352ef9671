"""What the rules cost Prometheus: rule-group evaluation time and Prometheus' memory with 100 and 500 cgroups x 4
resources, next to a reference group measured in the same Prometheus (one recording rule: the 5-minute rate of the
same counters, the least any cost monitor evaluates), so the ratio is the figure that counts on a shared machine.

The TSDB is backfilled with the history a Prometheus running the rules for a week would read at this moment: the raw
counters for the last two hours, the recorded series the rules read over ranges (the 5-minute rate and the excess
for six hours, the hourly mean and the three-hour envelopes for a day) and, around each seven-day `offset` the
seasonal baseline looks up, an hour of the hourly mean and the three-hour envelopes, the days' highest and lowest (for
the levels seen this week), and the day's mean a week ago. The values do not matter to the
cost, only that every lookup finds data (the benchmark checks that the baseline is complete). The repository's
rules then run in a real Prometheus every 15 s instead of every minute (the work of one evaluation is the same), and
`prometheus_rule_group_last_duration_seconds` is read after each of several evaluations.

    python -m bench.rule_cost [--cgroups 100,500] [--evaluations 6]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

from tests.support.detection import engine
from tests.support.net import free_port, wait_until_ok

ROOT = Path(__file__).parents[1]
RESOURCES = ("cpu", "memory", "disk", "network_egress")
RULE = "instance_cgroup_resource:costwarden_cost_per_hour"
INTERVAL = 15.0
REFERENCE = """groups:
  - name: reference-rate5m
    interval: 15s
    rules:
      - record: reference:costwarden_cost_per_hour:rate5m
        expr: sum by (instance, job, cgroup, resource) (rate(costwarden_cost_total[5m])) * 3600
"""


def _minutes(now: float, start_min: int, end_min: int, step_min: int = 1) -> list[float]:
    """Timestamps from `start_min` to `end_min` minutes before `now`, oldest first."""
    return [now - m * 60.0 for m in range(start_min, end_min - 1, -step_min)]


def history(cgroups: int, now: float) -> engine.Points:
    """The samples a week-old Prometheus would read for `cgroups` x 4 resources at `now`."""
    host = {"instance": "bench", "job": "costwarden-exporter"}
    recent = _minutes(now, 120, 1)
    day = _minutes(now, 1440, 1, 5)
    # offset d x 24h - 30m (hourly means) and - 1h30m (envelopes), for evaluations in the next few minutes
    around_offsets = [t for d in range(1, 8) for t in _minutes(now, d * 1440 - 20, d * 1440 - 100)]
    week_ago = _minutes(now, 7 * 1440 + 10, 7 * 1440 - 30)
    # offset d x 24h + 18h (the 12-hour envelopes around this time of day, for the levels seen this week)
    days_18h_ago = [t for d in range(7) for t in _minutes(now, d * 1440 + 1100, d * 1440 + 1060)]
    out: engine.Points = [
        ("costwarden_plan_price_per_hour", host, [(t, 0.00893) for t in recent]),
        ("costwarden_info", {**host, "currency": "USD"}, [(t, 1.0) for t in recent]),
    ]
    for c in range(cgroups):
        for r, resource in enumerate(RESOURCES):
            labels = {**host, "cgroup": f"container-{c}", "resource": resource}
            level = 0.001 * (1 + (c + r) % 7)
            out.append(("costwarden_cost_total", labels, [(t, level * (t - now + 7200) / 3600) for t in recent]))
            out.append((f"{RULE}:rate5m", labels, [(t, level) for t in _minutes(now, 360, 1)]))
            out.append(
                (
                    "instance_cgroup_resource:costwarden_cost_excess_per_hour:rate5m",
                    labels,
                    [(t, 0.0) for t in _minutes(now, 360, 1)],
                )
            )
            out.append((f"{RULE}:avg1h", labels, [(t, level) for t in sorted({*day, *around_offsets})]))
            for name in ("max3h", "min3h"):
                out.append((f"{RULE}:{name}", labels, [(t, level) for t in sorted({*day, *around_offsets})]))
            for name in ("max12h", "min12h"):
                out.append((f"{RULE}:{name}", labels, [(t, level) for t in days_18h_ago]))
            out.append((f"{RULE}:avg1d", labels, [(t, level) for t in week_ago]))
    return out


def _get(url: str, query: str) -> list[dict[str, object]]:
    with urllib.request.urlopen(f"{url}/api/v1/query?{urllib.parse.urlencode({'query': query})}", timeout=30) as r:  # noqa: S310
        return list(json.load(r)["data"]["result"])


def _own_metrics(url: str) -> dict[str, float]:
    """Prometheus' own /metrics (it does not scrape itself here), as {'name{labels}': value}."""
    with urllib.request.urlopen(f"{url}/metrics", timeout=30) as r:  # noqa: S310 - loopback
        lines = r.read().decode().splitlines()
    return {k: float(v) for k, _, v in (line.rpartition(" ") for line in lines if line and not line.startswith("#"))}


def measure(cgroups: int, evaluations: int, work: Path) -> dict[str, float]:
    work.mkdir(parents=True)
    data = work / "data"
    data.mkdir()
    now = (time.time() // 60) * 60
    started = time.monotonic()
    engine.import_series(history(cgroups, now), data, work)
    backfill_seconds = time.monotonic() - started
    rules = work / "rules"
    rules.mkdir()
    for path in (ROOT / "rules").glob("*/*.yml"):
        (rules / path.name).write_text(path.read_text().replace("interval: 1m", f"interval: {INTERVAL:.0f}s"))
    (rules / "reference.yml").write_text(REFERENCE)
    port = free_port()
    config = work / "prometheus.yml"
    config.write_text(f"global: {{evaluation_interval: 15s}}\nrule_files: ['{rules}/*.yml']\n")
    with (work / "prometheus.log").open("w") as log:
        proc = subprocess.Popen(
            ["prometheus", f"--config.file={config}", f"--storage.tsdb.path={data}",
             f"--web.listen-address=127.0.0.1:{port}", "--storage.tsdb.retention.time=100y"],
            stdout=subprocess.DEVNULL, stderr=log,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    durations: dict[str, list[float]] = {}
    try:
        wait_until_ok(f"{url}/-/ready", proc, 120, hint=f"(see {work / 'prometheus.log'})")
        time.sleep(INTERVAL * 2)  # the first evaluations load chunks from disk
        for _ in range(evaluations):
            time.sleep(INTERVAL)
            for key, value in _own_metrics(url).items():
                group = re.search(r'prometheus_rule_group_last_duration_seconds\{rule_group=".*;(.*)"\}', key)
                if group:
                    durations.setdefault(group.group(1), []).append(value)
        complete = _get(
            url,
            f"count({RULE}:usual_peak) and count(instance_cgroup_resource:costwarden_cost_history:days == 7)"
            f" and count({RULE}:week_peak) and count({RULE}:week_low)",
        )
        own = _own_metrics(url)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    expected = cgroups * len(RESOURCES)
    if not complete or float(complete[0]["value"][1]) != expected:  # type: ignore[index]
        raise RuntimeError(f"the seasonal baseline is incomplete ({complete}); see {work / 'prometheus.log'}")
    failures = sum(v for k, v in own.items() if k.startswith("prometheus_rule_evaluation_failures_total"))
    if failures:
        raise RuntimeError(f"{failures:.0f} rule evaluations failed; see {work / 'prometheus.log'}")
    median = {group: statistics.median(values) for group, values in durations.items()}
    return {
        "backfill_s": backfill_seconds,
        "cost_s": median["costwarden-cost"],
        "alerts_s": median["costwarden-cost-alerts"],
        "all_s": sum(v for k, v in median.items() if k != "reference-rate5m"),
        "reference_s": median["reference-rate5m"],
        "rss_mib": own["process_resident_memory_bytes"] / 2**20,
        "head_series": own["prometheus_tsdb_head_series"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cgroups", default="100,500", help="comma-separated cgroup counts (default: 100,500)")
    parser.add_argument("--evaluations", type=int, default=6, help="evaluations read per size (default: 6)")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="cw-rulecost-") as tmp:
        for n in (int(x) for x in re.split(r"[ ,]+", args.cgroups.strip())):
            print(f"{n} cgroups x {len(RESOURCES)} resources: backfilling and evaluating ...", flush=True)
            rows.append((n, measure(n, args.evaluations, Path(tmp) / str(n))))
    print("\nRule evaluation cost (median of the evaluations read; the evaluation interval is 60 s in production)\n")
    print(
        "| cgroups x resources | costwarden-cost group | cost alerts | all costwarden groups | % of 60 s "
        "| reference: the 5 m rate alone | ratio | Prometheus RSS | head series |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n, m in rows:
        print(
            f"| {n} x {len(RESOURCES)} | {m['cost_s'] * 1000:.0f} ms | {m['alerts_s'] * 1000:.0f} ms "
            f"| {m['all_s'] * 1000:.0f} ms | {m['all_s'] / 60 * 100:.2f} % | {m['reference_s'] * 1000:.1f} ms "
            f"| {m['all_s'] / m['reference_s']:.0f} | {m['rss_mib']:.0f} MiB | {m['head_series']:.0f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
