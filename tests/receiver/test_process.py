"""The receiver as a real process: fuzzed bodies never get a 5xx, and every 200 survives kill -9."""

from __future__ import annotations

import json
import signal
import sqlite3
import time
import urllib.error
import urllib.request
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import receiver_process
from tests.receiver.conftest import dead_url
from tests.support.fakes import serve_in_thread
from tests.support.fakes.chat import FakeChat
from tests.support.fakes.ollama import FakeOllama

FIRING = json.loads((Path(__file__).parents[1] / "fixtures" / "alertmanager" / "firing.json").read_text())


def post(url: str, body: bytes) -> int:
    request = urllib.request.Request(f"{url}/alerts", data=body, method="POST")  # noqa: S310 - loopback
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:  # noqa: S310 - loopback
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return exc.code


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
# Real payloads with one field replaced by anything, plus arbitrary JSON and arbitrary bytes.
mutated = st.builds(
    lambda key, value: json.dumps({**FIRING, key: value}).encode(),
    st.sampled_from(sorted(FIRING)),
    json_values,
)
bodies = st.one_of(st.binary(max_size=300), json_values.map(lambda v: json.dumps(v).encode()), mutated)


def test_fuzzed_bodies_get_4xx_never_5xx(tmp_path: Path) -> None:
    with receiver_process(tmp_path / "data") as (url, proc):

        @settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
        @given(bodies)
        def check(body: bytes) -> None:
            assert post(url, body) in {200, 400}

        check()
        assert proc.poll() is None
        assert post(url, json.dumps(FIRING).encode()) == 200


def test_every_acknowledged_notification_survives_kill_9(tmp_path: Path) -> None:
    acknowledged = 0
    with receiver_process(tmp_path / "data") as (url, proc):
        for i in range(200):
            body = {**FIRING, "groupKey": f"group-{i}"}
            if post(url, json.dumps(body).encode()) == 200:
                acknowledged += 1
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    with sqlite3.connect(tmp_path / "data" / "outbox.sqlite3") as db:
        stored = {row[0] for row in db.execute("SELECT group_key FROM notifications")}
    assert acknowledged == 200
    assert stored == {f"group-{i}" for i in range(200)}


def unfinished(data: Path) -> int:
    with sqlite3.connect(data / "outbox.sqlite3") as db:
        return int(db.execute("SELECT COUNT(*) FROM notifications WHERE state != 'done'").fetchone()[0])


def test_kill_9_while_processing_then_restart_loses_nothing(tmp_path: Path) -> None:
    """Notifications in the middle of their analysis when the process dies are all delivered after the restart,
    each exactly once."""
    fake = FakeOllama(modes=["hang"])
    sent, log = tmp_path / "sent.jsonl", tmp_path / "receiver.log"
    with serve_in_thread(fake.app()) as ollama_url:
        extra = (
            f"ollama: {{host: '{ollama_url}', timeout_seconds: 60}}\n"
            f"prometheus: {{url: '{dead_url()}'}}\n"
            f"channels: [{{type: file, path: '{sent}'}}]\n"
            "processing: {page_first: []}\n"
        )
        with receiver_process(tmp_path / "data", extra, log) as (url, proc):
            for i in range(20):
                assert post(url, json.dumps({**FIRING, "groupKey": f"group-{i}"}).encode()) == 200
            deadline = time.monotonic() + 15
            while not fake.requests and time.monotonic() < deadline:
                time.sleep(0.05)
            assert fake.requests, "the model was never asked"
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
        assert not sent.exists()  # nothing was delivered before the crash: all 20 were in flight or waiting
        fake.modes = ["good"]
        with receiver_process(tmp_path / "data", extra, log) as (url, proc):
            deadline = time.monotonic() + 60
            while unfinished(tmp_path / "data") and time.monotonic() < deadline:
                time.sleep(0.1)
    delivered = [json.loads(line)["group_key"] for line in sent.read_text().splitlines()]
    assert sorted(delivered) == sorted(f"group-{i}" for i in range(20))  # lost = 0, duplicated = 0
    assert unfinished(tmp_path / "data") == 0
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    about_a_group = [e for e in lines if e["msg"].startswith(("stored notification", "analysed", "sent message"))]
    assert len(about_a_group) >= 60
    assert all(e["group_key"].startswith("group-") for e in about_a_group)  # every line says which group
    assert any("resuming 20 unfinished notification(s)" in e["msg"] for e in lines)


