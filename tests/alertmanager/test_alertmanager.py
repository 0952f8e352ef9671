"""alertmanager/alertmanager.yml with the real Alertmanager: config check, routes, and the inhibit rules that keep the
overlapping CostwardenCostSpike severities from paging three times."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
import yaml

from tests.conftest import receiver_process
from tests.support.alertmanager import CONFIG, running_alertmanager


def amtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["amtool", *args], capture_output=True, text=True, timeout=60)


def test_config_is_valid() -> None:
    proc = amtool("check-config", str(CONFIG))
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("severity", ["critical", "warning", "info"])
def test_each_severity_has_its_own_route(severity: str) -> None:
    proc = amtool("config", "routes", "test", f"--config.file={CONFIG}", "--tree", f"severity={severity}",
                  "alertname=CostwardenCostSpike")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert f'{{severity="{severity}"}}  receiver: costwarden' in proc.stdout


def test_the_watchdog_repeats_every_five_minutes_on_its_own_route() -> None:
    proc = amtool("config", "routes", "test", f"--config.file={CONFIG}", "--tree", "severity=info",
                  "alertname=CostwardenWatchdog")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert '{alertname="CostwardenWatchdog"}  receiver: costwarden' in proc.stdout
    routes = yaml.safe_load(CONFIG.read_text())["route"]["routes"]
    watchdog = next(r for r in routes if r["matchers"] == ['alertname="CostwardenWatchdog"'])
    assert watchdog["repeat_interval"] == "5m" and routes.index(watchdog) == 0  # before the severity routes


class _Capture(BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append(json.loads(body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    hook = ThreadingHTTPServer(("127.0.0.1", 0), _Capture)
    _Capture.received = []
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    try:
        with running_alertmanager(tmp_path, f"http://127.0.0.1:{hook.server_port}/alerts") as url:
            yield url, _Capture.received
    finally:
        hook.shutdown()
        hook.server_close()


def _post(url: str, alerts: list[dict[str, Any]]) -> None:
    request = urllib.request.Request(  # noqa: S310 - loopback URL built here
        f"{url}/api/v2/alerts", data=json.dumps(alerts).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=5) as resp:  # noqa: S310 - loopback URL built here
        assert resp.status == 200


def test_critical_inhibits_the_lower_severities_of_the_same_spike(alertmanager: tuple[str, list[Any]]) -> None:
    url, received = alertmanager
    now = datetime.now(UTC)
    common = {"alertname": "CostwardenCostSpike", "instance": "vps1", "cgroup": "miner", "resource": "cpu"}
    alerts = [
        {"labels": {**common, "severity": severity}, "startsAt": now.isoformat(),
         "endsAt": (now + timedelta(hours=1)).isoformat(), "annotations": {"summary": "s"}}
        for severity in ("critical", "warning", "info")
    ]  # fmt: skip
    # Another container's warning is not inhibited: inhibition needs the same alertname, instance, cgroup, resource.
    alerts.append({**alerts[1], "labels": {**common, "cgroup": "web", "severity": "warning"}})
    _post(url, alerts)

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(received) < 2:
        time.sleep(0.5)
    with urllib.request.urlopen(f"{url}/api/v2/alerts?inhibited=false", timeout=5) as resp:  # noqa: S310
        active = {(a["labels"]["cgroup"], a["labels"]["severity"]) for a in json.load(resp)}
    assert active == {("miner", "critical"), ("web", "warning")}

    delivered = {(a["labels"]["cgroup"], a["labels"]["severity"]) for body in received for a in body["alerts"]}
    assert delivered == {("miner", "critical"), ("web", "warning")}
    for body in received:
        assert body["version"] == "4"
        assert body["receiver"] == "costwarden"
        assert set(body["groupLabels"]) == {"alertname", "instance", "cgroup", "resource"}


def test_a_real_alertmanager_gets_its_notification_stored_by_the_receiver(tmp_path: Path) -> None:
    with (
        receiver_process(tmp_path / "receiver") as (receiver, _),
        running_alertmanager(tmp_path, f"{receiver}/alerts") as url,
    ):
        now = datetime.now(UTC)
        labels = {"alertname": "CostwardenBudgetExceeded", "instance": "vps1", "severity": "critical"}
        _post(url, [{"labels": labels, "startsAt": now.isoformat(), "endsAt": (now + timedelta(hours=1)).isoformat()}])
        deadline = time.monotonic() + 60
        stored: list[tuple[str, str]] = []
        while time.monotonic() < deadline and not stored:
            time.sleep(0.5)
            with sqlite3.connect(tmp_path / "receiver" / "outbox.sqlite3") as db:
                stored = db.execute("SELECT status, payload FROM notifications").fetchall()
    assert len(stored) == 1
    status, payload = stored[0]
    body = json.loads(payload)
    assert status == "firing"
    assert body["version"] == "4"
    assert body["alerts"][0]["labels"] == labels
