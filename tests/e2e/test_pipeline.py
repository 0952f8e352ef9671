"""End to end: a cost spike becomes a message on a phone, and its end a second one.

Two hosts are watched, each with its own exporter: only the one with the miner alerts.

Real Prometheus (the repository's rules, a week of backfilled history with every recording rule, then live scrapes),
real Alertmanager (the repository's config), the real receiver, a fake Ollama and a fake Telegram. The history ends
with a miner that started 12 minutes ago, and with the spike alerts' pending state as a Prometheus running all along
would have stored it (ALERTS_FOR_STATE), so the `for:` clocks need not be waited out again. Only the timing is
shortened so that the test takes minutes, not a quarter of an hour: Alertmanager's group interval (20 s instead of
5 min) and the rules' evaluation interval (15 s instead of 1 min).
"""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from aiohttp import web

from costwarden.corpus import Scenario, Series
from stack import render
from tests.support.detection import engine, synth
from tests.support.fakes import serve_in_thread
from tests.support.fakes.chat import FakeChat
from tests.support.fakes.ollama import FakeOllama
from tests.support.net import free_port, wait_until_ok

ROOT = Path(__file__).parents[2]
SPIKE_MINUTES = 12
HOSTS = ("vps", "calm")  # the miner runs on the first
INSTANCES = {host: f"e2e/{host}" for host in HOSTS}  # the backfill prefixes each instance with its scenario's name
INSTANCE = INSTANCES["vps"]


class LiveExporter:
    """One host's exporter: continues its backfilled counters from where the history ends, at their last rates,
    until told to stop the miner (its series then disappears, as a removed container's does)."""

    def __init__(self, series: list[Series], host: str) -> None:
        self.miner = True
        self.instance = INSTANCES[host]
        self.counters = []
        for s in series:
            if s.metric != "costwarden_cost_total" or s.labels["instance"] != host:
                continue
            t, v = np.array(s.timestamps), np.array(s.values)
            rate = (v[-1] - v[-6]) / (t[-1] - t[-6])
            self.counters.append((s.labels, float(v[-1]), float(t[-1]), float(rate)))

    async def metrics(self, _: web.Request) -> web.Response:
        now = time.time()
        lines = ["# TYPE costwarden_cost_total counter"]
        for labels, value, at, rate in self.counters:
            if not self.miner and labels["cgroup"] == "app" and labels["resource"] == "cpu":
                continue
            inner = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()) if k not in ("instance", "job"))
            lines.append(f"costwarden_cost_total{{{inner}}} {value + rate * (now - at):.9f}")
        return web.Response(text="\n".join(lines) + "\n", content_type="text/plain")

    def catch_up(self, until: float) -> engine.Points:
        """The samples a scrape every 15 s would have taken between the history's end and `until`. Without them
        the backfill's minutes are a gap before the first live scrape, and rate()[5m] across a gap under-reads (it
        extrapolates only half an interval past the last sample): the miner's cost read 40 % of itself for minutes,
        the page's "now" showed the level before the miner, or no page came at all."""
        out: engine.Points = []
        for labels, value, at, rate in self.counters:
            times = np.arange(at + 15.0, until, 15.0)
            points = [(float(t), value + rate * float(t - at)) for t in times]
            out.append(("costwarden_cost_total", {**labels, "instance": self.instance}, points))
        return out

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/metrics", self.metrics)
        return app


