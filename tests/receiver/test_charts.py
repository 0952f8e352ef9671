"""The chart in every alert about money and every digest: what the picture says (in a font that has the language's
words, or numbers only), read from the real Prometheus, sent after its message on every channel that can show one,
against local fakes enforcing each service's limits — and, when a picture is refused, its words instead."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import sqlite3
import struct
import tempfile
import time
import zlib
from email.message import Message as Email
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiosmtpd.controller import Controller
from pydantic import ValidationError

from receiver import settings as s
from receiver.app import create_app
from receiver.chart import Charter, Picture, draw, plots
from receiver.delivery.channels import RetryLater, chat, local, mail, robots, webhook
from receiver.facts.model import AlertFact, Facts
from receiver.facts.prometheus import Prometheus
from receiver.intake import Webhook, parse_webhook
from receiver.message import catalogue
from receiver.message.render import Message
from receiver.metrics import Metrics
from tests.receiver.conftest import dead_url, until
from tests.receiver.test_channels import Client, Smtp, channels_for, fake_chat, payload, settings_for
from tests.support.fakes import serve_in_thread
from tests.support.fakes.chat import FakeChat, png_size
from tests.support.fakes.ollama import FakeOllama
from tests.support.history import NOW, USUAL_LOW, USUAL_PEAK
from tests.support.net import free_port

__all__ = ["fake_chat"]  # the fixture, shared with test_channels

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
NUMBERS_ONLY = re.compile(r"[0-9 :.,+\-−]*(?:(?:[A-Z]{3})?/[hd])?")
"""What a picture may say without a font for its language: numbers, times, a currency code and its unit."""


def blank_png(width: int, height: int) -> bytes:
    """A real (white) PNG of any size, for the limits: IHDR, one zlib-compressed IDAT, IEND."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\xff" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return PNG_MAGIC + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def facts(resource: str = "network_egress", money: float | None = 0.96) -> Facts:
    alert = AlertFact(name="CostwardenCostSpike", severity="critical", status="firing", instance="vps1",
                      cgroup="miner", resource=resource, summary=None, description=None, started="")  # fmt: skip
    return Facts(status="firing", alerts=[alert], alerts_total=1, currency="EUR", money_at_stake_per_day=money)


# --- what the picture says ------------------------------------------------------------------------------------------


def test_an_alert_chart_shows_the_cost_against_the_usual_start_and_money() -> None:
    data = plots.sample(time.time())
    plot = plots.alert_plot(data, facts(), catalogue.of("en").chart, drawn=True)
    png = draw.png(plot, draw.font_for("en"))
    assert png.startswith(PNG_MAGIC) and png_size(png) == (800, 400)
    assert {"cost per hour", "expected", "usual peak", "EUR per hour"} <= set(plot.texts)
    assert "at stake: about 0.96 EUR per day" in plot.texts
    began = time.strftime("%H:%M", time.gmtime(data.began))
    assert f"started {began}" in plot.texts


def test_a_flat_priced_resource_says_capacity_not_money() -> None:
    plot = plots.alert_plot(plots.sample(time.time()), facts("cpu"), catalogue.of("en").chart, drawn=True)
    draw.png(plot, "DejaVu Sans")
    assert "plan capacity beyond usual: worth about 0.96 EUR per day" in plot.texts
    assert not any("at stake" in t for t in plot.texts)


def test_without_a_font_for_the_language_the_picture_holds_numbers_times_and_units_only() -> None:
    data = plots.sample(time.time())
    plot = plots.alert_plot(data, facts(), catalogue.of("zh").chart, drawn=False)
    draw.png(plot, None)
    assert plot.texts, "the picture says something"
    for text in plot.texts:
        assert NUMBERS_ONLY.fullmatch(text), f"a word in a picture without a font for it: {text!r}"
    assert "+0.96 EUR/d" in plot.texts and "EUR/h" in plot.texts
    assert "0.05" in plot.texts  # each line says its last value where a legend could not
    assert time.strftime("%H:%M", time.gmtime(data.began)) in plot.texts


