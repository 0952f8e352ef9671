"""Each channel's rendering (escaping, limits, splitting) on hostile text, and delivery through the real app to local
servers speaking each service's API, with their errors, rate limits and slowness."""

from __future__ import annotations

import asyncio
import html
import json
import re
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from email import message_from_bytes, policy
from email.message import Message as Email
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp.test_utils import TestClient
from aiosmtpd.controller import Controller

from receiver import cli
from receiver import settings as s
from receiver.app import create_app
from receiver.delivery.channels import chat, robots
from receiver.delivery.channels.mail import EmailChannel
from receiver.intake import Webhook
from receiver.message import catalogue, render
from receiver.message.render import Message, Section
from receiver.resend import resend
from receiver.settings import PublicUrls, Settings
from receiver.store import sends as sends_table
from receiver.store.db import OutboxError
from receiver.store.outbox import Outbox
from tests.receiver.conftest import dead_url, until
from tests.support.fakes import serve_in_thread, served
from tests.support.fakes.chat import FakeChat, telegram_html_problem, utf16
from tests.support.fakes.ollama import FakeOllama
from tests.support.net import free_port

FIXTURES = Path(__file__).parents[1] / "fixtures" / "alertmanager"
Client = Callable[..., Awaitable[TestClient]]  # type: ignore[type-arg]

HOSTILE = [
    "<b>not bold</b> & <script>alert(1)</script> &amp; &#x1F4A5; <!channel> @everyone",
    "*bold?* _italic?_ `code?` ~strike~ [link](http://evil) > quote # heading | pipe",
    "emoji 🔥💸🚀 and CJK 挖矿程序占用了全部 CPU，请立即检查容器",
    "x" * 10_000,
]


def hostile_message(**changes: Any) -> Message:
    fields: dict[str, Any] = {
        "id": 7, "group_key": "g", "status": "firing", "severity": "critical", "kind": "message",
        "title": "CRITICAL · CostwardenCostSpike on <vps1> & co", "headline": HOSTILE[0],
        "sections": (Section("What we see", tuple(HOSTILE)), Section("Likely causes", tuple(HOSTILE[:3]), True)),
        "footer": "Analysis by llama3.2:3b <b>", "links": (("Dashboard", "http://grafana:3000/d/x?a=1&b=<2>"),),
        "source": "model",
    }  # fmt: skip
    return Message(**{**fields, **changes})