def history() -> Scenario:
    """A week and a day of two normal VPSes ending a minute ago, with a miner in the first one's app container for the
    last minutes."""
    minutes = 8 * synth.DAY
    base = (time.time() // 60) * 60 - minutes * 60
    hosts = [synth.steady_host(name, minutes, seed=7 + i) for i, name in enumerate(HOSTS)]
    synth.spike(hosts[0], ("app", "cpu"), minutes - SPIKE_MINUTES, minutes, 6.0)
    series = [s for host in hosts for s in synth.host_series(host, base, synth.Billing())]
    # The spike alerts pending since the miner started, as Prometheus stores them for restarts.
    onset = base + (minutes - SPIKE_MINUTES + 2) * 60
    ts = [onset + 60 * i for i in range(SPIKE_MINUTES - 2)]
    for severity in ("critical", "warning", "info"):
        labels = {"alertname": "CostwardenCostSpike", "severity": severity, "instance": "vps",
                  "job": synth.JOB, "cgroup": "app", "resource": "cpu"}  # fmt: skip
        series.append(Series("ALERTS_FOR_STATE", labels, "gauge", ts, [onset] * len(ts)))
    return Scenario("e2e", "a miner starting on one of two hosts at the end of a normal week", False, series)


def fast_rules(out: Path) -> Path:
    """The repository's rules evaluated every 15 s instead of every minute (the history was recorded at 1 m, which
    the windows do not mind), and an alert's hysteresis (`keep_firing_for`) of 15 s instead of an hour, so the test
    waits less for each step and for the resolution; the expressions are untouched."""
    for path in (ROOT / "rules").glob("*/*.yml"):
        target = out / path.parent.name / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        text = path.read_text().replace("interval: 1m", "interval: 15s")
        target.write_text(re.sub(r"keep_firing_for: \w+", "keep_firing_for: 15s", text))
    return out


def scrape_both(prometheus_yml: str, exporters: dict[str, str]) -> str:
    """The rendered config with the one exporter target replaced by one per host, each with its instance label."""
    one = f"- targets: [{exporters[HOSTS[0]]}]\n        labels: {{instance: localhost}}\n"
    assert one in prometheus_yml
    each = [f"- targets: [{exporters[h]}]\n        labels: {{instance: '{INSTANCES[h]}'}}\n" for h in HOSTS]
    return prometheus_yml.replace(one, "      ".join(each))


def firing(prometheus_url: str) -> set[tuple[str, str]]:
    """(alertname, instance) of every firing alert, as Prometheus itself sees them."""
    with urllib.request.urlopen(f"{prometheus_url}/api/v1/alerts", timeout=10) as answer:  # noqa: S310 - loopback
        alerts = json.load(answer)["data"]["alerts"]
    return {(a["labels"]["alertname"], a["labels"].get("instance", "")) for a in alerts if a["state"] == "firing"}


@contextmanager
def process(args: list[str], log: Path, ready: str) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=out, cwd=ROOT)
        try:
            wait_until_ok(ready, proc, 60, hint=f"(see {log})")
            yield proc
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def wait_for(check: Any, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} within {seconds:g} s")
        time.sleep(0.5)


