"""Diagnostics and remediation through the real receiver and the real exporter process (its /actions endpoint): what
reaches the message, injection via a label, the model only naming an offered action, the audit trail, a restart
never running a remediation twice, and an exporter that is down costing nothing but a line."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from costwarden.actions import Outcome
from receiver.app import create_app
from receiver.facts.host import ExporterActions
from receiver.intake import Webhook
from receiver.settings import Actions, Settings
from receiver.store import audit as audit_table
from receiver.store.outbox import Outbox
from tests.receiver.conftest import dead_url
from tests.receiver.test_processing import make_settings, payload, sent
from tests.support.fakes import served
from tests.support.fakes.ollama import FakeOllama
from tests.support.net import free_port, wait_until_ok

Client = Callable[..., Awaitable[TestClient]]  # type: ignore[type-arg]
FIXTURES = Path(__file__).parents[1] / "fixtures"
TOKEN = "receiver-actions-token"
NAME = "[a-z0-9][a-z0-9_.-]{0,62}"
ACTIONS_YML = f"""
diagnostics: [{{name: recent_containers, kind: recent_containers}}]
remediation:
  - {{name: stop_container, command: [echo, docker, stop, '{{cgroup}}'], enabled: true, min_severity: critical,
     params: [{{label: cgroup, pattern: '{NAME}'}}]}}
  - {{name: pause_service, command: [echo, systemctl, stop, '{{cgroup}}'],
     params: [{{label: cgroup, pattern: '{NAME}'}}]}}
alerts: [{{alert: CostwardenCostSpike, diagnostics: [recent_containers], remediation: [stop_container, pause_service]}}]
"""


@contextmanager
def exporter(tmp_path: Path, table: str = ACTIONS_YML) -> Iterator[tuple[str, Path]]:
    """The real exporter with an actions table, a Docker root holding one container started ten minutes ago."""
    docker = tmp_path / "docker"
    shutil.copytree(FIXTURES / "docker", docker)
    started = time.strftime("%Y-%m-%dT%H:%M:%S.000000001Z", time.gmtime(time.time() - 600))
    (docker / "containers" / ("f" * 64)).mkdir()
    (docker / "containers" / ("f" * 64) / "config.v2.json").write_text(json.dumps(
        {"ID": "f" * 64, "Name": "/miner", "Config": {"Image": "xmrig/xmrig:6"},
         "State": {"Running": True, "StartedAt": started}}))  # fmt: skip
    (tmp_path / "actions.yml").write_text(table)
    port = free_port()
    log = tmp_path / "exporter.log"
    cmd = [sys.executable, "-m", "exporter", f"--web.listen-address=127.0.0.1:{port}",
           f"--path.procfs={FIXTURES / 'proc'}", f"--path.cgroupfs={FIXTURES / 'cgroupv2/sys/fs/cgroup'}",
           f"--path.rootfs={FIXTURES}", f"--path.docker-root={docker}", f"--actions.file={tmp_path / 'actions.yml'}",
           f"--storage.state-file={tmp_path / 'state.json'}", "--log.format=json"]  # fmt: skip
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, env={"PATH": "/usr/bin:/bin", "COSTWARDEN_ACTIONS_TOKEN": TOKEN}, stderr=out)
        try:
            wait_until_ok(f"http://127.0.0.1:{port}/-/healthy", proc)
            yield f"http://127.0.0.1:{port}", log
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def audit(settings: Settings) -> list[tuple[str, str]]:
    with sqlite3.connect(settings.outbox_path) as db:
        return db.execute("SELECT name, state FROM actions ORDER BY id").fetchall()


async def run_one(
    aiohttp_client: Client, tmp_path: Path, url: str, modes: list[str], body: dict[str, Any], language: str = "en"
) -> tuple[str, Settings]:
    model = FakeOllama(modes=modes)
    async with served(model.app()) as ollama_url:
        settings = make_settings(tmp_path, ollama_url, actions={"url": url, "token": TOKEN},
                                 auth={"bearer_token": "intake-token"}, ollama={"language": language})  # fmt: skip
        client = await aiohttp_client(create_app(settings))
        assert (await client.post("/alerts", json=body)).status == 401  # with actions on, nobody may forge one
        headers = {"Authorization": "Bearer intake-token"}
        assert (await client.post("/alerts", json=body, headers=headers)).status == 200
        (message,) = await sent(tmp_path / "sent.jsonl", 1, 30)
    return message["text"], settings


async def test_the_message_shows_the_host_what_ran_and_what_would_have(aiohttp_client: Client, tmp_path: Path) -> None:
    with exporter(tmp_path) as (url, log):
        text, settings = await run_one(aiohttp_client, tmp_path, url, ["recommend"], payload("firing"))
        exporter_log = log.read_text()
    assert "What the host shows now" in text
    assert "recent_containers: miner (image xmrig/xmrig:6, running) started 10 min ago" in text
    assert "stop_container: ran: echo docker stop miner" in text
    assert "pause_service: dry run, would run: echo systemctl stop miner (not enabled in actions.yml" in text
    assert "The model recommends: stop_container" in text  # a name from the table, grounded
    assert audit(settings) == [("recent_containers", "considered"), ("recent_containers", "ok"),
                               ("stop_container", "considered"), ("stop_container", "executed"),
                               ("pause_service", "considered"), ("pause_service", "dry_run")]  # fmt: skip
    assert "executed ['echo', 'docker', 'stop', 'miner']" in exporter_log  # the exporter's half of the audit


async def test_what_the_host_shows_is_said_in_the_messages_language(aiohttp_client: Client, tmp_path: Path) -> None:
    """Found in a new-user trial: under a Chinese heading the exporter's lines were English and named by their
    table's ids ("top_processes: pid 12380 python: 2 % CPU, … in the host"). The receiver asks in its language."""
    with exporter(tmp_path) as (url, _):
        text, _settings = await run_one(aiohttp_client, tmp_path, url, ["missing"], payload("firing"), "zh")
    assert "最近启动的容器：miner（镜像 xmrig/xmrig:6，运行中）10 分钟前启动" in text, text
    assert "started" not in text and "recent_containers" not in text