def test_chinese_words_are_drawn_in_an_installed_cjk_font() -> None:
    font = draw.font_for("zh")
    assert font is not None and draw.preference(font) < len(draw.CJK_FAMILIES)  # make test-tools installs one
    plot = plots.alert_plot(plots.sample(time.time()), facts(), catalogue.of("zh").chart, drawn=True)
    assert draw.png(plot, font).startswith(PNG_MAGIC)
    assert {"每小时费用", "预期", "平常峰值", "EUR / 小时", "涉及金额：约每天 0.96 EUR"} <= set(plot.texts)


# --- read from Prometheus, bounded ----------------------------------------------------------------------------------


async def charter(prometheus_url: str, **cfg: Any) -> tuple[Charter, Metrics, aiohttp.ClientSession]:
    session = aiohttp.ClientSession()
    metrics = Metrics()
    prom = Prometheus(session, s.Prometheus(url=prometheus_url))
    return Charter(s.Charts(**cfg), prom, metrics, "en", Path(tempfile.gettempdir())), metrics, session


def message_for(hook: Webhook) -> Message:
    return Message(id=3, group_key=hook.groupKey, status=hook.status, severity="critical", kind="page",
                   title="CRITICAL · CostwardenCostSpike on vps1", headline="", sections=(), footer="", links=(),
                   source="fallback")  # fmt: skip


def count(metrics: Metrics, result: str) -> float:
    return metrics.registry.get_sample_value("costwarden_receiver_charts_total", {"result": result}) or 0.0


async def test_an_alert_chart_is_read_from_prometheus(prometheus_url: str) -> None:
    making, metrics, session = await charter(prometheus_url)
    hook = parse_webhook(json.dumps(payload("firing")))
    async with session:
        picture = await making.alert(message_for(hook), hook, facts("cpu"))
    assert picture is not None and picture.png.startswith(PNG_MAGIC)
    assert picture.caption.startswith("Cost per hour of vps1/miner/cpu: ")
    assert count(metrics, "drawn") == 1


async def test_a_drop_is_drawn_against_the_usual_low_and_a_spike_against_the_usual_peak(prometheus_url: str) -> None:
    """A drop pages for a fall below the usual low; drawn against the usual peak, its chart showed a line far above the
    cost that said nothing of why it paged."""
    words = catalogue.of("en").chart
    async with aiohttp.ClientSession() as session:
        prom = Prometheus(session, s.Prometheus(url=prometheus_url))
        for name, shown, hidden, level in (
            ("CostwardenCostDrop", "usual low", "usual peak", USUAL_LOW),
            ("CostwardenCostSpike", "usual peak", "usual low", USUAL_PEAK),
        ):
            hook = payload("firing")
            hook["commonLabels"] = {**hook["commonLabels"], "alertname": name}
            hook["alerts"][0]["labels"] = {**hook["alerts"][0]["labels"], "alertname": name}
            data = await plots.alert_data(parse_webhook(json.dumps(hook)), prom, NOW)
            assert data is not None and data.usual is not None
            assert set(data.usual[1]) == {level}
            plot = plots.alert_plot(data, facts("cpu"), words, drawn=True)
            draw.png(plot, draw.font_for("en"))
            assert shown in plot.texts and hidden not in plot.texts, name


