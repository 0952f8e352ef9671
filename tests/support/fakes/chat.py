"""Local servers speaking the chat services' real webhook APIs, with their real limits and failures:

- Telegram Bot API `POST /bot<token>/sendMessage`: 401 for a wrong token, 400 "message is too long" above 4096
  UTF-16 units, 400 "can't parse entities" for HTML it would reject, 429 with `parameters.retry_after`.
- Slack incoming webhook `POST /slack/<path>`: `ok` on success, 400 `invalid_blocks` beyond Block Kit limits,
  403 `invalid_token`, 429 with a Retry-After header.
- Discord webhook `POST /api/webhooks/<id>/<token>?wait=true`: the message object, 400 Invalid Form Body beyond embed
  limits, 401, 429 with JSON `retry_after` (seconds, fractional).
- A generic receiving end `POST /hook` that checks the HMAC signature.
- WeCom group robot `POST /cgi-bin/webhook/send?key=…`: HTTP 200 with `errcode` 93000 for a wrong key, 40058 above
  2,048 bytes of text, 45009 when rate-limited; `@all` in a mention list is recorded as a mention.
- DingTalk custom robot `POST /robot/send?access_token=…&timestamp=…&sign=…`: 300001 for a wrong token, 310000
  "sign not match" / "invalid timestamp" (more than an hour off), 460101 above 20,000 bytes, 130101 when rate-limited.
- Feishu custom bot `POST /open-apis/bot/v2/hook/<token>`: 19001 wrong token, 19021 bad signature or timestamp, 9499
  "Bad Request" above 20 KB, HTTP 400 9499 "too many request" when rate-limited; `<at` in text is recorded.

Pictures (charts), each with the service's documented limits:
- Telegram `sendPhoto` (multipart/form-data): a photo of at most 10 MB whose width + height is at most 10,000 and
  ratio at most 20 (else 400 PHOTO_INVALID_DIMENSIONS), a caption of at most 1,024 UTF-16 units (400 "message caption
  is too long"), `reply_parameters` as a JSON string field.
- Discord webhook with `payload_json` and `files[n]` parts: 10 MiB of files per request (413, code 40005).
- Slack Web API `files.getUploadURLExternal` → POST the bytes to `upload_url` → `files.completeUploadExternal`, with
  a Bearer bot token (`invalid_auth`), a channel the bot is in (`not_in_channel`, `channel_not_found`), HTTP 429
  `ratelimited` with Retry-After.
- WeCom `image` message: base64 and the md5 of the raw bytes, at most 2 MB, JPG or PNG (errcode 40009 otherwise).

`fail[service]` is a list of failures to play before succeeding: "429", "500", "slow" (3 s), "html" (Telegram refuses
the markup), "413" (Discord refuses the upload). Everything accepted is in `received[service]`, in arrival order.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import itertools
import json
import re
import struct
import time
from collections import defaultdict
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

from aiohttp import BodyPartReader, web

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


def png_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG's IHDR; None if it is not a PNG."""
    if not data.startswith(b"\x89PNG\r\n\x1a\n") or data[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


async def parts(request: web.Request) -> dict[str, tuple[bytes, str | None, str | None]]:
    """A multipart/form-data body as {name: (bytes, filename, content type)}."""
    out = {}
    reader = await request.multipart()
    async for part in reader:
        if isinstance(part, BodyPartReader):
            data = await part.read(decode=False)
            out[str(part.name)] = (bytes(data), part.filename, part.headers.get("Content-Type"))
    return out


@dataclass
class FakeChat:
    telegram_token: str = "123456:TEST-token"
    slack_path: str = "T000/B000/XXXX"
    slack_bot_token: str = "xoxb-test-token"
    slack_channels: tuple[str, ...] = ("C0CHARTS",)
    """Channels the bot is a member of (files.completeUploadExternal into any other: not_in_channel)."""
    discord_path: str = "1234/discord-token"
    hook_secret: str = "hook-secret"
    hook_max_bytes: int | None = None
    """The receiving end's body limit (nginx's client_max_body_size): a body over it is answered 413, unread."""
    wecom_key: str = "wecom-key"
    dingtalk_token: str = "dingtalk-token"
    dingtalk_secret: str = "SECdingtalk-secret"
    feishu_token: str = "feishu-token"
    feishu_secret: str = "feishu-secret"
    telegram_updates: list[dict[str, Any]] = field(default_factory=list)
    """What getUpdates returns: messages people sent the bot (Update objects)."""
    telegram_webhook: bool = False
    """A webhook is set: getUpdates answers 409, as the Bot API does."""
    telegram_proxy_result: Any = None
    """Not None: getUpdates answers `{"ok": true, "result": <this>}` at once, as a broken proxy in front of the Bot
    API may (no long poll, or a result that is not a list of updates)."""
    telegram_polls: int = 0
    mentions: list[str] = field(default_factory=list)
    """Anything that would have notified everyone in a group (an @all, an isAtAll, an <at> tag)."""
    fail: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    received: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    attempts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    ids: Any = field(default_factory=lambda: itertools.count(100))
    _tapped: asyncio.Event = field(default_factory=asyncio.Event)
    _answered: set[str] = field(default_factory=set)
    _allowed: list[str] = field(default_factory=list)
    _uploads: dict[str, dict[str, Any]] = field(default_factory=dict)

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

    async def telegram_photo(self, request: web.Request) -> web.Response:
        def error(status: int, description: str) -> web.Response:
            return web.json_response({"ok": False, "error_code": status, "description": description}, status=status)

        if request.match_info["token"] != self.telegram_token:
            return error(401, "Unauthorized")
        if not request.content_type.startswith("multipart/form-data"):
            return error(400, "Bad Request: there is no photo in the request")
        form = await parts(request)
        failure = await self._failure("telegram_photo")
        if failure == "500":
            return error(500, "Internal Server Error")
        if failure == "429":
            return web.json_response({"ok": False, "error_code": 429, "description": "Too Many Requests: retry after "
                                      "1", "parameters": {"retry_after": 1}}, status=429)  # fmt: skip
        if "photo" not in form or not form["photo"][1]:
            return error(400, "Bad Request: there is no photo in the request")
        photo = form["photo"][0]
        if len(photo) > 10 * 1024 * 1024:
            return error(400, "Bad Request: PHOTO_SAVE_FILE_INVALID")
        size = png_size(photo)
        if size is None:
            return error(400, "Bad Request: IMAGE_PROCESS_FAILED")
        if sum(size) > 10_000 or max(size) / max(1, min(size)) > 20:
            return error(400, "Bad Request: PHOTO_INVALID_DIMENSIONS")
        caption = form.get("caption", (b"", None, None))[0].decode()
        if utf16(caption) > 1024:
            return error(400, "Bad Request: message caption is too long")
        message_id = next(self.ids)
        reply = json.loads(form["reply_parameters"][0]) if "reply_parameters" in form else None
        self.received["telegram_photo"].append({"chat_id": form["chat_id"][0].decode(), "caption": caption,
                                                "photo": photo, "size": size, "reply_parameters": reply,
                                                "message_id": message_id})  # fmt: skip
        photo_sizes = [{"width": size[0], "height": size[1]}]
        return web.json_response({"ok": True, "result": {"message_id": message_id, "photo": photo_sizes}})

    async def slack_api(self, request: web.Request) -> web.Response:
        """files.getUploadURLExternal and files.completeUploadExternal (form or JSON, Bearer token)."""

        def answer(**fields: Any) -> web.Response:
            return web.json_response(fields)

        if request.headers.get("Authorization") != f"Bearer {self.slack_bot_token}":
            return answer(ok=False, error="invalid_auth")
        if await self._failure("slack_api") == "429":
            return web.json_response({"ok": False, "error": "ratelimited"}, status=429, headers={"Retry-After": "1"})
        method = request.match_info["method"]
        body = dict(await request.post()) if request.content_type != "application/json" else await request.json()
        if method == "files.getUploadURLExternal":
            length = str(body.get("length", ""))
            if not body.get("filename") or not length.isdigit():
                return answer(ok=False, error="invalid_arguments")
            file_id = f"F{next(self.ids)}"
            self._uploads[file_id] = {"length": int(length), "filename": body["filename"], "data": None}
            return answer(ok=True, upload_url=f"{request.url.origin()}/slack-upload/{file_id}", file_id=file_id)
        if method == "files.completeUploadExternal":
            files = body.get("files")
            files = json.loads(files) if isinstance(files, str) else files
            channel = body.get("channel_id")
            if not files or any(f.get("id") not in self._uploads or self._uploads[f["id"]]["data"] is None
                                for f in files):  # fmt: skip
                return answer(ok=False, error="file_not_found")
            if channel and not str(channel).startswith(("C", "G")):  # a public or a private channel's id
                return answer(ok=False, error="channel_not_found")
            if channel not in self.slack_channels:
                return answer(ok=False, error="not_in_channel")
            for f in files:
                upload = self._uploads.pop(f["id"])
                self.received["slack_files"].append(
                    {
                        "channel_id": channel,
                        "title": f.get("title"),
                        "initial_comment": body.get("initial_comment"),
                        "data": upload["data"],
                        "filename": upload["filename"],
                    }
                )
            return answer(ok=True, files=[{"id": f["id"], "title": f.get("title")} for f in files])
        return answer(ok=False, error="unknown_method")

    async def slack_upload(self, request: web.Request) -> web.Response:
        upload = self._uploads.get(request.match_info["file_id"])
        data = await request.read()
        if upload is None:
            return web.Response(status=404, text="not found")
        if len(data) != upload["length"]:
            return web.Response(status=400, text="length mismatch")
        upload["data"] = data
        return web.Response(text=f"OK - {len(data)}")

    async def telegram_updates_(self, request: web.Request) -> web.Response:
        """getUpdates: 401 for a token it does not know, 409 while a webhook is set, else the pending updates."""
        if request.match_info["token"] != self.telegram_token:
            return web.json_response({"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401)
        if self.telegram_webhook:
            return web.json_response({"ok": False, "error_code": 409, "description": "Conflict: can't use "
                                      "getUpdates method while webhook is active; use deleteWebhook to delete the "
                                      "webhook first"}, status=409)  # fmt: skip
        self.telegram_polls += 1
        if self.telegram_proxy_result is not None:
            return web.json_response({"ok": True, "result": self.telegram_proxy_result})
        try:
            body = await request.json() if request.can_read_body else {}
        except ValueError:
            body = {}
        offset = int(body.get("offset") or request.query.get("offset") or 0)
        named = body.get("allowed_updates") or json.loads(request.query.get("allowed_updates") or "null")
        if named is not None:  # the Bot API keeps the last list for later calls that name none
            self._allowed = list(named)
        deadline = time.monotonic() + min(float(body.get("timeout") or 0), 30.0)  # a long poll, as the Bot API does
        while not (pending := [u for u in self.telegram_updates if u["update_id"] >= offset
                               and (not self._allowed or set(u) & set(self._allowed))]):  # fmt: skip
            if time.monotonic() >= deadline:
                break
            self._tapped.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._tapped.wait(), deadline - time.monotonic())
        return web.json_response({"ok": True, "result": pending})

    def tap(self, chat_id: int | str, message_id: int, data: str, user_id: int = 42, username: str = "ann") -> str:
        """A person taps an inline button under a message: a callback_query update; returns its id."""
        update_id = 1000 + len(self.telegram_updates)
        self.telegram_updates.append({"update_id": update_id, "callback_query": {
            "id": f"cb{update_id}", "from": {"id": user_id, "is_bot": False, "first_name": username.title(),
                                             "username": username},
            "message": {"message_id": message_id, "chat": {"id": int(chat_id), "type": "group"}, "date": 1795000000},
            "chat_instance": "1", "data": data}})  # fmt: skip
        self._tapped.set()
        return f"cb{update_id}"

    async def telegram_call(self, request: web.Request) -> web.Response:
        """answerCallbackQuery (a callback answered twice, or after 15 minutes, is "query is too old") and
        editMessageReplyMarkup (of a message this bot sent)."""
        if request.match_info["token"] != self.telegram_token:
            return web.json_response({"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401)
        method, body = request.match_info["method"], await request.json()
        self.received[method].append(body)

        def bad(description: str) -> web.Response:
            return web.json_response({"ok": False, "error_code": 400, "description": f"Bad Request: {description}"},
                                     status=400)  # fmt: skip

        if method == "answerCallbackQuery":
            known = {u["callback_query"]["id"] for u in self.telegram_updates if "callback_query" in u}
            if body.get("callback_query_id") not in known or body["callback_query_id"] in self._answered:
                return bad("query is too old and response timeout expired or query ID is invalid")
            self._answered.add(body["callback_query_id"])
            return web.json_response({"ok": True, "result": True})
        sent = {m["message_id"] for m in self.received["telegram"]}
        if body.get("message_id") not in sent:
            return bad("message to edit not found")
        rows = body.get("reply_markup", {}).get("inline_keyboard", [])
        if any(len(b.get("callback_data", "").encode()) > 64 for row in rows for b in row):
            return bad("BUTTON_DATA_INVALID")
        return web.json_response({"ok": True, "result": {"message_id": body["message_id"]}})

    def someone_writes(self, chat_id: int, name: str, text: str = "hi", group: bool = False) -> None:
        """A person sends the bot a message (or writes in a group the bot is in)."""
        chat: dict[str, Any] = {"id": chat_id, "type": "group", "title": name} if group else {
            "id": chat_id, "type": "private", "first_name": name}  # fmt: skip
        update_id = 1000 + len(self.telegram_updates)
        self.telegram_updates.append({"update_id": update_id, "message": {
            "message_id": update_id, "from": {"id": 42, "is_bot": False, "first_name": name}, "chat": chat,
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
        files: dict[str, tuple[bytes, str | None, str | None]] = {}
        if request.content_type.startswith("multipart/form-data"):
            form = await parts(request)
            files = {k: v for k, v in form.items() if k.startswith("files[")}
            body = json.loads(form["payload_json"][0]) if "payload_json" in form else {}
            if sum(len(v[0]) for v in files.values()) > 10 * 1024 * 1024 or await self._failure("discord_file"):
                return web.json_response({"message": "Request entity too large", "code": 40005}, status=413)
            names = {a.get("filename") for a in body.get("attachments", [])}
            if {v[1] for v in files.values()} != names:
                return web.json_response({"message": "Invalid Form Body", "code": 50035}, status=400)
        else:
            body = await request.json()
        failure = await self._failure("discord")
        if failure == "429":
            return web.json_response({"message": "You are being rate limited.", "retry_after": 0.7, "global": False},
                                     status=429, headers={"Retry-After": "1"})  # fmt: skip
        if failure == "500":
            return web.json_response({"message": "500: Internal Server Error", "code": 0}, status=500)
        if failure == "502":  # a proxy in front of it, not Discord: text, no JSON
            return web.Response(status=502, text="bad gateway")
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
        self.received["discord"].append({**body, "wait": request.query.get("wait"),
                                         "files": {v[1]: v[0] for v in files.values()}})  # fmt: skip
        return web.json_response({"id": message_id, "channel_id": "1", "embeds": embeds})

    async def hook(self, request: web.Request) -> web.Response:
        if self.hook_max_bytes is not None and (request.content_length or 0) > self.hook_max_bytes:
            self.attempts["webhook-413"] += 1
            page = "<html><head><title>413 Request Entity Too Large</title></head></html>"
            return web.Response(status=413, text=page, content_type="text/html")
        raw = await request.read()
        expected = "sha256=" + hmac.new(self.hook_secret.encode(), raw, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(request.headers.get("X-Costwarden-Signature", ""), expected):
            return web.Response(status=401, text="bad signature")
        failure = await self._failure("webhook")
        if failure == "500":
            return web.Response(status=503, text="try later", headers={"Retry-After": "1"})
        self.received["webhook"].append(json.loads(raw))
        return web.Response(status=204)

    async def wecom(self, request: web.Request) -> web.Response:
        def error(code: int, message: str) -> web.Response:
            return web.json_response({"errcode": code, "errmsg": f"{message}, hint: [1795000000000000000], from ip: "
                                      "127.0.0.1, more info at https://open.work.weixin.qq.com/devtool/query?e="
                                      f"{code}"})  # fmt: skip

        if request.query.get("key") != self.wecom_key:
            return error(93000, "invalid webhook url")
        body = await request.json()
        if await self._failure("wecom") == "429":
            return error(45009, "api freq out of limit")
        if body.get("msgtype") == "image":
            image = body.get("image", {})
            try:
                raw = base64.b64decode(image.get("base64", ""), validate=True)
            except ValueError:
                return error(40009, "invalid image size")
            if not raw or len(raw) > 2 * 1024 * 1024 or (png_size(raw) is None and not raw.startswith(b"\xff\xd8")):
                return error(40009, "invalid image size")
            if hashlib.md5(raw, usedforsecurity=False).hexdigest() != image.get("md5"):
                return error(40009, "invalid image md5")
            self.received["wecom"].append({"msgtype": "image", "image": raw})
            return web.json_response({"errcode": 0, "errmsg": "ok"})
        text = body.get("text", {})
        if body.get("msgtype") != "text" or not text.get("content"):
            return error(40008, "invalid message type")
        if len(text["content"].encode("utf-8")) > 2048:
            return error(40058, "text.content exceed max length 2048")
        if "@all" in text.get("mentioned_list", []) + text.get("mentioned_mobile_list", []):
            self.mentions.append("wecom @all")
        self.received["wecom"].append(body)
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    async def dingtalk(self, request: web.Request) -> web.Response:
        def error(code: int, message: str) -> web.Response:
            return web.json_response({"errcode": code, "errmsg": message})

        if request.query.get("access_token") != self.dingtalk_token:
            return error(300001, "token is not exist")
        timestamp, sign = request.query.get("timestamp", ""), request.query.get("sign", "")
        if not timestamp.isdigit() or abs(int(timestamp) / 1000 - time.time()) > 3600:
            return error(310000, "invalid timestamp")
        string = f"{timestamp}\n{self.dingtalk_secret}".encode()
        expected = base64.b64encode(hmac.new(self.dingtalk_secret.encode(), string, hashlib.sha256).digest()).decode()
        if not hmac.compare_digest(sign, expected):  # aiohttp has decoded the query once, as DingTalk does
            return error(310000, "sign not match")
        raw = await request.read()
        if len(raw) > 20000:
            return error(460101, "message too long, exceed 20000 bytes")
        if await self._failure("dingtalk") == "429":
            return web.json_response({"errcode": 130101, "errmsg": "send too fast, exceed 20 times per minute",
                                      "wait": 1})  # fmt: skip
        body = json.loads(raw)
        if body.get("at", {}).get("isAtAll"):
            self.mentions.append("dingtalk isAtAll")
        self.received["dingtalk"].append(body)
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    async def feishu(self, request: web.Request) -> web.Response:
        def error(code: int, message: str, status: int = 200) -> web.Response:
            return web.json_response({"code": code, "msg": message, "data": {}}, status=status)

        if request.match_info["token"] != self.feishu_token:
            return error(19001, "param invalid: incoming webhook access token invalid")
        raw = await request.read()
        if len(raw) > 20 * 1024:
            return error(9499, "Bad Request")
        body = json.loads(raw)
        timestamp = str(body.get("timestamp", ""))
        key = f"{timestamp}\n{self.feishu_secret}".encode()
        expected = base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()
        fresh = timestamp.isdigit() and abs(int(timestamp) - time.time()) <= 3600
        if not fresh or not hmac.compare_digest(str(body.get("sign", "")), expected):
            return error(19021, "sign match fail or timestamp is not within one hour from current time")
        failure = await self._failure("feishu")
        if failure == "429":
            return error(9499, "too many request", 400)
        if failure == "502":  # a proxy in front of it, not Feishu: HTML, no code
            return web.Response(status=502, text="<html>bad gateway</html>", content_type="text/html")
        if "<at" in raw.decode("utf-8") and body.get("msg_type") == "text":
            self.mentions.append("feishu <at>")
        for paragraph in body.get("content", {}).get("post", {}).get("zh_cn", {}).get("content", []):
            if any(piece.get("tag") == "at" for piece in paragraph):
                self.mentions.append("feishu at element")
        self.received["feishu"].append(body)
        return web.json_response({"code": 0, "msg": "success", "data": {}, "Extra": None, "StatusCode": 0,
                                  "StatusMessage": "success"})  # fmt: skip

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/cgi-bin/webhook/send", self.wecom)
        app.router.add_post("/robot/send", self.dingtalk)
        app.router.add_post("/open-apis/bot/v2/hook/{token}", self.feishu)
        app.router.add_post("/bot{token}/sendMessage", self.telegram)
        app.router.add_post("/bot{token}/sendPhoto", self.telegram_photo)
        app.router.add_post("/slack-api/{method}", self.slack_api)
        app.router.add_post("/slack-upload/{file_id}", self.slack_upload)
        app.router.add_route("*", "/bot{token}/getUpdates", self.telegram_updates_)
        app.router.add_post("/bot{token}/{method:answerCallbackQuery|editMessageReplyMarkup}", self.telegram_call)
        app.router.add_post("/slack/{path:.+}", self.slack)
        app.router.add_post("/api/webhooks/{path:.+}", self.discord)
        app.router.add_post("/hook", self.hook)
        return app
