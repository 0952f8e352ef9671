"""Telegram, Slack and Discord: the same message laid out in each one's markup, every dynamic piece escaped, split
into parts at paragraph boundaries where a service's size limits require it.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable

import aiohttp

from receiver import settings as s
from receiver.chart import Picture
from receiver.delivery.channels import Body, Permanent, RetryLater, instead, mark, picture_body, png_of
from receiver.delivery.channels.http import classify, json_answer, post, quoted, retry_after
from receiver.facts.model import clip
from receiver.message.render import Message

Line = tuple[str, str, str]
"""(kind, text, url): kind is title, headline, gap, heading, item, footer or link."""


def lines(message: Message, act: bool = True) -> list[Line]:
    """`act`: with the signed links to the alert's actions (a channel with buttons shows those instead)."""
    out: list[Line] = [("title", f"{mark(message)} {message.title}", "")]
    if message.headline:
        out.append(("headline", message.headline, ""))
    for section in message.sections:
        out.append(("gap", "", ""))
        if section.heading:
            out.append(("heading", section.heading, ""))
        for i, text in enumerate(section.lines, 1):
            out.append(("item", f"{i}. {text}" if section.numbered else f"• {text}", ""))
    if message.footer:
        out += [("gap", "", "")] + [("footer", text, "") for text in message.footer.split("\n")]
    out += [("link", label, url) for label, url in message.links + (message.act_links if act else ())]
    return out


def utf16(text: str) -> int:
    """Telegram counts message length in UTF-16 code units (an emoji is two)."""
    return len(text.encode("utf-16-le")) // 2


def pack(items: list[Line], fmt: Callable[[Line], str], limit: int, size: Callable[[str], int] = len) -> list[str]:
    """Lay lines into chunks of at most `limit`: whole paragraphs where they fit, else whole lines, and a line longer
    than a chunk is cut (before escaping, so no entity or tag is ever cut in half)."""
    paragraphs: list[list[Line]] = [[]]
    for item in items:
        if item[0] == "gap":
            paragraphs.append([])
        else:
            paragraphs[-1].append(item)
    chunks: list[str] = []
    current = ""

    def add(piece: str, sep: str) -> None:
        nonlocal current
        candidate = f"{current}{sep}{piece}" if current else piece
        if size(candidate) <= limit:
            current = candidate
        else:
            if current:
                chunks.append(current)
            current = piece

    for paragraph in (p for p in paragraphs if p):
        whole = "\n".join(fmt(line) for line in paragraph)
        if size(whole) <= limit:
            add(whole, "\n\n")
            continue
        for n, line in enumerate(paragraph):
            for piece in _cut(line, fmt, limit, size):
                add(piece, "\n\n" if n == 0 else "\n")
    if current:
        chunks.append(current)
    return chunks


def _cut(line: Line, fmt: Callable[[Line], str], limit: int, size: Callable[[str], int]) -> list[str]:
    kind, text, url = line
    if kind == "link":  # its URL cannot be cut: a link that does not fit whole is left out, never sent in pieces
        return [fmt(line)] if size(fmt(line)) <= limit else []
    pieces = []
    while text:
        n = len(text)
        while n > 1 and size(fmt((kind, text[:n], url))) > limit:
            n = n * 3 // 4
        pieces.append(fmt((kind, text[:n], url)))
        text = text[n:]
    return pieces


def numbered(chunks: list[str], label: Callable[[int, int], str]) -> list[str]:
    if len(chunks) == 1:
        return chunks
    return [f"{label(i, len(chunks))}{chunk}" for i, chunk in enumerate(chunks, 1)]


# --- Telegram ---------------------------------------------------------------------------------------------------

TELEGRAM_LIMIT = 4096
PART_LABEL_ROOM = 12
TELEGRAM_CAPTION = 1024
"""A photo's caption, in UTF-16 units after entity parsing (plain text here: no entities)."""
TELEGRAM_PHOTO_BYTES = 10 * 1024 * 1024
"""sendPhoto takes an uploaded photo of at most 10 MB (width + height at most 10,000, ratio at most 20)."""


def telegram_html(line: Line) -> str:
    kind, text, url = line
    t = html.escape(text, quote=False)
    if kind == "title":
        return f"<b>{t}</b>"
    if kind == "heading":
        return f"<b>{t}</b>"
    if kind == "footer":
        return f"<i>{t}</i>"
    if kind == "link":
        return f'<a href="{html.escape(url, quote=True)}">{t}</a>'
    return t


