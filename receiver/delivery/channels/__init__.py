"""Where messages go. One interface: `render` a message into the request bodies of its parts (pure, stored once in
the outbox, so a retry sends the same words), and `send` one part (one request to the service).

`send` raises `RetryLater` for what time can fix (rate limits, 5xx, timeouts, connection refused), with the
server's own retry-after when it gave one, and `Permanent` for what it cannot (bad token, rejected payload): the
delivery engine retries the first with back-off and parks the second with its reason.
"""

from __future__ import annotations

import base64
from typing import Any, Protocol

import aiohttp

from receiver import settings as s
from receiver.chart import Picture
from receiver.message.render import Message

Body = dict[str, Any]

SEVERITY_MARK = {"critical": "🔴", "warning": "🟠", "info": "🔵", "resolved": "✅"}


def mark(message: Message) -> str:
    return SEVERITY_MARK.get("resolved" if message.status == "resolved" else message.severity, "⚪")


class RetryLater(Exception):
    def __init__(self, reason: str, after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.after = after


class Permanent(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Channel(Protocol):
    name: str

    def render(self, message: Message) -> list[Body]: ...

    def picture(self, picture: Picture) -> list[Body]:
        """The chart's parts, or none where the channel cannot show a picture (its message's links remain)."""
        ...

    async def send(self, body: Body, reply_to: str | None) -> str | None:
        """Deliver one part; return what a follow-up may refer to (a message id), if anything."""
        ...


def picture_body(picture: Picture) -> Body:
    """What every channel stores of a chart: the PNG (base64) and the words to send beside it or instead of it."""
    return {
        "png": base64.b64encode(picture.png).decode(), "caption": picture.caption, "title": picture.title,
        "failed": picture.failed, "links": [list(link) for link in picture.links],
    }  # fmt: skip


def png_of(body: Body) -> bytes:
    return base64.b64decode(body["png"])


def instead(body: Body, reason: str) -> str:
    """What a channel sends when its picture cannot be: the caption, why not, and the links to look at instead."""
    lines = [str(body["caption"]), str(body["failed"]).replace("{reason}", reason)]
    return "\n".join(lines + [f"{label}: {url}" for label, url in body["links"]])


def build(configured: list[s.Channel], session: aiohttp.ClientSession, buttons: bool = False) -> dict[str, Channel]:
    """`buttons`: Telegram messages carry the alert's actions as inline buttons (receiver/buttons.py answers them)."""
    from receiver.delivery.channels import chat, local, mail, robots, webhook

    out: dict[str, Channel] = {}
    for c in configured:
        match c:
            case s.ConsoleChannel():
                out[c.name] = local.ConsoleChannel(c.name)
            case s.FileChannel():
                out[c.name] = local.FileChannel(c.name, c.path)
            case s.TelegramChannel():
                out[c.name] = chat.TelegramChannel(c, session, buttons)
            case s.SlackChannel():
                out[c.name] = chat.SlackChannel(c, session)
            case s.DiscordChannel():
                out[c.name] = chat.DiscordChannel(c, session)
            case s.WebhookChannel():
                out[c.name] = webhook.WebhookChannel(c, session)
            case s.EmailChannel():
                out[c.name] = mail.EmailChannel(c)
            case s.WeComChannel():
                out[c.name] = robots.WeComChannel(c, session)
            case s.DingTalkChannel():
                out[c.name] = robots.DingTalkChannel(c, session)
            case s.FeishuChannel():
                out[c.name] = robots.FeishuChannel(c, session)
    return out