def test_sigterm_lets_the_analysis_in_flight_finish(tmp_path: Path) -> None:
    fake = FakeOllama(modes=["slow"])
    sent = tmp_path / "sent.jsonl"
    with serve_in_thread(fake.app()) as ollama_url:
        extra = (
            f"ollama: {{host: '{ollama_url}'}}\nprometheus: {{url: '{dead_url()}'}}\n"
            f"channels: [{{type: file, path: '{sent}'}}]\nprocessing: {{page_first: []}}\n"
        )
        with receiver_process(tmp_path / "data", extra) as (url, proc):
            assert post(url, json.dumps(FIRING).encode()) == 200
            deadline = time.monotonic() + 15
            while not fake.requests and time.monotonic() < deadline:
                time.sleep(0.05)
            proc.send_signal(signal.SIGTERM)  # the model is still thinking
            assert proc.wait(timeout=20) == 0
    (line,) = sent.read_text().splitlines()
    assert json.loads(line)["source"] == "model"


def test_kill_9_mid_delivery_loses_nothing_and_counts_duplicates(tmp_path: Path) -> None:
    """Sends in flight at the kill are sent again after the restart. A message the service took while the process
    died is then delivered twice: the only duplicates allowed, at most one per send in flight."""
    fake = FakeChat()
    fake.fail["telegram"] = ["slow"] * 30  # every answer takes 3 s, so the kill always finds sends in flight
    with serve_in_thread(fake.app()) as chat_url:
        extra = (
            f"prometheus: {{url: '{dead_url()}'}}\nollama: {{enabled: false}}\n"
            f"channels: [{{type: telegram, bot_token: '{fake.telegram_token}', chat_id: 1, api_url: '{chat_url}'}}]\n"
            "delivery: {concurrency: 4}\n"
        )
        with receiver_process(tmp_path / "data", extra) as (url, proc):
            for i in range(12):
                body = {**FIRING, "status": "resolved", "groupKey": f"group-{i}"}
                alert = FIRING["alerts"][0]
                body["alerts"] = [{**alert, "status": "resolved", "labels": {**alert["labels"], "instance": f"h{i}x"}}]
                assert post(url, json.dumps(body).encode()) == 200
            deadline = time.monotonic() + 30
            while len(fake.received["telegram"]) < 4 and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(0.5)  # the next four are in flight now
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
        with sqlite3.connect(tmp_path / "data" / "outbox.sqlite3") as db:
            in_flight = db.execute("SELECT COUNT(*) FROM sends WHERE state = 'inflight'").fetchone()[0]
        assert in_flight >= 1
        with receiver_process(tmp_path / "data", extra) as (url, proc):
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                with sqlite3.connect(tmp_path / "data" / "outbox.sqlite3") as db:
                    if db.execute("SELECT COUNT(*) FROM sends WHERE state != 'sent'").fetchone()[0] == 0:
                        break
                time.sleep(0.2)
        time.sleep(3.5)  # let the fake finish answering requests of the killed process
    texts = [m["text"] for m in fake.received["telegram"]]
    assert all(any(f"on h{i}x" in t for t in texts) for i in range(12))  # every one arrived
    with sqlite3.connect(tmp_path / "data" / "outbox.sqlite3") as db:
        assert db.execute("SELECT COUNT(*) FROM sends WHERE state = 'sent'").fetchone()[0] == 12  # lost = 0
    duplicates = len(texts) - 12
    print(f"kill -9 mid-delivery: 12 notifications, {in_flight} in flight at the kill, {duplicates} duplicates")
    assert 0 <= duplicates <= in_flight