async def test_a_hostile_label_is_refused_and_said_so(aiohttp_client: Client, tmp_path: Path) -> None:
    body = payload("firing")
    for labels in (body["commonLabels"], body["alerts"][0]["labels"], body["groupLabels"]):
        labels["cgroup"] = "x; rm -rf /"
    with exporter(tmp_path) as (url, log):
        text, settings = await run_one(aiohttp_client, tmp_path, url, ["good"], body)
        exporter_log = log.read_text()
    assert f"stop_container: refused: label cgroup='x; rm -rf /' does not match {NAME}" in text
    assert ("stop_container", "refused") in audit(settings) and ("stop_container", "executed") not in audit(settings)
    assert "executed" not in exporter_log


async def test_an_alert_without_a_name_runs_nothing(aiohttp_client: Client, tmp_path: Path) -> None:
    """The table maps alert names to actions; an alert that names none (sent by anybody who can reach Alertmanager)
    must not be answered with the whole table, remediation included."""
    body = payload("firing")
    for labels in (body["commonLabels"], body["alerts"][0]["labels"], body["groupLabels"]):
        labels.pop("alertname", None)
    with exporter(tmp_path) as (url, log):
        text, settings = await run_one(aiohttp_client, tmp_path, url, ["good"], body)
        exporter_log = log.read_text()
    assert audit(settings) == []
    assert "executed" not in exporter_log and "stop_container" not in text and "recent_containers" not in text


async def test_the_model_cannot_recommend_a_command(aiohttp_client: Client, tmp_path: Path) -> None:
    with exporter(tmp_path) as (url, _):
        text, _ = await run_one(aiohttp_client, tmp_path, url, ["rogue", "rogue"], payload("firing"))
    assert "docker rm" not in text and "recommends" not in text
    assert "Automatic summary without AI (the model's answer did not match the facts)" in text
    assert "stop_container: ran: echo docker stop miner" in text  # the facts of what ran are kept


async def test_an_exporter_that_is_down_costs_a_line_not_the_message(aiohttp_client: Client, tmp_path: Path) -> None:
    text, settings = await run_one(aiohttp_client, tmp_path, dead_url(), ["good"], payload("firing"))
    assert "Diagnostics unavailable: the exporter did not answer" in text and "CostwardenCostSpike" in text
    assert audit(settings) == []


async def test_processed_again_a_remediation_never_runs_twice(tmp_path: Path) -> None:
    hook = Webhook.model_validate(payload("firing"))
    outbox = Outbox(tmp_path / "outbox.sqlite3", 3600)
    await outbox.open()
    with exporter(tmp_path / "again") as (url, log):
        async with aiohttp.ClientSession() as session:
            actions = ExporterActions(Actions(url=url, token=TOKEN), session, outbox)
            for _ in range(2):  # the worker ran, then the receiver restarted and processes the notification again
                found = await actions.diagnose(1, hook)
                assert [(a.name, a.state) for a in found.actions] == [("stop_container", "executed"),
                                                                      ("pause_service", "dry_run")]  # fmt: skip
            # A crash between "considered" and its outcome: the outcome is unknown, and it is not started again.
            crashed = Outcome("stop_container", "remediation", "considered")
            await outbox.write(audit_table.record, 2, "g", crashed, time.time())
            found = await actions.diagnose(2, hook)
            assert found.actions[0].state == "unknown" and "not started again" in (found.actions[0].reason or "")
        runs = log.read_text().count("executed ['echo', 'docker', 'stop', 'miner']")
    await outbox.close()
    assert runs == 1


@pytest.fixture(autouse=True)
def _exporter_dir(tmp_path: Path) -> None:
    (tmp_path / "again").mkdir()
