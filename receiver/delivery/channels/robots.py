"""WeCom (企业微信), DingTalk (钉钉) and Feishu/Lark (飞书) group robots: the chat apps of most users in China.

Each gets the message as plain structure that cannot mention anyone: WeCom and DingTalk a `text` message with no
mention lists (`isAtAll: false`), Feishu a `post` whose pieces are literal `text` and `a` elements, so an `@all` or
`<at user_id="all">` in a label stays text. Their limits count UTF-8 bytes (WeCom 2,048 per text, DingTalk and
Feishu about 20,000 per request), so a long message is split at paragraph boundaries into numbered parts. DingTalk and
Feishu sign each request when a secret is set (HMAC-SHA256 of `timestamp\\nsecret`), at send time: a retry hours later
is signed afresh. All three answer HTTP 200 with an error code in the body; rate limits (WeCom 45009, DingTalk
130101, Feishu 11232 / 9499 "too many request") are retried with the delivery back-off (DingTalk's own `wait` when it
gives one), bad keys and signatures are parked.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import urllib.parse

import aiohttp
import yarl

from receiver import settings as s
from receiver.chart import Picture
from receiver.delivery.channels import Body, Permanent, RetryLater, instead, picture_body, png_of
from receiver.delivery.channels.chat import Line, lines, numbered, pack
from receiver.delivery.channels.http import classify, json_answer, post, quoted, retry_after
from receiver.message.render import Message

WECOM_TEXT_BYTES = 2048
WECOM_IMAGE_BYTES = 2 * 1024 * 1024
"""An `image` message: a JPG or PNG of at most 2 MB before base64."""
DINGTALK_TEXT_BYTES = 18_000
"""DingTalk refuses a request above 20,000 bytes (460101); the rest of the body fits in the difference."""
FEISHU_POST_BYTES = 18_000
"""Feishu's documented request limit is 20 KB; the JSON around the text fits in the difference."""


def utf8(text: str) -> int:
    return len(text.encode("utf-8"))


def plain(line: Line) -> str:
    kind, text, url = line
    return f"{text}: {url}" if kind == "link" else text


def text_parts(message: Message, limit: int) -> list[str]:
    """The message as plain text in parts of at most `limit` UTF-8 bytes, numbered when there are several."""
    chunks = pack(lines(message), plain, limit - 12, utf8)
    return numbered(chunks, lambda i, n: f"({i}/{n}) ")


def _sign(secret: str, timestamp: str, *, as_key: bool = False) -> str:
    """DingTalk signs `timestamp\\nsecret` with the secret as key; Feishu (`as_key`) uses that string as the key of
    an empty message. Both then base64 the digest."""
    string = f"{timestamp}\n{secret}".encode()
    digest = hmac.new(string, b"", hashlib.sha256) if as_key else hmac.new(secret.encode(), string, hashlib.sha256)
    return base64.b64encode(digest.digest()).decode()


def check_errcode(service: str, status: int, headers: dict[str, str], raw: bytes, retryable: set[int]) -> None:
    """WeCom and DingTalk answer `{"errcode": 0, "errmsg": "ok"}`, HTTP 200 even when they refuse: sort the code into
    sent, retry later (rate limits, busy; after the server's `wait` when it gives one) or parked."""
    classify(status, quoted(raw), retry_after(headers.get("Retry-After")))
    answer = json_answer(raw)
    code = answer.get("errcode", -2)
    if code == 0:
        return
    reason = f"{service} errcode {code}: {str(answer.get('errmsg', quoted(raw)))[:200]}"
    if code in retryable:
        wait = answer.get("wait")
        raise RetryLater(reason, float(wait) if isinstance(wait, int | float) else None)
    raise Permanent(reason)


class WeComChannel:
    def __init__(self, cfg: s.WeComChannel, session: aiohttp.ClientSession) -> None:
        self.name = cfg.name
        self._cfg = cfg
        self._session = session

    def render(self, message: Message) -> list[Body]:
        return [{"msgtype": "text", "text": {"content": part}} for part in text_parts(message, WECOM_TEXT_BYTES)]

    def picture(self, picture: Picture) -> list[Body]:
        """An `image` message has no caption: the caption goes first as text, then the picture."""
        caption = picture.caption.encode("utf-8")[:WECOM_TEXT_BYTES].decode("utf-8", "ignore")
        return [{"msgtype": "text", "text": {"content": caption}}, picture_body(picture)]

    async def send(self, body: Body, reply_to: str | None) -> str | None:
        if "png" not in body:
            return await self._send(body)
        png = png_of(body)
        try:
            if len(png) > WECOM_IMAGE_BYTES:
                raise Permanent(f"the chart is {len(png)} bytes, above an image message's {WECOM_IMAGE_BYTES}")
            image = {"base64": body["png"], "md5": hashlib.md5(png, usedforsecurity=False).hexdigest()}
            return await self._send({"msgtype": "image", "image": image})
        except Permanent as exc:
            text = instead(body, exc.reason).encode("utf-8")[:WECOM_TEXT_BYTES].decode("utf-8", "ignore")
            return await self._send({"msgtype": "text", "text": {"content": text}})

    async def _send(self, body: Body) -> str | None:
        url = self._cfg.webhook_url
        status, headers, raw = await post(self._session, url, self._cfg.timeout_seconds, redact=url, json=body)
        check_errcode("WeCom", status, headers, raw, {45009, -1})  # rate limit, system busy
        return None


