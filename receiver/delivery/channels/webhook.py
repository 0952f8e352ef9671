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
from receiver.delivery.channels.http import classify, post, quoted, retry_after
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
        status, answer_headers, raw = await self._post(body)
        slim = _without_payload(body)
        if status == 413 and slim is not None:  # too large for the receiving end: the message without Alertmanager's
            status, answer_headers, raw = await self._post(slim)
        classify(status, quoted(raw), retry_after(answer_headers.get("Retry-After")))
        return None

    async def _post(self, body: Body) -> tuple[int, dict[str, str], bytes]:
        data = json.dumps(body, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()
        headers = {"Content-Type": "application/json", "User-Agent": "costwarden-receiver"}
        if self._cfg.secret:
            headers[SIGNATURE_HEADER] = signature(self._cfg.secret, data)
        return await post(self._session, self._cfg.url, self._cfg.timeout_seconds, data=data, headers=headers)


def _without_payload(body: Body) -> Body | None:
    """The message without the Alertmanager payload it carries (every alert of the group, with all their labels and
    annotations: most of a large group's bytes), said in `omitted`, as Alertmanager's own max_alerts truncates; None
    when there is none to leave out (a chart)."""
    message = body.get("message")
    if not isinstance(message, dict) or not isinstance(data := message.get("data"), dict):
        return None
    if data.get("alertmanager") is None:
        return None
    return {**body, "message": {**message, "data": {**data, "alertmanager": None}}, "omitted": ["alertmanager"]}