def two_a_row(buttons: list[tuple[str, str]]) -> list[list[tuple[str, str]]]:
    """Buttons laid out two a row: readable on a phone."""
    return [buttons[i : i + 2] for i in range(0, len(buttons), 2)]


def keyboard(rows: list[list[tuple[str, str]]]) -> dict[str, object]:
    """An inline keyboard of (label, callback data) rows; the data is at most 64 bytes, as the Bot API allows."""
    return {"inline_keyboard": [[{"text": label, "callback_data": data[:64]} for label, data in row] for row in rows]}


class TelegramChannel:
    def __init__(self, cfg: s.TelegramChannel, session: aiohttp.ClientSession, buttons: bool = False) -> None:
        self.name = cfg.name
        self._cfg = cfg
        self._session = session
        self._buttons = buttons

    def render(self, message: Message) -> list[Body]:
        chunks = pack(lines(message, act=not self._buttons), telegram_html, TELEGRAM_LIMIT - PART_LABEL_ROOM, utf16)
        parts = numbered(chunks, lambda i, n: f"({i}/{n}) ")
        bodies: list[Body] = [{"chat_id": self._cfg.chat_id, "text": part, "parse_mode": "HTML",
                               "link_preview_options": {"is_disabled": True}} for part in parts]  # fmt: skip
        if self._buttons and message.actions and message.id > 0:  # under the last part, where the reader ends
            buttons = [(label, f"cw:{action}:{message.id}") for label, action in message.actions]
            bodies[-1]["reply_markup"] = keyboard(two_a_row(buttons))
        return bodies

    def picture(self, picture: Picture) -> list[Body]:
        fitting = _cut(("item", picture.caption, ""), lambda line: line[1], TELEGRAM_CAPTION, utf16)
        return [{"chat_id": self._cfg.chat_id, **picture_body(picture), "caption": fitting[0] if fitting else ""}]

    async def send(self, body: Body, reply_to: str | None) -> str | None:
        reply: dict[str, object] | None = None
        if reply_to is not None:
            reply = {"message_id": int(reply_to), "allow_sending_without_reply": True}
        if "png" in body:
            return await self._photo(body, reply)
        if reply is not None:
            body = {**body, "reply_parameters": reply}
        try:
            return await self._send(body)
        except Permanent as exc:
            if "can't parse entities" not in exc.reason:
                raise
        # The markup was refused: the same words as plain text are better than nothing.
        plain = html.unescape(re.sub(r"<[^>]+>", "", body["text"]))
        return await self._send({k: v for k, v in body.items() if k != "parse_mode"} | {"text": plain})

    async def _photo(self, body: Body, reply: dict[str, object] | None) -> str | None:
        """sendPhoto as a reply to the alert's message; a photo refused for good (too big, bad dimensions) becomes
        the caption and the links as text."""
        png = png_of(body)
        try:
            if len(png) > TELEGRAM_PHOTO_BYTES:
                raise Permanent(f"the chart is {len(png)} bytes, above sendPhoto's {TELEGRAM_PHOTO_BYTES}")
            form = aiohttp.FormData()
            form.add_field("chat_id", str(body["chat_id"]))
            form.add_field("caption", body["caption"])
            if reply is not None:
                form.add_field("reply_parameters", json.dumps(reply))
            form.add_field("photo", png, filename="chart.png", content_type="image/png")
            return await self._send(form, "sendPhoto")
        except Permanent as exc:
            text = {"chat_id": body["chat_id"], "text": instead(body, exc.reason)}
            return await self._send(text if reply is None else {**text, "reply_parameters": reply})

    async def _send(self, body: Body | aiohttp.FormData, method: str = "sendMessage") -> str | None:
        token = self._cfg.bot_token
        url = f"{self._cfg.api_url.rstrip('/')}/bot{token}/{method}"
        payload = {"data": body} if isinstance(body, aiohttp.FormData) else {"json": body}
        status, _, raw = await post(self._session, url, self._cfg.timeout_seconds, redact=token, **payload)
        answer = json_answer(raw)
        if status == 200 and answer.get("ok"):
            return str(answer["result"]["message_id"])
        description = str(answer.get("description") or quoted(raw))
        after = (answer.get("parameters") or {}).get("retry_after")
        classify(status if status != 200 else 502, description, float(after) if after is not None else None)
        return None


# --- Slack ------------------------------------------------------------------------------------------------------

SLACK_HEADER = 150
SLACK_SECTION = 3000
SLACK_BLOCKS = 50


def slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_mrkdwn(line: Line) -> str:
    kind, text, url = line
    t = slack_escape(text)
    if kind == "heading":
        return f"*{t}*"
    if kind == "footer":
        return f"_{t}_"
    if kind == "link":
        safe_url = url.replace("|", "%7C").replace("<", "%3C").replace(">", "%3E")
        return f"<{safe_url}|{t}>"
    return t


class SlackChannel:
    def __init__(self, cfg: s.SlackChannel, session: aiohttp.ClientSession) -> None:
        self.name = cfg.name
        self._cfg = cfg
        self._session = session

    def render(self, message: Message) -> list[Body]:
        all_lines = lines(message)
        title = all_lines[0][1]
        body_lines = [x for x in all_lines[1:] if x[0] not in ("footer", "link")]
        tail = [x for x in all_lines if x[0] in ("footer", "link")]
        blocks: list[Body] = [
            {"type": "section", "text": {"type": "mrkdwn", "text": chunk}}
            for chunk in pack(body_lines, slack_mrkdwn, SLACK_SECTION)
        ]
        context = ""
        for piece in (slack_mrkdwn(x) for x in tail):  # whole pieces: a link cut short would be a dead one
            joined = f"{context} · {piece}" if context else piece
            context = joined if len(joined) <= SLACK_SECTION else context
        if context:
            blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": context}]})
        room = SLACK_BLOCKS - 1
        groups = [blocks[i : i + room] for i in range(0, len(blocks), room)] or [[]]
        fallback = slack_escape(f"{title}\n{message.headline}"[:SLACK_SECTION])  # notifications show it: no mentions
        return [
            {
                "text": fallback,
                "blocks": [{"type": "header", "text": {"type": "plain_text", "text": header[:SLACK_HEADER]}}, *group],
            }
            for header, group in zip(numbered([title] * len(groups), lambda i, n: f"({i}/{n}) "), groups, strict=True)
        ]

    def picture(self, picture: Picture) -> list[Body]:
        """An uploaded file when a bot token is configured (an incoming webhook cannot carry one); else nothing."""
        if not self._cfg.bot_token:
            return []
        return [{**picture_body(picture), "title": picture.title[:SLACK_HEADER]}]

    async def send(self, body: Body, reply_to: str | None) -> str | None:
        if "png" in body:
            try:
                await self._upload(body)
            except Permanent as exc:  # the words instead of the picture, through the webhook
                await self._post({"text": slack_escape(instead(body, exc.reason))})
            return None
        await self._post(body)
        return None

    async def _post(self, body: Body) -> None:
        url = self._cfg.webhook_url
        status, headers, raw = await post(self._session, url, self._cfg.timeout_seconds, redact=url, json=body)
        text = quoted(raw)
        if status == 200 and text == "ok":
            return
        classify(status if status != 200 else 502, text, retry_after(headers.get("Retry-After")))

    async def _upload(self, body: Body) -> None:
        """Slack's upload in three steps (files.upload is retired): ask for an upload URL, post the bytes to it,
        then complete the upload into the channel with the caption as its comment."""
        png = png_of(body)
        ticket = await self._api("files.getUploadURLExternal", data={"filename": "chart.png", "length": str(len(png))})
        upload_url, file_id = str(ticket.get("upload_url", "")), str(ticket.get("file_id", ""))
        if not upload_url.startswith(("http://", "https://")) or not file_id:
            raise RetryLater("files.getUploadURLExternal gave no upload_url")
        status, headers, raw = await post(self._session, upload_url, self._cfg.timeout_seconds, redact=upload_url,
                                          data=png, headers={"Content-Type": "image/png"})  # fmt: skip
        classify(status, f"upload: {quoted(raw, 100)}", retry_after(headers.get("Retry-After")))
        await self._api("files.completeUploadExternal", json={
            "files": [{"id": file_id, "title": body["title"]}], "channel_id": self._cfg.channel_id,
            "initial_comment": slack_escape(body["caption"])})  # fmt: skip

    async def _api(self, method: str, **payload: object) -> dict[str, object]:
        """A Web API call: HTTP 429 and `ratelimited` wait (Retry-After), `ok: false` for any other reason is for
        a person to fix (invalid_auth, missing_scope files:write, not_in_channel, channel_not_found)."""
        token = self._cfg.bot_token or ""
        url = f"{self._cfg.api_url.rstrip('/')}/{method}"
        status, headers, raw = await post(self._session, url, self._cfg.timeout_seconds, redact=token,
                                          headers={"Authorization": f"Bearer {token}"}, **payload)  # fmt: skip
        after = retry_after(headers.get("Retry-After"))
        classify(status, f"{method}: {quoted(raw)}", after)
        answer = json_answer(raw)
        if answer.get("ok") is True:
            return answer
        error = str(answer.get("error") or "no answer")
        if error in ("ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"):
            raise RetryLater(f"{method}: {error}", after)
        raise Permanent(f"{method}: {error}")