class DingTalkChannel:
    def __init__(self, cfg: s.DingTalkChannel, session: aiohttp.ClientSession) -> None:
        self.name = cfg.name
        self._cfg = cfg
        self._session = session

    def render(self, message: Message) -> list[Body]:
        return [
            {"msgtype": "text", "text": {"content": part}, "at": {"atMobiles": [], "atUserIds": [], "isAtAll": False}}
            for part in text_parts(message, DINGTALK_TEXT_BYTES)
        ]

    def picture(self, picture: Picture) -> list[Body]:
        """A custom robot cannot upload a picture (only link one by URL): the message's links stay."""
        return []

    def _url(self) -> yarl.URL:
        url = self._cfg.webhook_url
        if self._cfg.secret:
            timestamp = str(int(time.time() * 1000))
            sign = urllib.parse.quote_plus(_sign(self._cfg.secret, timestamp))
            url += f"{'&' if '?' in url else '?'}timestamp={timestamp}&sign={sign}"
        return yarl.URL(url, encoded=True)  # the signature is encoded once, here, as DingTalk checks it

    async def send(self, body: Body, reply_to: str | None) -> str | None:
        url = self._cfg.webhook_url
        status, headers, raw = await post(self._session, self._url(), self._cfg.timeout_seconds, redact=url, json=body)
        # Sent too fast (DingTalk then throttles for up to 10 minutes), system busy.
        check_errcode("DingTalk", status, headers, raw, {130101, -1})
        return None


class FeishuChannel:
    def __init__(self, cfg: s.FeishuChannel, session: aiohttp.ClientSession) -> None:
        self.name = cfg.name
        self._cfg = cfg
        self._session = session

    def render(self, message: Message) -> list[Body]:
        """A `post` per part: a title, then one paragraph per line of literal `text` (links as `a` elements)."""
        every = lines(message)
        title, rest = every[0][1], [x for x in every[1:] if x[0] != "gap"]
        parts: list[list[list[dict[str, str]]]] = [[]]
        size = 0
        for kind, text, url in rest:
            piece = {"tag": "a", "text": text, "href": url} if kind == "link" else {"tag": "text", "text": text}
            cost = utf8(json.dumps(piece, ensure_ascii=False)) + 4
            if parts[-1] and size + cost > FEISHU_POST_BYTES:
                parts.append([])
                size = 0
            while cost > FEISHU_POST_BYTES:  # one line longer than a whole part: cut it
                cut = len(piece["text"]) * FEISHU_POST_BYTES // cost * 3 // 4
                parts[-1].append([{**piece, "text": piece["text"][:cut]}])
                parts.append([])
                piece = {**piece, "text": piece["text"][cut:]}
                cost = utf8(json.dumps(piece, ensure_ascii=False)) + 4
                size = 0
            parts[-1].append([piece])
            size += cost
        titles = numbered([title] * len(parts), lambda i, n: f"({i}/{n}) ")
        return [
            {"msg_type": "post", "content": {"post": {"zh_cn": {"title": t, "content": content}}}}
            for t, content in zip(titles, parts, strict=True)
        ]

    def picture(self, picture: Picture) -> list[Body]:
        """A custom bot sends an image only by an `image_key` that an app uploads: the message's links stay."""
        return []

    async def send(self, body: Body, reply_to: str | None) -> str | None:
        url = self._cfg.webhook_url
        if self._cfg.secret:
            timestamp = str(int(time.time()))
            body = {**body, "timestamp": timestamp, "sign": _sign(self._cfg.secret, timestamp, as_key=True)}
        status, headers, raw = await post(self._session, url, self._cfg.timeout_seconds, redact=url, json=body)
        answer = json_answer(raw)
        code = answer.get("code", answer.get("StatusCode", -2))
        message = str(answer.get("msg", answer.get("StatusMessage", quoted(raw))))[:200]
        reason = f"Feishu code {code}: {message}"
        if code == 11232 or (code == 9499 and "too many" in message.lower()):
            raise RetryLater(reason)
        classify(status, reason, retry_after(headers.get("Retry-After")))
        if code == 0:
            return None
        raise Permanent(reason)
