"""A generic JSON webhook: the message, its analysis and the original Alertmanager payload, optionally signed
(HMAC-SHA256 of the exact body bytes in `X-Costwarden-Signature: sha256=<hex>`) so the receiving end can verify it.
A chart is its own signed post after its message: `{"version": "1", "chart": {"notification", "group_key", "title",
"caption", "media_type": "image/png", "png_base64"}}`."""

from __future__ import annotations

import hashlib
import hmac
import json

import aiohttp

from receiver import settings as s
from receiver.chart import Picture
from receiver.delivery.channels import Body, picture_body
from receiver.delivery.channels.http import classify, post, retry_after
from receiver.message.render import Message

SIGNATURE_HEADER = "X-Costwarden-Signature"


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookChannel:
    def __init__(self, cfg: s.WebhookChannel, session: aiohttp.ClientSession) -> None:
        self.name = cfg.name
        self._cfg = cfg
        self._session = session

    def render(self, message: Message) -> list[Body]:
        return [{"version": "1", "message": message.to_json(), "text": message.plain()}]

    def picture(self, picture: Picture) -> list[Body]:
        fields = picture_body(picture)
        return [{"version": "1", "chart": {
            "notification": picture.id, "group_key": picture.group_key, "title": picture.title,
            "caption": picture.caption, "media_type": "image/png", "png_base64": fields["png"]}}]  # fmt: skip

    async def send(self, body: Body, reply_to: str | None) -> str | None:
        data = json.dumps(body, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()
        headers = {"Content-Type": "application/json", "User-Agent": "costwarden-receiver"}
        if self._cfg.secret:
            headers[SIGNATURE_HEADER] = signature(self._cfg.secret, data)
        status, answer_headers, raw = await post(
            self._session, self._cfg.url, self._cfg.timeout_seconds, data=data, headers=headers
        )
        classify(status, raw[:200].decode("utf-8", "replace"), retry_after(answer_headers.get("Retry-After")))
        return None
