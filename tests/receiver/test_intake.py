"""The intake against the real app (pytest-aiohttp): stored before 200, duplicates once, clear 4xx, 503 when the
outbox cannot write."""

from __future__ import annotations

import base64
import gzip
import io
import json
import re
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from receiver.app import create_app
from receiver.settings import Settings, SettingsError, load

FIXTURES = Path(__file__).parents[1] / "fixtures" / "alertmanager"
Client = Callable[..., Awaitable[TestClient]]  # type: ignore[type-arg]


def payload(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def rows(settings: Settings) -> list[tuple[str, str, str]]:
    with sqlite3.connect(settings.outbox_path) as db:
        return db.execute("SELECT status, group_key, payload FROM notifications ORDER BY id").fetchall()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.model_validate({"data_dir": str(tmp_path / "data"), "intake": {"max_body_bytes": 2**20}})


async def test_firing_is_stored_before_200(aiohttp_client: Client, settings: Settings) -> None:
    client = await aiohttp_client(create_app(settings))
    body = (FIXTURES / "firing.json").read_bytes()
    resp = await client.post("/alerts", data=body, headers={"Content-Type": "application/json"})
    assert resp.status == 200
    assert (await resp.json())["status"] == "stored"
    (stored,) = rows(settings)
    assert stored[0] == "firing"
    assert json.loads(stored[2]) == json.loads(body)


@pytest.mark.parametrize("name", ["resolved", "multi-truncated"])
async def test_other_real_payload_shapes_are_accepted(aiohttp_client: Client, settings: Settings, name: str) -> None:
    client = await aiohttp_client(create_app(settings))
    resp = await client.post("/alerts", json=payload(name))
    assert resp.status == 200
    assert rows(settings)[0][0] == payload(name)["status"]


async def test_duplicates_are_stored_once_but_resolutions_always(aiohttp_client: Client, settings: Settings) -> None:
    client = await aiohttp_client(create_app(settings))
    first = payload("firing")
    again = {**first, "externalURL": "http://am-2:9093", "commonAnnotations": {"summary": "other words"}}
    assert (await (await client.post("/alerts", json=first)).json())["status"] == "stored"
    resp = await client.post("/alerts", json=again)  # the HA peer's copy
    assert resp.status == 200
    assert (await resp.json())["status"] == "duplicate"
    for _ in range(2):
        assert (await (await client.post("/alerts", json=payload("resolved"))).json())["status"] == "stored"
    assert [r[0] for r in rows(settings)] == ["firing", "resolved", "resolved"]
    metrics = await (await client.get("/metrics")).text()
    assert "costwarden_receiver_duplicates_total 1.0" in metrics
    assert 'costwarden_receiver_notifications_received_total{status="resolved"} 2.0' in metrics


@pytest.mark.parametrize(
    ("body", "reason", "detail"),
    [
        (b"{not json", "malformed_json", "Expecting property name"),
        (b"\xff\xfe\x00", "malformed_json", ""),
        (b"[1, 2]", "not_webhook_v4", "(top level)"),
        (json.dumps({**payload("firing"), "version": "3"}).encode(), "not_webhook_v4", "version"),
        (json.dumps({**payload("firing"), "alerts": []}).encode(), "not_webhook_v4", "alerts"),
        (json.dumps({**payload("firing"), "groupKey": ""}).encode(), "not_webhook_v4", "groupKey"),
        (json.dumps({**payload("firing"), "status": "weird"}).encode(), "not_webhook_v4", "status"),
    ],
)
async def test_bad_bodies_get_400_with_a_reason(
    aiohttp_client: Client, settings: Settings, body: bytes, reason: str, detail: str
) -> None:
    client = await aiohttp_client(create_app(settings))
    resp = await client.post("/alerts", data=body)
    assert resp.status == 400
    answer = await resp.json()
    assert answer["error"] == reason
    assert detail in answer["detail"]
    assert rows(settings) == []


async def test_a_compressed_body_is_refused_unread(aiohttp_client: Client, settings: Settings) -> None:
    """Alertmanager sends plain JSON. A gzip body is decompressed by the server before any size check could see its
    real size (15 KB of gzip is 16 MB of spaces), and one that is not gzip at all failed with a 500."""
    client = await aiohttp_client(create_app(settings))
    bomb = gzip.compress(b" " * 2**24)
    for body in (bomb, json.dumps(payload("firing")).encode()):  # the second is not gzip at all
        resp = await client.post("/alerts", data=body, headers={"Content-Encoding": "gzip"})
        assert resp.status == 415
        assert resp.headers["Accept-Encoding"] == "identity"
        assert (await resp.json())["error"] == "unsupported_encoding"
    two = [("Content-Encoding", "identity"), ("Content-Encoding", "gzip")]  # a second header is read too
    assert (await client.post("/alerts", data=bomb, headers=two)).status == 415
    resp = await client.post("/alerts", json=payload("firing"), headers={"Content-Encoding": "identity"})
    assert resp.status == 200
    assert len(rows(settings)) == 1
    metrics = await (await client.get("/metrics")).text()
    assert 'costwarden_receiver_intake_rejected_total{reason="unsupported_encoding"} 3.0' in metrics


async def test_too_large_is_413_and_big_groups_fit(aiohttp_client: Client, settings: Settings) -> None:
    client = await aiohttp_client(create_app(settings))
    assert (await client.post("/alerts", data=io.BytesIO(b" " * (2**20 + 1)))).status == 413
    big = payload("firing")
    big["alerts"] = [{**big["alerts"][0], "fingerprint": f"{i:016x}"} for i in range(1500)]  # ~0.9 MiB
    assert (await client.post("/alerts", json=big)).status == 200


async def test_auth_bearer_and_basic(aiohttp_client: Client, tmp_path: Path) -> None:
    settings = Settings.model_validate(
        {"data_dir": str(tmp_path), "auth": {"bearer_token": "s3cret", "basic_username": "am", "basic_password": "pw"}}
    )
    client = await aiohttp_client(create_app(settings))
    body = payload("firing")
    assert (await client.post("/alerts", json=body)).status == 401
    assert (await client.post("/alerts", json=body, headers={"Authorization": "Bearer wrong"})).status == 401
    assert (await client.post("/alerts", json=body, headers={"Authorization": "Basic !!"})).status == 401
    assert (await client.post("/alerts", json=body, headers={"Authorization": "Bearer s3cret"})).status == 200
    basic = base64.b64encode(b"am:pw").decode()
    assert (await client.post("/alerts", json=body, headers={"Authorization": f"Basic {basic}"})).status == 200


async def test_503_when_the_outbox_cannot_write(aiohttp_client: Client, settings: Settings) -> None:
    client = await aiohttp_client(create_app(settings))
    assert (await client.get("/-/ready")).status == 200
    blocker = sqlite3.connect(settings.outbox_path, timeout=0.1)
    blocker.execute("BEGIN EXCLUSIVE")  # another writer holds the database: a real, transient failure
    try:
        resp = await client.post("/alerts", json=payload("firing"))
        assert resp.status == 503
        assert (await client.get("/-/ready")).status == 503
    finally:
        blocker.rollback()
        blocker.close()
    assert (await client.post("/alerts", json=payload("firing"))).status == 200  # Alertmanager's retry succeeds
    assert (await client.get("/-/healthy")).status == 200


def test_settings_errors_name_file_and_field(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("COSTWARDEN_LANGUAGE", "LC_ALL", "LC_MESSAGES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LANG", "C.UTF-8")
    path = tmp_path / "receiver.yml"
    path.write_text("listen: {port: 99999}\n")
    with pytest.raises(SettingsError, match=r"receiver\.yml:1: field listen\.port: Input should be less than 65536"):
        load(path)
    # Issue 20: the library's wording ("Extra inputs are not permitted", "Field required") told no one what to do.
    path.write_text("lisen: {}\n")
    with pytest.raises(SettingsError, match=re.escape("field lisen: unknown field; did you mean listen?")):
        load(path)
    path.write_text("ollama: {languag: zh}\n")
    with pytest.raises(SettingsError, match=re.escape("field ollama.languag: unknown field; did you mean language?")):
        load(path)
    # Found in a new-user trial: a name valid elsewhere in the file (actions.url) was suggested where it is not.
    path.write_text("ollama: {url: 'http://127.0.0.1:11434'}\n")
    with pytest.raises(SettingsError) as nowhere:
        load(path)
    assert "field ollama.url: unknown field" in str(nowhere.value) and "did you mean" not in str(nowhere.value)
    path.write_text("channels:\n  - type: telegram\n    bot_token: '1:x'\n    chat_id: 1\n    webhook_ur: x\n")
    with pytest.raises(SettingsError) as other_type:
        load(path)
    assert ":5: field channels.0.telegram.webhook_ur: unknown field" in str(other_type.value)  # its own line
    assert "did you mean" not in str(other_type.value)  # webhook_url is Slack's, not Telegram's
    path.write_text("channels: [{type: console}, {type: console}]\n")
    with pytest.raises(SettingsError, match=re.escape("console is used more than once: give each a name:")):
        load(path)
    path.write_text("# receiver.yml\ndigest:\n  daily:\n    att: '08:00'\n")  # said on its line, as the exporter's
    with pytest.raises(SettingsError, match=re.escape(":4: field digest.daily.att: unknown field; did you mean at?")):
        load(path)
    path.write_text("channels:\n  - {type: telegram, name: ops-bot, chat_id: 1}\n")
    monkeypatch.delenv("COSTWARDEN_RECEIVER_OPS_BOT_BOT_TOKEN", raising=False)
    with pytest.raises(
        SettingsError,
        match=re.escape(
            "field channels.0.telegram.bot_token: required: set COSTWARDEN_RECEIVER_OPS_BOT_BOT_TOKEN "
            "(or COSTWARDEN_RECEIVER_OPS_BOT_BOT_TOKEN_FILE"
        ),
    ):
        load(path)
    secret = tmp_path / "token"
    secret.write_text("from-file\n")
    monkeypatch.setenv("COSTWARDEN_RECEIVER_BEARER_TOKEN_FILE", str(secret))
    assert load(None).auth.bearer_token == "from-file"


def test_a_chinese_receiver_yml_is_told_its_problems_in_chinese(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 20: a user who chose `language: zh` (or a Chinese locale) reads the start-up errors in Chinese; the file,
    the field and the variable to set stay as they are written."""
    for name in ("COSTWARDEN_LANGUAGE", "LC_ALL", "LC_MESSAGES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LANG", "C.UTF-8")
    path = tmp_path / "receiver.yml"
    cases = {
        "ollama: {language: zh}\nlisten: {port: 99999}\n": "receiver.yml:2：字段 listen.port：应小于 65536",
        "ollama: {language: zh}\nlisen: {}\n": "receiver.yml:2：字段 lisen：未知字段；是不是想写 listen？",
        "ollama: {language: zh}\nprocessing: {workers: many}\n": "receiver.yml:2：字段 processing.workers：应为整数",
        # Found in a new-user trial: these were said in the library's English inside a Chinese sentence.
        "ollama: {language: zh}\nchannels: [{type: pager}]\n": "字段 channels.0：'type' 的值 'pager' 不认识，应为 ",
        "ollama: {language: zh}\ndigest: {daily: {at: '25:00'}}\n": "digest.daily.at：应为时刻 HH:MM（例如 08:00）",
        "ollama: {language: zh, timeout_seconds: x}\n": "字段 ollama.timeout_seconds：应为数字",
        "ollama: {language: zh}\nchannels: [{type: console}, {type: console}]\n":
            "yml：字段 （顶层）：渠道名称不能重复（投递按名称记录），重复的是 console：请给每个渠道写上 name:",
        "ollama: {language: zh}\nchannels:\n  - {type: telegram, name: ops-bot, chat_id: 1}\n":
            "字段 channels.0.telegram.bot_token：必填：在环境变量里设置 COSTWARDEN_RECEIVER_OPS_BOT_BOT_TOKEN（或 "
            "COSTWARDEN_RECEIVER_OPS_BOT_BOT_TOKEN_FILE",
        # Found in a new-user trial: the receiver's own checks said "Value error, …" in English.
        "ollama: {language: zh}\ndigest: {timezone: Mars/Base}\n":
            "字段 digest.timezone：不是已知的 IANA 时区（例如 Asia/Shanghai、Asia/Hong_Kong）：'Mars/Base'",
        "ollama: {language: zh}\ndefault_channels: [pager]\n":
            "default_channels：没有名为 pager 的渠道（已有渠道：console）",
        "ollama: {language: zh}\nauth: {basic_username: am}\n": "设置了 basic_username 却没有设置 basic_password",
        "ollama: {language: zh}\nroutes: [{match_re: {x: '('}, channels: [console]}]\n":
            "match_re.x 不是合法的正则表达式：",
        "ollama: {language: zh}\ndigest: {daily: {at: 25:00}}\n": "digest.daily.at：应为时刻 HH:MM（例如 08:00）",
        "ollama: {language: zh}\ndigest: {daily: {at: 900}}\n": "请把时刻写成 '09:00'（数字不是时刻），实际是 900",
        "ollama: {language: zh}\nprometheus: {url: 'http://am:pa/ss@host:9090'}\n": "主机名后面还有 @",
        "ollama: {language: zh}\nauth: x\n": "receiver.yml:2：字段 auth：应为字段映射，实际是 str",
        "ollama: {language: zh}\ndigest: {weekly: {weekday: mon}}\n":
            "字段 digest.weekly.weekday：应为 'monday'、'tuesday'、'wednesday'、'thursday'、'friday'、'saturday' 或 "
            "'sunday' 之一",
    }  # fmt: skip
    monkeypatch.delenv("COSTWARDEN_RECEIVER_OPS_BOT_BOT_TOKEN", raising=False)
    for text, said in cases.items():
        path.write_text(text)
        with pytest.raises(SettingsError, match=re.escape(said)):
            load(path)
    path.write_text("listen: {port: 99999}\n")  # no language in the file: the locale's
    monkeypatch.setenv("LANG", "zh_CN.UTF-8")
    with pytest.raises(SettingsError, match=re.escape("字段 listen.port：应小于 65536")):
        load(path)
    monkeypatch.setenv("COSTWARDEN_LANGUAGE", "en")  # the variable make run reads wins over the locale
    with pytest.raises(SettingsError, match=re.escape("field listen.port: Input should be less than 65536")):
        load(path)
    path.write_text("digest: {timezone: Mars/Base}\n")  # English: the check's own words, no "Value error, "
    with pytest.raises(SettingsError) as english:
        load(path)
    assert str(english.value).endswith(
        "field digest.timezone: not a known IANA time zone (e.g. Europe/Berlin, America/New_York): 'Mars/Base'"
    )


def test_an_empty_document_means_the_defaults(tmp_path: Path) -> None:
    """`[]` or `''` loaded the defaults, as an empty file does; the shared YAML reader made them "expected a
    mapping" errors for a while."""
    for text in ("[]\n", "''\n", "# nothing yet\n"):
        path = tmp_path / "receiver.yml"
        path.write_text(text)
        assert load(path) == load(None), text


def test_the_documented_example_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 20: the example turned on basic auth, which no shipped Alertmanager config sends (every webhook 401)."""
    monkeypatch.setenv("COSTWARDEN_RECEIVER_BEARER_TOKEN", "tok")
    settings = load(Path(__file__).parents[2] / "docs" / "examples" / "receiver.yml")
    assert [c.name for c in settings.channels] == ["console", "audit", "telegram", "ops-hook"]
    assert settings.channels_for({"severity": "critical"}) == ["telegram", "audit", "console"]
    assert settings.channels_for({"severity": "info"}) == ["ops-hook", "audit", "console"]
    assert settings.auth.bearer_token == "tok" and settings.auth.basic_username is None
    assert settings.ollama.model == "llama3.2:3b"
    alertmanager = (Path(__file__).parents[2] / "stack" / "render.py").read_text()
    assert "authorization:" in alertmanager and "basic_auth" not in alertmanager  # what the shipped configs send
    assert settings.digest.weekly.enabled and settings.digest.timezone == "Europe/Berlin"
    assert settings.digest_channels() == ["telegram", "audit"] and str(settings.digest.daily.at) == "09:00:00"


def test_channel_secrets_come_from_the_environment_and_routes_name_real_channels(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "receiver.yml"
    secret_file = tmp_path / "token"
    secret_file.write_text("from-a-file\n")
    monkeypatch.setenv("COSTWARDEN_RECEIVER_OPS_CHAT_BOT_TOKEN_FILE", str(secret_file))
    path.write_text("channels: [{type: telegram, name: ops-chat, chat_id: 1}]\n")
    assert load(path).channels[0].bot_token == "from-a-file"  # type: ignore[union-attr]
    path.write_text("channels: [{type: console}]\nroutes: [{match: {severity: critical}, channels: [pager]}]\n")
    with pytest.raises(SettingsError, match=r"routes\.0\.channels: no channel named pager \(channels: console\)"):
        load(path)
    path.write_text("channels: [{type: slack, webhook_url: 'ftp://x'}]\n")
    with pytest.raises(SettingsError, match=r"receiver\.yml:1: field channels\.0\.slack\.webhook_url"):
        load(path)