async def test_no_chart_when_prometheus_is_down_too_slow_or_the_alert_is_not_about_money(
    prometheus_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    hook = parse_webhook(json.dumps(payload("firing")))
    down, metrics, session = await charter(dead_url())
    async with session:
        assert await down.alert(message_for(hook), hook, facts()) is None
    assert count(metrics, "failed") == 1
    slow, metrics, session = await charter(prometheus_url, timeout_seconds=0.001)
    async with session:
        assert await slow.alert(message_for(hook), hook, facts()) is None
    assert count(metrics, "timeout") == 1
    labels = {"alertname": "CostwardenExporterDown", "instance": "vps1"}
    alert = {**payload("firing")["alerts"][0], "labels": labels}
    watch = parse_webhook(json.dumps(payload("firing", commonLabels=labels, alerts=[alert])))
    off, metrics, session = await charter(prometheus_url)
    async with session:
        assert await off.alert(message_for(watch), watch, facts()) is None
    assert sum(count(metrics, r) for r in ("drawn", "no_data", "failed", "timeout")) == 0  # not even asked
    # A series Prometheus has nothing of: counted, and (found in an operator's trial) said in the log, as promised.
    unknown = {**payload("firing")["alerts"][0]["labels"], "cgroup": "never-seen"}
    alert = {**payload("firing")["alerts"][0], "labels": unknown}
    empty = parse_webhook(json.dumps(payload("firing", commonLabels=unknown, groupLabels=unknown, alerts=[alert])))
    none, metrics, session = await charter(prometheus_url)
    caplog.set_level("INFO", "receiver.chart")
    async with session:
        assert await none.alert(message_for(empty), empty, facts("cpu")) is None
    assert count(metrics, "no_data") == 1
    assert "no chart for" in caplog.text and "has no data for it" in caplog.text


# --- after its message, on every channel ----------------------------------------------------------------------------


async def test_the_picture_follows_the_page_and_comes_before_the_analysis(
    aiohttp_client: Client, tmp_path: Path, fake_chat: tuple[FakeChat, str], ollama: tuple[FakeOllama, str],
    prometheus_url: str,
) -> None:  # fmt: skip
    fake, url = fake_chat
    model, model_url = ollama
    model.modes = ["slow"]  # the model takes 2 s: the picture must not wait for it, nor the page for the picture
    settings = settings_for(tmp_path, channels_for(url, fake, "telegram"), ollama={"host": model_url},
                            prometheus={"url": prometheus_url})  # fmt: skip
    client = await aiohttp_client(create_app(settings))
    await client.post("/alerts", json=payload("firing"))
    await until(lambda: len(fake.received["telegram"]) == 2 and bool(fake.received["telegram_photo"]))
    (page, follow_up), (photo,) = fake.received["telegram"], fake.received["telegram_photo"]
    assert page["message_id"] < photo["message_id"] < follow_up["message_id"]  # facts, picture, analysis
    assert photo["reply_parameters"]["message_id"] == page["message_id"]
    assert photo["photo"].startswith(PNG_MAGIC) and photo["size"] == (800, 400)
    assert photo["caption"].startswith("Cost per hour of vps1/miner/cpu: ")
    assert photo["chat_id"] == "-100123"


async def test_every_channel_that_can_show_a_picture_gets_the_chart_after_the_message(
    aiohttp_client: Client, tmp_path: Path, fake_chat: tuple[FakeChat, str], prometheus_url: str
) -> None:
    fake, url = fake_chat
    smtp = Smtp()
    controller = Controller(smtp, hostname="127.0.0.1", port=free_port())
    controller.start()
    names = ("telegram", "slack", "discord", "webhook", "email", "wecom", "dingtalk", "feishu")
    channels = channels_for(url, fake, *names, smtp_port=controller.port)
    channels[1] |= {"bot_token": fake.slack_bot_token, "channel_id": "C0CHARTS", "api_url": f"{url}/slack-api"}
    channels.append({"type": "file", "path": str(tmp_path / "sent.jsonl")})
    try:
        settings = settings_for(tmp_path, channels, processing={"page_first": []}, prometheus={"url": prometheus_url})
        client = await aiohttp_client(create_app(settings))
        await client.post("/alerts", json=payload("firing"))
        await until(lambda: bool(fake.received["telegram_photo"] and fake.received["slack_files"]
                                 and len(fake.received["discord"]) == 2 and len(fake.received["webhook"]) == 2
                                 and len(smtp.mails) == 2 and len(fake.received["wecom"]) == 3), 30)  # fmt: skip
    finally:
        controller.stop()
    (message,), (photo,) = fake.received["telegram"], fake.received["telegram_photo"]
    assert photo["reply_parameters"]["message_id"] == message["message_id"]
    (upload,) = fake.received["slack_files"]
    assert upload["channel_id"] == "C0CHARTS" and upload["data"].startswith(PNG_MAGIC)
    assert upload["initial_comment"].startswith("Cost per hour of vps1/miner/cpu")
    text, picture = fake.received["discord"]
    assert "embeds" in text and picture["files"]["chart.png"].startswith(PNG_MAGIC)
    assert picture["embeds"][0]["image"]["url"] == "attachment://chart.png"
    hook = fake.received["webhook"][1]["chart"]  # signed: the fake checked the HMAC
    assert base64.b64decode(hook["png_base64"]).startswith(PNG_MAGIC) and hook["media_type"] == "image/png"
    assert hook["notification"] == fake.received["webhook"][0]["message"]["id"]
    first, second = smtp.mails
    assert "chart" not in first["Subject"] and second["Subject"].startswith("📈 ")
    inline(second)
    _, caption, image = fake.received["wecom"]
    assert caption["text"]["content"].startswith("Cost per hour of vps1/miner/cpu")
    assert image["image"].startswith(PNG_MAGIC)
    assert len(fake.received["dingtalk"]) == len(fake.received["feishu"]) == 1  # custom robots: no uploads
    lines = [json.loads(line) for line in (tmp_path / "sent.jsonl").read_text().splitlines()]
    assert [line["kind"] for line in lines] == ["message", "chart"]
    assert Path(lines[1]["file"]).read_bytes().startswith(PNG_MAGIC)


def inline(mail_: Email) -> None:
    """An HTML email whose picture is a related part it refers to by Content-ID."""
    html = next(p for p in mail_.walk() if p.get_content_type() == "text/html").get_payload(decode=True).decode()
    (image,) = [p for p in mail_.walk() if p.get_content_type() == "image/png"]
    assert f'src="cid:{image["Content-ID"].strip("<>")}"' in html
    assert image.get_payload(decode=True).startswith(PNG_MAGIC)
    assert any(p.get_content_type() == "multipart/related" for p in mail_.walk())


def slack_bot(
    cfg: dict[str, Any],
    fake: FakeChat,
    url: str,
    session: aiohttp.ClientSession,
    channel_id: str = "C0CHARTS",
    token: str = "",
) -> chat.SlackChannel:
    """A Slack channel with a bot token for file uploads, against the fake's Web API."""
    return chat.SlackChannel(s.SlackChannel(**cfg, bot_token=token or fake.slack_bot_token, channel_id=channel_id,
                                            api_url=f"{url}/slack-api"), session)  # fmt: skip


def picture(png: bytes) -> Picture:
    return Picture(7, "g", png, "Cost per hour of vps1/miner/cpu: …", "CRITICAL · CostwardenCostSpike on vps1",
                   catalogue.of("en").chart["failed"], (("Dashboard", "https://grafana.example.com/d/x"),))  # fmt: skip


async def test_a_refused_picture_becomes_its_words_on_every_channel(fake_chat: tuple[FakeChat, str]) -> None:
    fake, url = fake_chat
    cfgs = {c["type"]: c for c in channels_for(url, fake, "telegram", "slack", "discord", "wecom")}
    async with aiohttp.ClientSession() as session:
        # Telegram: a ratio above 20 is PHOTO_INVALID_DIMENSIONS.
        tg = chat.TelegramChannel(s.TelegramChannel(**cfgs["telegram"]), session)
        (body,) = tg.picture(picture(blank_png(100, 2500)))
        await tg.send(body, None)
        (said,) = fake.received["telegram"]
        assert said["text"].startswith("Cost per hour of vps1/miner/cpu: …\nThe chart could not be attached (HTTP 400")
        assert (
            "PHOTO_INVALID_DIMENSIONS" in said["text"] and "Dashboard: https://grafana.example.com/d/x" in said["text"]
        )
        # Discord: the upload refused as too large (413, code 40005).
        dc = chat.DiscordChannel(s.DiscordChannel(**cfgs["discord"]), session)
        fake.fail["discord_file"] = ["413"]
        (body,) = dc.picture(picture(blank_png(800, 400)))
        await dc.send(body, None)
        (said,) = fake.received["discord"]
        assert "Request entity too large" in said["content"] and not said["files"]
        # Slack: the bot is not in the channel: the words through the incoming webhook.
        sl = slack_bot(cfgs["slack"], fake, url, session, channel_id="C0OTHER")
        (body,) = sl.picture(picture(blank_png(800, 400)))
        await sl.send(body, None)
        (said,) = fake.received["slack"]
        assert "files.completeUploadExternal: not_in_channel" in said["text"] and not fake.received["slack_files"]
        # WeCom: above an image message's 2 MB.
        wc = robots.WeComChannel(s.WeComChannel(**cfgs["wecom"]), session)
        caption, body = wc.picture(picture(blank_png(800, 400) + bytes(2 * 1024 * 1024)))
        await wc.send(caption, None)
        await wc.send(body, None)
        said = fake.received["wecom"][1]
        assert said["msgtype"] == "text" and "above an image message's 2097152" in said["text"]["content"]


async def test_slack_uploads_wait_out_a_rate_limit_and_refuse_a_wrong_token(fake_chat: tuple[FakeChat, str]) -> None:
    fake, url = fake_chat
    (cfg,) = channels_for(url, fake, "slack")
    async with aiohttp.ClientSession() as session:
        sl = slack_bot(cfg, fake, url, session)
        (body,) = sl.picture(picture(blank_png(800, 400)))
        fake.fail["slack_api"] = ["429"]
        with pytest.raises(RetryLater) as waited:
            await sl.send(body, None)
        assert waited.value.after == 1.0
        await sl.send(body, None)
        assert len(fake.received["slack_files"]) == 1
        wrong = slack_bot(cfg, fake, url, session, token="xoxb-wrong")
        await wrong.send(body, None)  # invalid_auth is for a person to fix: the words go through the webhook
        assert "files.getUploadURLExternal: invalid_auth" in fake.received["slack"][0]["text"]


async def test_an_email_too_big_for_the_server_is_sent_as_words(tmp_path: Path) -> None:
    smtp = Smtp()
    controller = Controller(smtp, hostname="127.0.0.1", port=free_port(), data_size_limit=20_000)
    controller.start()
    try:
        channel = mail.EmailChannel(
            s.EmailChannel(
                type="email",
                host="127.0.0.1",
                port=controller.port,
                security="none",
                sender="cw@vps1.example",
                to=["o@example.com"],
            )
        )
        (body,) = channel.picture(picture(blank_png(800, 400) + bytes(30_000)))
        await channel.send(body, None)
    finally:
        controller.stop()
    (said,) = smtp.mails
    assert not any(p.get_content_type() == "image/png" for p in said.walk())
    assert "The chart could not be attached (SMTP 552" in said.get_body(("plain",)).get_content()


def test_send_test_sends_a_sample_chart_where_a_channel_shows_pictures(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from receiver.cli import main

    fake = FakeChat()
    with serve_in_thread(fake.app()) as url:
        channels = channels_for(url, fake, "telegram", "slack", "dingtalk")
        config = tmp_path / "receiver.yml"
        config.write_text(json.dumps({"channels": channels, "data_dir": str(tmp_path / "data")}))
        assert main(["send-test", "--config", str(config)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in out] == ["telegram", "slack", "dingtalk", "telegram chart"]
    (photo,) = fake.received["telegram_photo"]
    assert photo["caption"].startswith("A sample chart") and photo["photo"].startswith(PNG_MAGIC)


def test_channels_that_cannot_show_a_picture_send_no_part_of_it() -> None:
    p = picture(blank_png(8, 4))
    assert chat.SlackChannel(s.SlackChannel(type="slack", webhook_url="https://h/x"), None).picture(p) == []  # type: ignore[arg-type]
    robot = {"webhook_url": "https://h/x"}
    assert robots.DingTalkChannel(s.DingTalkChannel(type="dingtalk", **robot), None).picture(p) == []  # type: ignore[arg-type]
    assert robots.FeishuChannel(s.FeishuChannel(type="feishu", **robot), None).picture(p) == []  # type: ignore[arg-type]
    assert local.ConsoleChannel("console").picture(p) == []
    hook = webhook.WebhookChannel(s.WebhookChannel(type="webhook", url="https://h/x"), None)  # type: ignore[arg-type]
    assert hook.picture(p)[0]["chart"]["caption"] == p.caption


def test_a_slack_bot_token_needs_the_channel_to_upload_to() -> None:
    with pytest.raises(ValidationError, match="bot_token is set but channel_id is not"):
        s.SlackChannel(type="slack", webhook_url="https://hooks.slack.com/x", bot_token="xoxb-1")


def test_a_telegram_caption_is_cut_to_its_limit() -> None:
    tg = chat.TelegramChannel(s.TelegramChannel(type="telegram", bot_token="t", chat_id=1), None)  # type: ignore[arg-type]
    long = Picture(1, "g", b"", "费" * 3000, "t", "{reason}")
    (body,) = tg.picture(long)
    assert 900 < len(body["caption"].encode("utf-16-le")) // 2 <= 1024


async def test_a_chart_waits_while_a_page_is_in_the_making() -> None:
    from receiver.pipeline import CALM_SECONDS, Calm

    calm = Calm()
    with calm.making():
        waiting = asyncio.create_task(calm.wait())
        await asyncio.sleep(0.2)
        assert not waiting.done()  # a page is being made: the chart waits
    made = time.monotonic()
    await waiting
    assert time.monotonic() - made >= CALM_SECONDS - 0.06  # and a moment after, in case the next page follows


def test_a_simplified_chinese_face_is_preferred() -> None:
    ranked = sorted(["DejaVu Sans", "Noto Sans CJK JP", "WenQuanYi Micro Hei", "Noto Sans CJK SC"], key=draw.preference)
    assert ranked == ["Noto Sans CJK SC", "WenQuanYi Micro Hei", "Noto Sans CJK JP", "DejaVu Sans"]


async def test_a_hostile_label_in_a_caption_stays_text_on_slack(fake_chat: tuple[FakeChat, str]) -> None:
    fake, url = fake_chat
    (cfg,) = channels_for(url, fake, "slack")
    async with aiohttp.ClientSession() as session:
        sl = slack_bot(cfg, fake, url, session)
        hostile = Picture(7, "g", blank_png(800, 400), "Cost per hour of vps1/<!channel>/<https://evil.example|Grafana>",
                          "t", "{reason}")  # fmt: skip
        (body,) = sl.picture(hostile)
        await sl.send(body, None)
    (upload,) = fake.received["slack_files"]
    assert "<!channel>" not in upload["initial_comment"] and "&lt;!channel&gt;" in upload["initial_comment"]
    assert "<https://evil.example|" not in upload["initial_comment"]


async def test_a_chart_that_keeps_failing_is_set_aside_and_the_messages_behind_it_go_on(
    aiohttp_client: Client, tmp_path: Path, fake_chat: tuple[FakeChat, str], prometheus_url: str
) -> None:
    from receiver.delivery.deliverer import CHART_ATTEMPTS

    fake, url = fake_chat
    fake.fail["telegram_photo"] = ["500"] * 50  # sendPhoto down, sendMessage fine
    settings = settings_for(tmp_path, channels_for(url, fake, "telegram"), processing={"page_first": []},
                            prometheus={"url": prometheus_url})  # fmt: skip
    client = await aiohttp_client(create_app(settings))
    await client.post("/alerts", json=payload("firing"))
    await until(lambda: fake.attempts["telegram_photo"] >= 1, 30)
    await client.post("/alerts", json=payload("resolved"))
    await until(lambda: len(fake.received["telegram"]) == 2, 30)  # the resolution, not held by the picture
    with sqlite3.connect(settings.outbox_path) as db:
        first = db.execute("SELECT attempts, state, last_error FROM sends WHERE kind = 'chart' ORDER BY id").fetchone()
    assert first[:2] == (CHART_ATTEMPTS, "parked")
    assert first[2].startswith(f"a chart, set aside after {CHART_ATTEMPTS} attempts: HTTP 500")


async def test_a_picture_never_follows_the_next_message_of_its_group(
    aiohttp_client: Client, tmp_path: Path, fake_chat: tuple[FakeChat, str], prometheus_url: str
) -> None:
    """The resolution comes before the firing's chart is drawn: that chart is dropped, never sent after it (the
    resolution's own chart, replying to it, may follow)."""
    fake, url = fake_chat
    settings = settings_for(tmp_path, channels_for(url, fake, "telegram"), processing={"page_first": []},
                            prometheus={"url": prometheus_url})  # fmt: skip
    client = await aiohttp_client(create_app(settings))
    await client.post("/alerts", json=payload("firing"))
    await client.post("/alerts", json=payload("resolved"))  # within the calm the chart waits for
    await until(lambda: len(fake.received["telegram"]) == 2, 30)
    firing, resolved = fake.received["telegram"]
    await asyncio.sleep(1.5)  # long enough for a chart to be drawn and sent, were it still coming
    replies = [photo["reply_parameters"]["message_id"] for photo in fake.received["telegram_photo"]]
    assert firing["message_id"] not in replies and replies == [resolved["message_id"]]
    assert "RESOLVED" in resolved["text"] and "RESOLVED" not in firing["text"]
