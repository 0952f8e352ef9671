"""Local servers speaking the chat services' real webhook APIs, with their real limits and failures:

- Telegram Bot API `POST /bot<token>/sendMessage`: 401 for a wrong token, 400 "message is too long" above 4096
  UTF-16 units, 400 "can't parse entities" for HTML it would reject, 429 with `parameters.retry_after`.
- Slack incoming webhook `POST /slack/<path>`: `ok` on success, 400 `invalid_blocks` beyond Block Kit limits,
  403 `invalid_token`, 429 with a Retry-After header.
- Discord webhook `POST /api/webhooks/<id>/<token>?wait=true`: the message object, 400 Invalid Form Body beyond embed
  limits, 401, 429 with JSON `retry_after` (seconds, fractional).
- A generic receiving end `POST /hook` that checks the HMAC signature.

`fail[service]` is a list of failures to play before succeeding: "429", "500", "slow" (3 s), "html" (Telegram refuses
the markup). Everything accepted is in `received[service]`, in arrival order.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import re
from collections import defaultdict
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

from aiohttp import web

TELEGRAM_TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre", "span",
                 "tg-spoiler", "blockquote"}  # fmt: skip
ENTITY = re.compile(r"&(?!(?:lt|gt|amp|quot);|#\d+;|#x[0-9a-fA-F]+;)")


class _TelegramHtml(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.stack: list[str] = []
        self.error = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in TELEGRAM_TAGS:
            self.error = self.error or f'unsupported start tag "{tag}"'
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack.pop() != tag:
            self.error = self.error or f'can\'t find end tag corresponding to start tag "{tag}"'


def telegram_html_problem(text: str) -> str:
    """Why Telegram would refuse this HTML, or "" if it would parse it."""
    if ENTITY.search(text):
        return "unsupported entity"
    parser = _TelegramHtml()
    parser.feed(text)
    parser.close()
    if parser.stack:
        return parser.error or f'can\'t find end tag for "{parser.stack[-1]}"'
    return parser.error


def utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


@dataclass
class FakeChat:
    telegram_token: str = "123456:TEST-token"
    slack_path: str = "T000/B000/XXXX"
    discord_path: str = "1234/discord-token"
    hook_secret: str = "hook-secret"
    fail: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    received: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    attempts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    ids: Any = field(default_factory=lambda: itertools.count(100))

    async def _failure(self, service: str) -> str | None:
        self.attempts[service] += 1
        if not self.fail[service]:
            return None
        failure = self.fail[service].pop(0)
        if failure == "slow":
            await asyncio.sleep(3)
            return None
        return failure

    async def telegram(self, request: web.Request) -> web.Response:
        def error(status: int, description: str, **extra: Any) -> web.Response:
            return web.json_response({"ok": False, "error_code": status, "description": description, **extra},
                                     status=status)  # fmt: skip

        if request.match_info["token"] != self.telegram_token:
            return error(401, "Unauthorized")
        body = await request.json()
        failure = await self._failure("telegram")
        if failure == "429":
            return error(429, "Too Many Requests: retry after 1", parameters={"retry_after": 1})
        if failure == "500":
            return error(500, "Internal Server Error")
        text = body.get("text", "")
        if not text.strip():
            return error(400, "Bad Request: message text is empty")
        if utf16(text) > 4096:
            return error(400, "Bad Request: message is too long")
        if body.get("parse_mode") == "HTML" and (failure == "html" or telegram_html_problem(text)):
            problem = telegram_html_problem(text) or "unsupported start tag"
            return error(400, f"Bad Request: can't parse entities: {problem} at byte offset 0")
        message_id = next(self.ids)
        self.received["telegram"].append({**body, "message_id": message_id})
        return web.json_response({"ok": True, "result": {"message_id": message_id, "chat": {"id": body["chat_id"]},
                                                         "date": 1795000000, "text": text}})  # fmt: skip

    async def slack(self, request: web.Request) -> web.Response:
        if request.match_info["path"] != self.slack_path:
            return web.Response(status=403, text="invalid_token")
        body = await request.json()
        failure = await self._failure("slack")
        if failure == "429":
            return web.Response(status=429, text="rate_limited", headers={"Retry-After": "1"})
        if failure == "500":
            return web.Response(status=500, text="internal_error")
        blocks = body.get("blocks", [])
        ok = bool(body.get("text")) and len(blocks) <= 50
        for block in blocks:
            if block["type"] == "header":
                ok &= len(block["text"]["text"]) <= 150 and block["text"]["type"] == "plain_text"
            elif block["type"] == "section":
                ok &= len(block["text"]["text"]) <= 3000
            elif block["type"] == "context":
                ok &= all(len(e["text"]) <= 3000 for e in block["elements"])
        if not ok:
            return web.Response(status=400, text="invalid_blocks")
        self.received["slack"].append(body)
        return web.Response(text="ok")

    async def discord(self, request: web.Request) -> web.Response:
        if request.match_info["path"] != self.discord_path:
            return web.json_response({"message": "Unknown Webhook", "code": 10015}, status=404)
        body = await request.json()
        failure = await self._failure("discord")
        if failure == "429":
            return web.json_response({"message": "You are being rate limited.", "retry_after": 0.7, "global": False},
                                     status=429, headers={"Retry-After": "1"})  # fmt: skip
        if failure == "500":
            return web.json_response({"message": "500: Internal Server Error", "code": 0}, status=500)
        embeds = body.get("embeds", [])
        total = sum(len(e.get("title", "")) + len(e.get("description", "")) + len(e.get("footer", {}).get("text", ""))
                    for e in embeds)  # fmt: skip
        ok = (
            len(embeds) <= 10
            and total <= 6000
            and all(len(e.get("title", "")) <= 256 and len(e.get("description", "")) <= 4096 for e in embeds)
        )
        if not ok:
            return web.json_response({"message": "Invalid Form Body", "code": 50035}, status=400)
        message_id = str(next(self.ids))
        self.received["discord"].append({**body, "wait": request.query.get("wait")})
        return web.json_response({"id": message_id, "channel_id": "1", "embeds": embeds})

    async def hook(self, request: web.Request) -> web.Response:
        raw = await request.read()
        expected = "sha256=" + hmac.new(self.hook_secret.encode(), raw, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(request.headers.get("X-Costwarden-Signature", ""), expected):
            return web.Response(status=401, text="bad signature")
        failure = await self._failure("webhook")
        if failure == "500":
            return web.Response(status=503, text="try later", headers={"Retry-After": "1"})
        self.received["webhook"].append(json.loads(raw))
        return web.Response(status=204)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/bot{token}/sendMessage", self.telegram)
        app.router.add_post("/slack/{path:.+}", self.slack)
        app.router.add_post("/api/webhooks/{path:.+}", self.discord)
        app.router.add_post("/hook", self.hook)
        return app