def plain_of_html(part: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", part))


def test_telegram_parts_fit_escape_and_keep_every_word() -> None:
    cfg = s.TelegramChannel(type="telegram", bot_token="t", chat_id=1)
    parts = chat.TelegramChannel(cfg, None).render(hostile_message())  # type: ignore[arg-type]
    assert len(parts) >= 3
    for i, part in enumerate(parts, 1):
        assert utf16(part["text"]) <= 4096 and part["parse_mode"] == "HTML"
        assert telegram_html_problem(part["text"]) == ""  # would parse: every dynamic piece escaped
        assert part["text"].startswith(f"({i}/{len(parts)}) ")
    text = "".join(plain_of_html(p["text"]) for p in parts)
    for hostile in HOSTILE[:3]:
        assert hostile in text  # shown literally, not interpreted
    assert text.count("x") >= 10_000
    assert "<script>" not in "".join(p["text"] for p in parts)


def test_telegram_splits_at_paragraphs_when_it_can() -> None:
    cfg = s.TelegramChannel(type="telegram", bot_token="t", chat_id=1)
    long_lines = tuple(f"line {i} " + "y" * 300 for i in range(12))
    message = hostile_message(headline="h", sections=(Section("A", long_lines), Section("B", long_lines)))
    parts = chat.TelegramChannel(cfg, None).render(message)  # type: ignore[arg-type]
    assert len(parts) == 2
    assert "<b>B</b>" in parts[1]["text"].split("\n")[0] + parts[1]["text"]  # the second section starts a part
    assert parts[0]["text"].rstrip().endswith("y")  # no line was cut: only the 10k-character one ever is


def test_slack_blocks_stay_within_limits_and_cannot_mention() -> None:
    cfg = s.SlackChannel(type="slack", webhook_url="http://x")
    parts = chat.SlackChannel(cfg, None).render(hostile_message(title="T" * 400))  # type: ignore[arg-type]
    for part in parts:
        blocks = part["blocks"]
        assert len(blocks) <= 50 and blocks[0]["type"] == "header" and len(blocks[0]["text"]["text"]) <= 150
        for block in blocks[1:]:
            texts = [block["text"]["text"]] if block["type"] == "section" else [e["text"] for e in block["elements"]]
            assert all(len(t) <= 3000 for t in texts)
            assert not any("<!channel>" in t or "<script>" in t for t in texts)
    joined = json.dumps(parts)
    assert "&lt;!channel&gt;" in joined and "<http://grafana:3000/d/x?a=1&b=%3C2%3E|Dashboard>" in joined
    # The top-level text is what phones show in the notification: mentions there ping the whole channel.
    mentions = hostile_message(title="<!channel> <!here> <@U024BE7LH> & co", headline="<!subteam^S1> <#C1>")
    (part,) = chat.SlackChannel(cfg, None).render(mentions)  # type: ignore[arg-type]
    assert "<" not in part["text"] and ">" not in part["text"]
    assert "&lt;!channel&gt; &lt;!here&gt; &lt;@U024BE7LH&gt; &amp; co\n&lt;!subteam^S1&gt;" in part["text"]


def test_discord_embeds_stay_within_limits_and_cannot_mention() -> None:
    cfg = s.DiscordChannel(type="discord", webhook_url="http://x")
    parts = chat.DiscordChannel(cfg, None).render(hostile_message())  # type: ignore[arg-type]
    assert len(parts) >= 3
    for part in parts:
        (embed,) = part["embeds"]
        assert len(embed["description"]) <= 4096 and len(embed["title"]) <= 256
        assert len(embed["title"]) + len(embed["description"]) + len(embed["footer"]["text"]) <= 6000
        assert part["allowed_mentions"] == {"parse": []}
    assert "\\@everyone" in parts[0]["embeds"][0]["description"]
    # Discord reads markdown in an embed's title too (found in a new-user trial: the title was sent raw).
    titled = chat.DiscordChannel(cfg, None).render(hostile_message(title=HOSTILE[1] + " " + "y" * 300))  # type: ignore[arg-type]
    title = titled[0]["embeds"][0]["title"]
    assert "\\*bold?\\* \\_italic?\\_" in title and "\\[link\\]\\(http://evil\\)" in title
    assert len(title) <= 256 and title.endswith("…") and not title.removesuffix("…").endswith("y")
    assert "\\*bold?\\*" in json.loads(json.dumps(parts))[0]["embeds"][0]["description"]


def test_email_html_is_escaped() -> None:
    cfg = s.EmailChannel(type="email", host="h", sender="a@b.c", to=["d@e.f"])
    (part,) = EmailChannel(cfg).render(hostile_message())
    assert "<script>" not in part["html"] and "&lt;script&gt;" in part["html"]
    assert HOSTILE[0] in part["text"]


# --- through the real app ----------------------------------------------------------------------------------------


@pytest.fixture
async def fake_chat() -> AsyncIterator[tuple[FakeChat, str]]:
    fake = FakeChat()
    async with served(fake.app()) as url:
        yield fake, url


class Smtp:
    def __init__(self) -> None:
        self.mails: list[Email] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.mails.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"


def channels_for(url: str, fake: FakeChat, *names: str, smtp_port: int = 0) -> list[dict[str, Any]]:
    every = {
        "telegram": {"type": "telegram", "bot_token": fake.telegram_token, "chat_id": -100123, "api_url": url},
        "slack": {"type": "slack", "webhook_url": f"{url}/slack/{fake.slack_path}"},
        "discord": {"type": "discord", "webhook_url": f"{url}/api/webhooks/{fake.discord_path}"},
        "webhook": {"type": "webhook", "url": f"{url}/hook", "secret": fake.hook_secret},
        "email": {"type": "email", "host": "127.0.0.1", "port": smtp_port, "security": "none",
                  "sender": "costwarden@vps1.example", "to": ["owner@example.com"]},
        "wecom": {"type": "wecom", "webhook_url": f"{url}/cgi-bin/webhook/send?key={fake.wecom_key}"},
        "dingtalk": {"type": "dingtalk", "webhook_url": f"{url}/robot/send?access_token={fake.dingtalk_token}",
                     "secret": fake.dingtalk_secret},
        "feishu": {"type": "feishu", "webhook_url": f"{url}/open-apis/bot/v2/hook/{fake.feishu_token}",
                   "secret": fake.feishu_secret},
    }  # fmt: skip
    return [every[n] for n in names]


def settings_for(tmp_path: Path, channels: list[dict[str, Any]], **extra: Any) -> Settings:
    return Settings.model_validate(
        {
            "data_dir": str(tmp_path / "data"),
            "prometheus": {"url": dead_url()},
            "ollama": extra.pop("ollama", {"enabled": False}),
            "delivery": {"retry_base_seconds": 0.2, "retry_max_seconds": 1},
            "channels": channels,
            "digest": {"daily": {"enabled": False}},  # the wall clock must not add a message to these tests
            **extra,
        }
    )


def payload(name: str, **changes: Any) -> dict[str, Any]:
    return {**json.loads((FIXTURES / f"{name}.json").read_text()), **changes}


def sends(settings: Settings) -> list[tuple[str, str, int, str | None]]:
    with sqlite3.connect(settings.outbox_path) as db:
        return db.execute("SELECT channel, state, attempts, last_error FROM sends ORDER BY id").fetchall()


async def test_every_channel_gets_the_message(
    aiohttp_client: Client, tmp_path: Path, fake_chat: tuple[FakeChat, str]
) -> None:
    fake, url = fake_chat
    smtp = Smtp()
    controller = Controller(smtp, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        names = ("telegram", "slack", "discord", "webhook", "email")
        settings = settings_for(tmp_path, channels_for(url, fake, *names, smtp_port=controller.port),
                                processing={"page_first": []}, alertmanager_url="https://am.example.com")  # fmt: skip
        client = await aiohttp_client(create_app(settings))
        await client.post("/alerts", json=payload("firing"))
        await until(lambda: all(fake.received[n] for n in names[:4]) and bool(smtp.mails))
    finally:
        controller.stop()
    (tg,) = fake.received["telegram"]
    assert tg["chat_id"] == -100123 and tg["text"].startswith("<b>🔴 CRITICAL · CostwardenCostSpike on vps1</b>")
    assert "Silence</a>" in tg["text"] and "https://am.example.com/#/silences/new?filter=" in tg["text"]
    assert "alertmanager:9093" not in tg["text"]  # the webhook's externalURL, a container's name: never a link
    assert fake.received["slack"][0]["blocks"][0]["text"]["text"].startswith("🔴 CRITICAL")
    assert fake.received["discord"][0]["wait"] == "true"
    hook = fake.received["webhook"][0]
    assert hook["message"]["data"]["alertmanager"]["groupKey"] == payload("firing")["groupKey"]
    (mail,) = smtp.mails
    assert mail["Subject"].startswith("🔴 CRITICAL") and mail.is_multipart()
    assert {p.get_content_type() for p in mail.walk()} >= {"text/plain", "text/html"}
    await until(lambda: [state for _, state, _, _ in sends(settings)] == ["sent"] * 5)  # recorded after each answer


async def test_rate_limits_are_honoured(
    aiohttp_client: Client, tmp_path: Path, fake_chat: tuple[FakeChat, str]
) -> None:
    fake, url = fake_chat
    fake.fail["telegram"] = ["429"]
    fake.fail["discord"] = ["429"]
    settings = settings_for(tmp_path, channels_for(url, fake, "telegram", "discord"))
    client = await aiohttp_client(create_app(settings))
    started = time.monotonic()
    await client.post("/alerts", json=payload("resolved"))
    await until(lambda: bool(fake.received["telegram"] and fake.received["discord"]))
    assert time.monotonic() - started >= 1.0  # Telegram said retry_after 1: not sooner, despite a 0.2 s back-off base
    assert fake.attempts["telegram"] == 2 and fake.attempts["discord"] == 2
    metrics = await (await client.get("/metrics")).text()
    assert 'costwarden_receiver_deliveries_total{channel="telegram",result="retry"} 1.0' in metrics


async def test_refused_markup_is_resent_as_plain_text(
    aiohttp_client: Client, tmp_path: Path, fake_chat: tuple[FakeChat, str]
) -> None:
    fake, url = fake_chat
    fake.fail["telegram"] = ["html"]
    settings = settings_for(tmp_path, channels_for(url, fake, "telegram"))
    client = await aiohttp_client(create_app(settings))
    await client.post("/alerts", json=payload("resolved"))
    await until(lambda: bool(fake.received["telegram"]))
    (tg,) = fake.received["telegram"]
    assert "parse_mode" not in tg and tg["text"].startswith("✅ RESOLVED · CostwardenCostSpike on vps1")


async def test_permanent_errors_are_parked_not_retried(
    aiohttp_client: Client, tmp_path: Path, fake_chat: tuple[FakeChat, str]
) -> None:
    fake, url = fake_chat
    channels = channels_for(url, fake, "telegram", "slack")
    channels[0]["bot_token"] = "123456:WRONG"
    channels[1]["webhook_url"] = f"{url}/slack/T000/B000/REVOKED"
    settings = settings_for(tmp_path, channels)
    client = await aiohttp_client(create_app(settings))
    await client.post("/alerts", json=payload("resolved"))
    await until(lambda: all(state == "parked" for _, state, _, _ in sends(settings)) and len(sends(settings)) == 2)
    await asyncio.sleep(0.5)
    assert sends(settings) == [
        ("telegram", "parked", 1, "HTTP 401: Unauthorized"),
        ("slack", "parked", 1, "HTTP 403: invalid_token"),
    ]
    metrics = await (await client.get("/metrics")).text()
    assert 'costwarden_receiver_deliveries_total{channel="telegram",result="parked"} 1.0' in metrics
    assert "costwarden_receiver_sends_parked 2.0" in metrics
    assert "WRONG" not in json.dumps(sends(settings))  # the token never lands in a stored reason


async def test_parked_messages_are_sent_again_in_order_once_the_channel_is_fixed(
    aiohttp_client: Client, tmp_path: Path, fake_chat: tuple[FakeChat, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """Found in an operator's trial: a wrong token parks every message, and fixing it brought none of them back.
    `costwarden-receiver resend` queues a channel's parked parts again, in their order, for the receiver running."""
    fake, url = fake_chat
    channels = channels_for(url, fake, "telegram", "slack")
    channels[0]["bot_token"] = "123456:WRONG"
    settings = settings_for(tmp_path, channels)
    first = await aiohttp_client(create_app(settings))
    await first.post("/alerts", json=payload("firing"))
    await until(lambda: len(sends(settings)) >= 2 and all(r[1] in ("parked", "sent") for r in sends(settings)))
    await first.post("/alerts", json=payload("resolved"))
    await until(lambda: len(sends(settings)) >= 4 and all(r[1] in ("parked", "sent") for r in sends(settings)))
    await first.close()
    parked = [r for r in sends(settings) if r[0] == "telegram"]
    assert len(parked) >= 2 and {r[1] for r in parked} == {"parked"}
    slack = len(fake.received["slack"])

    channels[0]["bot_token"] = fake.telegram_token  # the operator fixes the token and restarts the receiver
    config = tmp_path / "receiver.yml"
    config.write_text(yaml.safe_dump({
        "data_dir": str(tmp_path / "data"), "prometheus": {"url": dead_url()}, "ollama": {"enabled": False},
        "channels": channels, "digest": {"daily": {"enabled": False}},
    }))  # fmt: skip
    fixed = Settings.model_validate(yaml.safe_load(config.read_text()))
    await aiohttp_client(create_app(fixed))

    assert await asyncio.to_thread(cli.main, ["resend", "--channel", "nosuch", "--config", str(config)]) == 2
    assert "no channel named nosuch (configured: telegram, slack)" in capsys.readouterr().err
    assert await asyncio.to_thread(cli.main, ["resend", "--dry-run", "--config", str(config)]) == 0
    assert f"telegram: {len(parked)} parked part(s) would be sent again" in capsys.readouterr().out
    await asyncio.sleep(1.5)
    assert not fake.received["telegram"]

    assert await asyncio.to_thread(cli.main, ["resend", "--channel", "telegram", "--config", str(config)]) == 0
    assert f"telegram: {len(parked)} parked part(s) queued again" in capsys.readouterr().out
    await until(lambda: len(fake.received["telegram"]) == len(parked))
    texts = [m["text"] for m in fake.received["telegram"]]
    assert texts[0].startswith("<b>🔴 CRITICAL") and texts[-1].startswith("<b>✅ RESOLVED")  # firing before resolved
    await until(lambda: all(r[1] == "sent" for r in sends(settings)))
    assert len(fake.received["slack"]) == slack  # what was delivered is not sent twice
    with sqlite3.connect(settings.outbox_path) as db:
        assert {r[0] for r in db.execute("SELECT state FROM notifications")} == {"done"}
    assert await asyncio.to_thread(cli.main, ["resend", "--config", str(config)]) == 0
    assert "nothing parked in the last 24 h" in capsys.readouterr().out


async def test_resend_leaves_parts_that_would_mislead_or_park_again(tmp_path: Path) -> None:
    """An old firing sent after its resolution was delivered (or while it is being sent) would say the alert fires
    again; a part for a channel no longer configured would only park again; one parked before --hours is left. A
    part queued long ago but parked lately (a long outage past delivery.max_age_hours) is counted from its parking
    (found in review: the 24-hour default never saw one)."""
    settings = settings_for(tmp_path, [{"type": "console", "name": "telegram"}])
    with pytest.raises(OutboxError, match=r"no outbox at .*: is data_dir the receiver's"):
        await resend(settings, None, 24, dry_run=True)  # a mistyped data_dir: said, and no empty outbox made
    assert not settings.outbox_path.exists()
    outbox = Outbox(settings.outbox_path, 60)
    await outbox.open()
    await outbox.close()
    now = time.time()
    rows = [  # (group, channel, state, queued hours ago, parked hours ago)
        ("g1", "telegram", "parked", 2, None),
        ("g1", "telegram", "sent", 1, None),  # its resolution delivered
        ("g2", "telegram", "parked", 3, None),
        ("g2", "old-bot", "parked", 3, None),
        ("g3", "telegram", "parked", 30, None),  # before --hours
        ("g4", "telegram", "parked", 49, 1),  # still failing after 48 h: parked an hour ago
        ("g5", "telegram", "parked", 2, None),
        ("g5", "telegram", "inflight", 1, None),  # its resolution in flight
    ]
    with sqlite3.connect(settings.outbox_path) as db:
        db.execute("INSERT INTO notifications (id, dedup_key, group_key, status, received_at, payload, state)"
                   " VALUES (1, 'k', 'g', 'firing', 0, '{}', 'done')")  # fmt: skip
        for i, (group, channel, state, queued, parked) in enumerate(rows):
            db.execute("INSERT INTO sends (notification_id, group_key, channel, kind, part, parts, body, state,"
                       " created_at, parked_at, last_error) VALUES (1, ?, ?, 'message', ?, 1, 'x', ?, ?, ?, '401')",
                       (group, channel, i, state, now - queued * 3600,
                        None if parked is None else now - parked * 3600))  # fmt: skip
    lines = await resend(settings, None, 24, dry_run=False)
    assert lines[0].startswith("telegram: 2 parked part(s) queued again")
    assert "old-bot: 1 parked part(s) left: no channel named old-bot is configured" in lines
    assert "telegram: 2 parked part(s) left: a later message of the same alert was delivered or is on its way" in lines
    with sqlite3.connect(settings.outbox_path) as db:
        states = [r[0] for r in db.execute("SELECT state FROM sends ORDER BY id")]
        assert states == ["parked", "sent", "pending", "parked", "parked", "pending", "parked", "inflight"]
        assert db.execute("SELECT state FROM notifications").fetchone()[0] == "analysed"
        db.execute("UPDATE notifications SET state = 'done'")
        db.commit()
        # Found in review: a part no longer parked (two resends at once) set its notification back to analysed,
        # where nothing would finish it again.
        assert sends_table.requeue(db, [2, 3], now) == []
        assert db.execute("SELECT state FROM notifications").fetchone()[0] == "done"


def test_links_open_from_a_phone_on_the_public_urls_or_are_left_out() -> None:
    """The fixture's Prometheus and Alertmanager are compose's container names: dead links on a phone."""
    hook = Webhook.model_validate(payload("firing"))
    words = catalogue.of("en").labels
    texts = [t for t, _ in render.links(hook, PublicUrls(), words)]
    assert "Graph" not in texts and "Silence" not in texts
    public = dict(render.links(hook, PublicUrls(prometheus="https://ops.example.com/prom/",
                                                alertmanager="https://ops.example.com/am"), words))  # fmt: skip
    assert public["Graph"].startswith("https://ops.example.com/prom/graph?g0.expr=")
    assert public["Silence"].startswith("https://ops.example.com/am/#/silences/new?filter=%7B")
    for external, kept in (("http://127.0.0.1:9093", False), ("http://localhost:9093", False),
                           ("http://3f2a1b9c0d4e:9093", False), ("http://10.0.0.5:9093", True),
                           ("https://am.example.org", True)):  # fmt: skip
        hook = Webhook.model_validate(payload("firing", externalURL=external))
        assert ("Silence" in dict(render.links(hook, PublicUrls(), words))) is kept, external


def test_a_link_too_long_to_open_is_left_out_never_cut() -> None:
    """Found in an operator's trial: a 5,000-character label made the Silence link 15 kB; Telegram got it as seven
    parts of one letter each, Discord over its limit, Slack cut in the middle of the URL. A cut link is a dead one."""
    long_label = "c" * 5000
    firing = payload("firing")
    firing["groupLabels"] = {**firing["groupLabels"], "cgroup": long_label}
    hook = Webhook.model_validate(firing)
    links = dict(render.links(hook, PublicUrls(alertmanager="https://am.example.com"), catalogue.of("en").labels))
    assert "Silence" not in links
    assert all(len(url) <= render.LINK_CHARS and not url.endswith("…") for url in links.values())
    # (found in review) a runbook written as a YAML block scalar ends with a newline: the link stays, without it
    firing["commonAnnotations"] = {**firing.get("commonAnnotations", {}), "runbook_url": "https://example.com/rb\n"}
    kept = dict(render.links(Webhook.model_validate(firing), PublicUrls(), catalogue.of("en").labels))
    assert kept["Runbook"] == "https://example.com/rb"
    # Whatever its source, a link that cannot fit a part is left out; the links that fit stay whole.
    huge = "https://am.example.com/#/silences/new?filter=" + "%7B" * 3000
    message = hostile_message(links=(("Dashboard", "https://grafana.example.com/d/x"), ("Silence", huge)))
    telegram = chat.TelegramChannel(s.TelegramChannel(type="telegram", bot_token="t", chat_id=1), None)  # type: ignore[arg-type]
    slack = chat.SlackChannel(s.SlackChannel(type="slack", webhook_url="http://x"), None)  # type: ignore[arg-type]
    discord = chat.DiscordChannel(s.DiscordChannel(type="discord", webhook_url="http://x"), None)  # type: ignore[arg-type]
    rendered = {
        "telegram": [p["text"] for p in telegram.render(message)],
        "slack": [json.dumps(p) for p in slack.render(message)],
        "discord": [p["embeds"][0]["description"] for p in discord.render(message)],
    }
    for name, parts in rendered.items():
        joined = "".join(parts)
        assert "%7B%7B%7B" not in joined, name
        assert "https://grafana.example.com/d/x" in joined, name
    assert all(utf16(part) <= 4096 for part in rendered["telegram"])
    assert all(len(part) <= 4096 for part in rendered["discord"])
    for part in slack.render(message):
        for block in part["blocks"][1:]:
            texts = [block["text"]["text"]] if block["type"] == "section" else [e["text"] for e in block["elements"]]
            assert all(len(t) <= 3000 and t.count("<") == t.count(">") for t in texts)


async def test_routes_pick_channels_by_label(
    aiohttp_client: Client, tmp_path: Path, fake_chat: tuple[FakeChat, str]
) -> None:
    fake, url = fake_chat
    settings = settings_for(
        tmp_path,
        channels_for(url, fake, "telegram", "webhook"),
        routes=[{"match": {"severity": "critical"}, "channels": ["telegram", "webhook"]}],
        default_channels=["webhook"],
        processing={"page_first": []},
    )
    client = await aiohttp_client(create_app(settings))
    warning = payload("firing", groupKey="w")
    warning["commonLabels"] = {**warning["commonLabels"], "severity": "warning"}
    await client.post("/alerts", json=warning)
    await client.post("/alerts", json=payload("firing"))
    await until(lambda: len(fake.received["webhook"]) == 2 and len(fake.received["telegram"]) == 1)
    await asyncio.sleep(0.3)
    assert len(fake.received["telegram"]) == 1


async def test_critical_pages_first_and_the_analysis_replies(
    aiohttp_client: Client, tmp_path: Path, fake_chat: tuple[FakeChat, str], ollama: tuple[FakeOllama, str]
) -> None:
    fake, url = fake_chat
    model, model_url = ollama
    model.modes = ["slow"]  # the model takes 2 s; the page must not wait for it
    settings = settings_for(tmp_path, channels_for(url, fake, "telegram"), ollama={"host": model_url})
    client = await aiohttp_client(create_app(settings))
    started = time.monotonic()
    await client.post("/alerts", json=payload("firing"))
    await until(lambda: bool(fake.received["telegram"]))
    assert time.monotonic() - started < 1.5
    page = fake.received["telegram"][0]
    assert (
        "Automatic summary without AI (facts first; the model's analysis follows when it can give one)." in page["text"]
    )
    await until(lambda: len(fake.received["telegram"]) == 2)
    follow_up = fake.received["telegram"][1]
    assert follow_up["reply_parameters"]["message_id"] == page["message_id"]
    assert "Analysis by llama3.2:3b" in follow_up["text"]


async def test_the_promised_follow_up_arrives_when_the_model_cannot_answer(
    aiohttp_client: Client, tmp_path: Path, fake_chat: tuple[FakeChat, str]
) -> None:
    """The page says an analysis follows; with no model answering, one line says none could be given and why."""
    fake, url = fake_chat
    settings = settings_for(tmp_path, channels_for(url, fake, "telegram"), ollama={"host": dead_url()})
    client = await aiohttp_client(create_app(settings))
    await client.post("/alerts", json=payload("firing"))
    await until(lambda: len(fake.received["telegram"]) == 2)
    page, follow_up = fake.received["telegram"]
    assert "the model's analysis follows when it can give one" in page["text"]
    assert "No analysis by the model this time: Ollama is not reachable." in follow_up["text"]
    assert follow_up["reply_parameters"]["message_id"] == page["message_id"]


async def test_a_channel_that_delivers_again_makes_its_waiting_sends_due(tmp_path: Path) -> None:
    """Found in an operator's trial: after an outage, another group's message went through at once while a critical
    page waited out the rest of its back-off (2.5 minutes). A channel that delivers again is known to be back, but
    (found in review) a service's retry-after still holds, and a chart keeps its own back-off (three attempts)."""
    from receiver.store import notifications, sends
    from receiver.store.outbox import Outbox
    from receiver.store.sends import Send
    from receiver.store.states import Note
    from receiver.store.states import Send as State

    outbox = Outbox(tmp_path / "outbox.sqlite3", 3600)
    await outbox.open()
    try:
        now = time.time()
        ids = {}
        for group, kind in (("a", "message"), ("b", "message"), ("c", "chart"), ("d", "message"), ("x", "message")):
            stored = await outbox.store(notifications.Arrival(group, group, "firing", json.dumps(payload("firing"))))
            queued = [Send(group, "telegram" if group != "x" else "slack", kind, 0, 1, "{}")]
            await outbox.write(notifications.advance, stored.id, Note.ANALYSED, queued, None, now)
            (ids[group],) = [q.id for q in await outbox.read(sends.due, 10, now, 300) if q.group_key == group]
        for group in ("a", "c", "x"):  # our own back-off of a minute
            await outbox.write(sends.mark, ids[group], State.PENDING, now, error="HTTP 500", retry_at=now + 60)
        await outbox.write(sends.mark, ids["d"], State.PENDING, now, error="HTTP 429", retry_at=now + 60,
                           not_before=now + 30)  # fmt: skip
        await outbox.write(sends.mark, ids["b"], State.SENT, now + 1)
        due = {q.group_key for q in await outbox.read(sends.due, 10, now + 2, 300)}
        assert due == {"a"}  # not the chart, not the other channel's, not before the retry-after
        assert {q.group_key for q in await outbox.read(sends.due, 10, now + 31, 300)} == {"a", "d"}
    finally:
        await outbox.close()


async def test_a_stop_with_messages_waiting_says_so(
    tmp_path: Path, fake_chat: tuple[FakeChat, str], caplog: pytest.LogCaptureFixture
) -> None:
    """Found in an operator's trial: nothing in the log at a stop said that messages were still waiting."""
    from aiohttp.test_utils import TestClient, TestServer

    fake, url = fake_chat
    fake.fail["telegram"] = ["500"] * 50
    settings = settings_for(tmp_path, channels_for(url, fake, "telegram"), processing={"page_first": []},
                            delivery={"retry_base_seconds": 60, "retry_max_seconds": 60})  # fmt: skip
    caplog.set_level("INFO", "receiver")
    async with TestClient(TestServer(create_app(settings))) as client:
        await client.post("/alerts", json=payload("firing"))
        await until(lambda: bool(sends(settings)) and sends(settings)[0][3] is not None, seconds=20)
    assert "stopped with 1 notification(s) unfinished and 1 message part(s) waiting to be sent" in caplog.text


async def test_an_outage_delays_but_loses_and_reorders_nothing(
    aiohttp_client: Client, tmp_path: Path, fake_chat: tuple[FakeChat, str]
) -> None:
    fake, url = fake_chat
    fake.fail["telegram"] = ["500"] * 6 + ["slow"]
    settings = settings_for(tmp_path, channels_for(url, fake, "telegram"), processing={"page_first": []})
    client = await aiohttp_client(create_app(settings))
    for group in ("a", "b", "c"):
        for status in ("firing", "resolved"):
            await client.post("/alerts", json=payload(status, groupKey=group))
    await until(lambda: len(fake.received["telegram"]) >= 6, seconds=40)
    await asyncio.sleep(0.5)
    assert len(fake.received["telegram"]) == 6  # every one arrived, none twice
    with sqlite3.connect(settings.outbox_path) as db:
        firsts = dict(db.execute(
            "SELECT n.group_key, MIN(s.sent_at) FROM sends s JOIN notifications n ON n.id = s.notification_id"
            " WHERE n.status = 'firing' GROUP BY n.group_key"
        ).fetchall())  # fmt: skip
        resolved = dict(db.execute(
            "SELECT n.group_key, MIN(s.sent_at) FROM sends s JOIN notifications n ON n.id = s.notification_id"
            " WHERE n.status = 'resolved' GROUP BY n.group_key"
        ).fetchall())  # fmt: skip
    assert all(firsts[g] < resolved[g] for g in ("a", "b", "c"))  # a resolution never overtakes its firing
    assert fake.attempts["telegram"] >= 12


def test_send_test_reports_each_channel(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from receiver.cli import main

    fake = FakeChat()
    with serve_in_thread(fake.app()) as url:
        channels = channels_for(url, fake, "telegram", "slack")
        channels[1]["webhook_url"] = f"{url}/slack/T000/B000/REVOKED"
        config = tmp_path / "receiver.yml"
        config.write_text(json.dumps({"channels": channels}))
        assert main(["send-test", "--config", str(config)]) == 1
    out = capsys.readouterr().out
    assert "telegram: sent (message 100)" in out and "slack: refused: HTTP 403: invalid_token" in out
    assert "CostwardenSendTest" in fake.received["telegram"][0]["text"]


@pytest.mark.parametrize(
    ("channel", "failure", "attempts"),
    [("slack", "429", 2), ("discord", "500", 2), ("webhook", "500", 2)],
)
async def test_transient_failures_are_retried(
    aiohttp_client: Client, tmp_path: Path, fake_chat: tuple[FakeChat, str], channel: str, failure: str, attempts: int
) -> None:
    fake, url = fake_chat
    fake.fail[channel] = [failure]
    settings = settings_for(tmp_path, channels_for(url, fake, channel))
    client = await aiohttp_client(create_app(settings))
    await client.post("/alerts", json=payload("resolved"))
    await until(lambda: [r[1] for r in sends(settings)] == ["sent"])
    assert fake.attempts[channel] == attempts and len(fake.received[channel]) == 1
    (row,) = sends(settings)
    assert row[2] == attempts


async def test_a_chinese_message_says_why_prometheus_told_nothing_in_chinese(
    aiohttp_client: Client, tmp_path: Path, fake_chat: tuple[FakeChat, str]
) -> None:
    """Found in a new-user trial: the library's English ("Prometheus at … is unreachable: Cannot connect to host …
    [Connect call failed …]") stood inside a Chinese robot message."""
    fake, url = fake_chat
    settings = settings_for(tmp_path, channels_for(url, fake, "dingtalk"), ollama={"enabled": False, "language": "zh"})
    client = await aiohttp_client(create_app(settings))
    assert (await client.post("/alerts", json=payload("firing"))).status == 200
    await until(lambda: bool(fake.received["dingtalk"]))
    text = fake.received["dingtalk"][0]["text"]["content"]
    assert f"无法从 Prometheus 获取更多上下文：连不上 Prometheus（{settings.prometheus.url}）" in text, text
    # And a group's title has no space before its full-width parenthesis (the trial saw one).
    two = payload("firing")
    two["alerts"] = [two["alerts"][0], {**two["alerts"][0], "labels": {**two["alerts"][0]["labels"], "cgroup": "b"}}]
    two["groupKey"] = "two"
    assert (await client.post("/alerts", json=two)).status == 200
    await until(lambda: any("另有" in r["text"]["content"] for r in fake.received["dingtalk"]))
    titled = next(r["text"]["content"] for r in fake.received["dingtalk"] if "另有" in r["text"]["content"])
    assert "（另有 1 条）" in titled and " （另有" not in titled, titled
    assert "unreachable" not in text and "Cannot connect" not in text


@pytest.mark.parametrize(
    ("channel", "said"),
    [("feishu", "(HTTP 502: Feishu code -2: <html>bad gateway</html>)"), ("discord", "(HTTP 502: bad gateway)")],
)
async def test_an_answer_without_json_is_quoted_as_text(
    aiohttp_client: Client, tmp_path: Path, fake_chat: tuple[FakeChat, str], caplog: pytest.LogCaptureFixture,
    channel: str, said: str,
) -> None:  # fmt: skip
    """Found in a new-user trial: "Feishu code -2: b'<html>bad gateway</html>'" — a Python bytes repr; and in an
    operator's trial, Discord's "HTTP 500: b'ok'"."""
    fake, url = fake_chat
    fake.fail[channel] = ["502"]
    settings = settings_for(tmp_path, channels_for(url, fake, channel))
    client = await aiohttp_client(create_app(settings))
    await client.post("/alerts", json=payload("resolved"))
    await until(lambda: [r[1] for r in sends(settings)] == ["sent"])
    assert said in caplog.text and "b'" not in caplog.text


async def test_a_group_too_large_for_the_receiving_end_arrives_without_the_alertmanager_payload(
    aiohttp_client: Client, tmp_path: Path, fake_chat: tuple[FakeChat, str]
) -> None:
    """Found in a new-user trial: a webhook behind nginx (1 MB by default) answered 413 to a large group, and the
    notification was parked: nobody heard of it. The message and its facts are sent again without Alertmanager's
    own payload (`"omitted": ["alertmanager"]`), as Alertmanager's max_alerts truncates."""
    fake, url = fake_chat
    fake.hook_max_bytes = 60_000
    hook = payload("firing")
    alert = hook["alerts"][0]
    long = {**alert["annotations"], "description": "x" * 400}
    hook["alerts"] = [{**alert, "labels": {**alert["labels"], "cgroup": f"job-{i}"}, "annotations": long}
                      for i in range(200)]  # fmt: skip
    settings = settings_for(tmp_path, channels_for(url, fake, "webhook"))
    client = await aiohttp_client(create_app(settings))
    assert (await client.post("/alerts", json=hook)).status == 200
    await until(lambda: bool(sends(settings)) and sends(settings)[0][1] in ("sent", "parked"))
    assert [r[1] for r in sends(settings)] == ["sent"]
    (got,) = fake.received["webhook"]
    assert fake.attempts["webhook-413"] == 1 and got["omitted"] == ["alertmanager"]
    assert got["message"]["data"]["alertmanager"] is None and got["message"]["data"]["facts"]["alerts_total"] == 200
    assert got["message"]["title"] and got["text"].startswith(got["message"]["title"])


async def test_unknown_discord_webhook_and_rejected_mail_are_parked(
    aiohttp_client: Client, tmp_path: Path, fake_chat: tuple[FakeChat, str]
) -> None:
    fake, url = fake_chat

    class Refusing(Smtp):
        async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
            return "550 5.1.1 mailbox unavailable"

    controller = Controller(Refusing(), hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        channels = channels_for(url, fake, "discord", "email", smtp_port=controller.port)
        channels[0]["webhook_url"] = f"{url}/api/webhooks/1/deleted"
        settings = settings_for(tmp_path, channels)
        client = await aiohttp_client(create_app(settings))
        await client.post("/alerts", json=payload("resolved"))
        await until(lambda: [r[1] for r in sends(settings)] == ["parked", "parked"])
    finally:
        controller.stop()
    reasons = [r[3] for r in sends(settings)]
    assert reasons[0] == "HTTP 404: Unknown Webhook" and reasons[1] is not None and "550" in reasons[1]


async def test_a_send_failing_past_the_maximum_age_is_parked(
    aiohttp_client: Client, tmp_path: Path, fake_chat: tuple[FakeChat, str]
) -> None:
    fake, url = fake_chat
    fake.fail["telegram"] = ["500"] * 1000
    settings = settings_for(tmp_path, channels_for(url, fake, "telegram"))
    settings = settings.model_copy(update={"delivery": settings.delivery.model_copy(update={"max_age_hours": 0.0003})})
    client = await aiohttp_client(create_app(settings))
    await client.post("/alerts", json=payload("resolved"))
    await until(lambda: bool(sends(settings)) and sends(settings)[0][1] == "parked")
    (row,) = sends(settings)
    assert row[2] >= 2 and row[3] is not None and row[3].startswith("still failing after 0.0003 h: HTTP 500")
    with sqlite3.connect(settings.outbox_path) as db:
        assert db.execute("SELECT state FROM notifications").fetchone()[0] == "done"


def test_backoff_is_jittered_capped_and_respects_retry_after() -> None:
    import random

    from receiver.delivery.deliverer import backoff

    cfg = s.Delivery(retry_base_seconds=5, retry_max_seconds=300)
    rng = random.Random(1)  # noqa: S311 - jitter, not security
    waits = [backoff(3, cfg, None, rng) for _ in range(200)]
    assert 0 <= min(waits) < 5 and 35 < max(waits) <= 40 and len(set(waits)) > 150  # full jitter up to 5 * 2^3
    assert max(backoff(20, cfg, None, rng) for _ in range(200)) <= 300
    assert all(backoff(0, cfg, 30.0, rng) >= 30.0 for _ in range(50))  # never sooner than the server asked
    assert backoff(0, cfg, 600.0, rng) == 600  # beyond the cap when the server asks,
    assert backoff(0, cfg, 10**6, rng) == 3600  # up to an hour: a longer wait reads as a clock step


# --- WeCom, DingTalk, Feishu ---------------------------------------------------------------------------------------


def robot(kind: str) -> Any:
    cfg = {"wecom": s.WeComChannel(type="wecom", webhook_url="http://x"),
           "dingtalk": s.DingTalkChannel(type="dingtalk", webhook_url="http://x"),
           "feishu": s.FeishuChannel(type="feishu", webhook_url="http://x")}[kind]  # fmt: skip
    return {"wecom": robots.WeComChannel, "dingtalk": robots.DingTalkChannel, "feishu": robots.FeishuChannel}[kind](
        cfg, None
    )


def robot_text(kind: str, part: dict[str, Any]) -> str:
    if kind == "feishu":
        post = part["content"]["post"]["zh_cn"]
        return post["title"] + "\n" + "\n".join(p["text"] for para in post["content"] for p in para)
    return str(part["text"]["content"])


@pytest.mark.parametrize(("kind", "limit"), [("wecom", 2048), ("dingtalk", 20000), ("feishu", 20 * 1024)])
def test_robots_split_by_utf8_bytes_keep_every_word_and_cannot_mention(kind: str, limit: int) -> None:
    mentions = '@all @所有人 <at user_id="all">所有人</at> <@U1>'
    parts = robot(kind).render(hostile_message(headline=mentions))
    assert len(parts) > 1 or limit > 4096  # 10,000 characters of x do not fit in one WeCom text
    for part in parts:
        assert len(json.dumps(part, ensure_ascii=False).encode("utf-8")) <= limit
        assert part.get("at", {}).get("isAtAll", False) is False and "mentioned_list" not in part.get("text", {})
    text = "".join(robot_text(kind, p) for p in parts)
    for line in HOSTILE[:3]:
        assert all(word in text for word in line.split())
    assert text.count("x") >= 10_000 and mentions in text  # kept as text: no element or list that notifies anyone
    if kind == "feishu":
        tags = {p["tag"] for part in parts for para in part["content"]["post"]["zh_cn"]["content"] for p in para}
        assert tags == {"text", "a"}


async def test_wecom_dingtalk_and_feishu_get_the_message_signed(
    aiohttp_client: Client, tmp_path: Path, fake_chat: tuple[FakeChat, str]
) -> None:
    fake, url = fake_chat
    names = ("wecom", "dingtalk", "feishu")
    fake.fail.update({"wecom": ["429"], "dingtalk": ["429"], "feishu": ["429"]})  # each rate-limits once
    body = payload("firing")
    body["alerts"][0]["labels"]["cgroup"] = '<at user_id="all">所有人</at> @all'
    settings = settings_for(tmp_path, channels_for(url, fake, *names), processing={"page_first": []},
                            ollama={"enabled": False, "language": "zh"})  # fmt: skip
    client = await aiohttp_client(create_app(settings))
    await client.post("/alerts", json=body)
    await until(lambda: all(fake.received[n] for n in names), 10)
    assert fake.mentions == []
    assert fake.received["wecom"][0]["text"]["content"].startswith(
        "🔴 严重 · vps1 上的 CostwardenCostSpike"
    )  # zh, severity included
    assert "isAtAll" in json.dumps(fake.received["dingtalk"][0])
    assert fake.received["feishu"][0]["msg_type"] == "post"
    await until(lambda: [state for _, state, _, _ in sends(settings)] == ["sent"] * 3)
    assert sorted(attempts for _, _, attempts, _ in sends(settings)) == [2, 2, 2]  # the rate limit was retried


@pytest.mark.parametrize(
    ("kind", "broken", "reason"),
    [
        ("wecom", {"webhook_url": "/cgi-bin/webhook/send?key=wrong"}, "WeCom errcode 93000: invalid webhook url"),
        ("dingtalk", {"secret": "SECwrong"}, "DingTalk errcode 310000: sign not match"),
        ("feishu", {"secret": "wrong"}, "Feishu code 19021: sign match fail"),
    ],
)
async def test_robot_keys_and_signatures_that_fail_are_parked(
    aiohttp_client: Client, tmp_path: Path, fake_chat: tuple[FakeChat, str], kind: str, broken: dict[str, str],
    reason: str,
) -> None:  # fmt: skip
    fake, url = fake_chat
    (channel,) = channels_for(url, fake, kind)
    channel = {**channel, **{k: (url + v if k == "webhook_url" else v) for k, v in broken.items()}}
    settings = settings_for(tmp_path, [channel], processing={"page_first": []})
    client = await aiohttp_client(create_app(settings))
    await client.post("/alerts", json=payload("firing"))
    await until(lambda: [state for _, state, _, _ in sends(settings)] == ["parked"])
    ((_, _, attempts, error),) = sends(settings)
    assert attempts == 1 and error is not None and error.startswith(reason) and "wrong" not in error