@pytest.mark.slow
def test_a_spike_is_paged_explained_and_resolved(tmp_path: Path) -> None:
    began = time.monotonic()
    scenario = history()
    live = {host: LiveExporter(scenario.series, host) for host in HOSTS}
    data, _, _ = engine.backfill([scenario], tmp_path / "work")
    engine.import_series([p for host in HOSTS for p in live[host].catch_up(time.time())], data, tmp_path / "work")
    ports = {name: free_port() for name in ("prometheus", "alertmanager", "receiver")}
    chat, model = FakeChat(), FakeOllama()
    with serve_in_thread(live["vps"].app()) as vps_url, serve_in_thread(live["calm"].app()) as calm_url, \
            serve_in_thread(chat.app()) as chat_url, serve_in_thread(model.app()) as ollama_url:  # fmt: skip
        exporters = {"vps": vps_url.removeprefix("http://"), "calm": calm_url.removeprefix("http://")}
        addresses = {"exporter": exporters["vps"], "receiver": f"127.0.0.1:{ports['receiver']}",
                     "prometheus": f"127.0.0.1:{ports['prometheus']}",
                     "alertmanager": f"127.0.0.1:{ports['alertmanager']}"}  # fmt: skip
        prom_cfg = scrape_both(render.prometheus(addresses, str(fast_rules(tmp_path / "rules"))), exporters)
        (tmp_path / "prometheus.yml").write_text(prom_cfg)
        am_cfg = render.alertmanager(addresses).replace("group_interval: 5m", "group_interval: 20s")
        (tmp_path / "alertmanager.yml").write_text(am_cfg)
        (tmp_path / "receiver.yml").write_text(json.dumps({
            "listen": {"host": "127.0.0.1", "port": ports["receiver"]}, "data_dir": str(tmp_path / "receiver"),
            "prometheus": {"url": f"http://{addresses['prometheus']}"}, "ollama": {"host": ollama_url},
            "grafana_url": "http://grafana.example:3000", "digest": {"daily": {"enabled": False}},
            "channels": [{"type": "telegram", "bot_token": chat.telegram_token, "chat_id": 42, "api_url": chat_url}],
        }))  # fmt: skip
        prometheus = ["prometheus", f"--config.file={tmp_path / 'prometheus.yml'}", f"--storage.tsdb.path={data}",
                      f"--web.listen-address={addresses['prometheus']}", "--storage.tsdb.retention.time=100y",
                      "--rules.alert.for-grace-period=0s"]  # fmt: skip
        am = addresses["alertmanager"]
        alertmanager = ["prometheus-alertmanager", f"--config.file={tmp_path / 'alertmanager.yml'}",
                        f"--storage.path={tmp_path / 'am'}", f"--web.listen-address={am}",
                        "--cluster.listen-address=", f"--web.external-url=http://{am}"]  # fmt: skip
        receiver = [sys.executable, "-m", "receiver", "--config", str(tmp_path / "receiver.yml")]
        started = time.monotonic()
        print(f"history backfilled in {started - began:.0f} s")
        with process(receiver, tmp_path / "receiver.log", f"http://{addresses['receiver']}/-/ready"), \
                process(alertmanager, tmp_path / "am.log", f"http://{addresses['alertmanager']}/-/ready"), \
                process(prometheus, tmp_path / "prom.log", f"http://{addresses['prometheus']}/-/ready"):  # fmt: skip
            # Generous: on a loaded machine the backfill took 118 s once, and the first page came later than 240 s.
            wait_for(lambda: any("Analysis by" in m["text"] for m in chat.received["telegram"]), 480, "no analysis")
            paged_after = time.monotonic() - started
            first = chat.received["telegram"][0]
            severity = "critical" if "🔴 CRITICAL" in first["text"] else "warning"
            mark = {"critical": "🔴 CRITICAL", "warning": "🟠 WARNING"}[severity]
            assert first["text"].startswith(f"<b>{mark} · CostwardenCostSpike on e2e/vps</b>"), first["text"][:200]
            texts = "\n".join(m["text"] for m in chat.received["telegram"])
            with sqlite3.connect(tmp_path / "receiver" / "outbox.sqlite3") as db:
                facts = json.loads(
                    db.execute(
                        "SELECT facts FROM notifications WHERE source IS NOT 'heartbeat' ORDER BY id LIMIT 1"
                    ).fetchone()[0]
                )
            assert facts["alerts"][0]["description"].startswith(
                "The cpu cost of app on e2e/vps has held at or above"
            )  # the rule's numbers
            assert {w["name"] for w in facts["top_workloads"]} >= {"app", "db", "backup"}  # live series, by container
            day = facts["alerted_series"][0]
            assert day["window"] == "24h" and day["now"] > 1.5 * day["mean"]  # the spike, seen in the history
            (tmp_path / "messages.txt").write_text(texts)
            assert "grafana.example:3000/d/costwarden-anomalies/" in first["text"] and "Runbook</a>" in first["text"]
            if severity == "critical":  # paged with the facts first, the analysis as a reply
                analysis = next(m for m in chat.received["telegram"] if "Analysis by" in m["text"])
                assert analysis["reply_parameters"]["message_id"] == first["message_id"]
            assert "Analysis by llama3.2:3b, checked against the numbers above." in texts
            # Both hosts are scraped and were recorded alike; the calm one raises nothing, the other nothing else
            # (the watchdog always fires, and reaches the receiver without becoming a message).
            assert firing(f"http://{addresses['prometheus']}") == {("CostwardenCostSpike", INSTANCE),
                                                                   ("CostwardenWatchdog", "")}  # fmt: skip
            assert INSTANCES["calm"] not in texts and "Watchdog" not in texts
            live["vps"].miner = False  # the container is removed: its series goes stale, the alert resolves
            wait_for(lambda: any("RESOLVED" in m["text"] for m in chat.received["telegram"]), 240, "no resolution")
            resolved = next(m for m in chat.received["telegram"] if "RESOLVED" in m["text"])
            assert "CostwardenCostSpike on e2e/vps" in resolved["text"] and "It lasted" in resolved["text"]
    print(f"paged {paged_after:.0f} s after start; resolved {time.monotonic() - started:.0f} s after start")