# --- Discord ----------------------------------------------------------------------------------------------------

DISCORD_DESCRIPTION = 4096
DISCORD_TOTAL = 6000
DISCORD_FILE_BYTES = 10 * 1024 * 1024
"""A webhook's files together, since January 2025 (a boosted server allows more; 413 code 40005 beyond)."""
DISCORD_COLOURS = {"critical": 0xE01E5A, "warning": 0xF2A900, "info": 0x3B82F6, "resolved": 0x2EB67D}


def discord_escape(text: str) -> str:
    return re.sub(r"([\\*_~`|>\[\]()#@-])", r"\\\1", text)


def discord_title(text: str) -> str:
    """An embed title reads inline markdown (bold, italics, code, spoilers, links) but is one line that starts with
    the severity: no heading, quote or list can begin it, and it mentions nobody, so a hostname's '-' stays bare."""
    return re.sub(r"([\\*_~`|\[\]()])", r"\\\1", clip(text, 128))  # escaped, at most 256: Discord's limit


def discord_markdown(line: Line) -> str:
    kind, text, url = line
    t = discord_escape(text)
    if kind == "heading":
        return f"**{t}**"
    if kind == "link":
        return f"[{t}]({url.replace(')', '%29').replace(' ', '%20')})"
    return t


class DiscordChannel:
    def __init__(self, cfg: s.DiscordChannel, session: aiohttp.ClientSession) -> None:
        self.name = cfg.name
        self._cfg = cfg
        self._session = session

    def render(self, message: Message) -> list[Body]:
        all_lines = lines(message)
        title = discord_title(all_lines[0][1])
        footer = message.footer[:2048]
        body_lines = [x for x in all_lines[1:] if x[0] != "footer"]
        budget = min(DISCORD_DESCRIPTION, DISCORD_TOTAL - len(title) - len(footer) - 20)
        chunks = pack(body_lines, discord_markdown, budget)
        colour = DISCORD_COLOURS.get("resolved" if message.status == "resolved" else message.severity, 0x888888)
        titles = numbered([title] * len(chunks), lambda i, n: f"({i}/{n}) ")
        return [
            {
                "embeds": [{"title": t, "description": chunk, "color": colour, "footer": {"text": footer or " "}}],
                "allowed_mentions": {"parse": []},
            }
            for t, chunk in zip(titles, chunks, strict=True)
        ]

    def picture(self, picture: Picture) -> list[Body]:
        return [{**picture_body(picture), "title": discord_title(picture.title)}]

    async def send(self, body: Body, reply_to: str | None) -> str | None:
        if "png" not in body:
            return await self._post(json=body)
        png = png_of(body)
        try:
            if len(png) > DISCORD_FILE_BYTES:
                raise Permanent(f"the chart is {len(png)} bytes, above a webhook's {DISCORD_FILE_BYTES}")
            caption = discord_escape(body["caption"])[:DISCORD_DESCRIPTION]
            payload = {
                "embeds": [{"title": body["title"], "description": caption, "image": {"url": "attachment://chart.png"}}],
                "attachments": [{"id": 0, "filename": "chart.png"}], "allowed_mentions": {"parse": []},
            }  # fmt: skip
            form = aiohttp.FormData()
            form.add_field("payload_json", json.dumps(payload), content_type="application/json")
            form.add_field("files[0]", png, filename="chart.png", content_type="image/png")
            return await self._post(data=form)
        except Permanent as exc:  # the words instead of the picture
            text = discord_escape(instead(body, exc.reason))[:2000]
            return await self._post(json={"content": text, "allowed_mentions": {"parse": []}})

    async def _post(self, **payload: object) -> str | None:
        url = self._cfg.webhook_url
        status, headers, raw = await post(
            self._session, url, self._cfg.timeout_seconds, redact=url, params={"wait": "true"}, **payload
        )
        answer = json_answer(raw)
        if status in (200, 204):
            return str(answer.get("id")) if answer.get("id") else None
        after = answer.get("retry_after")
        reason = str(answer.get("message") or quoted(raw))
        classify(status, reason, float(after) if after is not None else retry_after(headers.get("Retry-After")))
        return None
