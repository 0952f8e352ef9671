"""`/act/<notification>/<action>`: where a signed link (receiver/links) lands. GET shows what it would do with a
Confirm button and does nothing else (link previews and mail scanners open links); the POST of that button acts,
through the Telegram buttons' own code (receiver/buttons): once, audited, refused after the alert resolved.
A link that is not signed here, was changed, or has expired gets 403 and does nothing."""

from __future__ import annotations

import html
import re
import time

from aiohttp import web

from receiver.buttons import Buttons
from receiver.intake import parse_webhook
from receiver.links import Signer
from receiver.message import catalogue
from receiver.message.render import BUTTONS
from receiver.store import notifications
from receiver.store.outbox import Outbox

NOTE = re.compile(r"[1-9][0-9]{0,17}", re.ASCII)


def page(title: str, paragraphs: list[str], language: str, form: str = "", status: int = 200) -> web.Response:
    """A small HTML page; every text escaped. No script, no outside resource."""
    e = html.escape
    body = "".join(f"<p>{e(p)}</p>" for p in paragraphs)
    button = (f'<form method="post" action="{e(form, quote=True)}"><button type="submit">{e(title)}</button></form>'
              if form else "")  # fmt: skip
    text = (f'<!doctype html><html lang="{e(language, quote=True)}"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width">'
            f"<meta name=\"robots\" content=\"noindex\"><title>{e(title)}</title></head><body>{body}{button}"
            "</body></html>")  # fmt: skip
    return web.Response(text=text, content_type="text/html", status=status,
                        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer",
                                 "Content-Security-Policy": "default-src 'none'; form-action 'self'"})  # fmt: skip


class LinkActions:
    def __init__(self, signer: Signer, buttons: Buttons, outbox: Outbox, language: str) -> None:
        self._signer = signer
        self._buttons = buttons
        self._outbox = outbox
        self._words = catalogue.of(language).labels
        self._language = language

    async def handle(self, request: web.Request) -> web.Response:
        words = self._words
        note, action = request.match_info["note"], request.match_info["action"]
        query = request.query
        if not (NOTE.fullmatch(note) and action in BUTTONS and self._signer.valid(
                int(note), action, query.get("exp", ""), query.get("sig", ""), time.time())):  # fmt: skip
            return page(words["link_invalid"], [words["link_invalid"]], self._language, status=403)
        if request.method == "POST":
            forwarded = request.headers.get("X-Forwarded-For", "").split(",")[0].strip()
            remote = re.sub(r"[^0-9A-Za-z.:\[\]-]", "", forwarded or request.remote or "?")[:64]
            return page(words["link_done"], [await self._buttons.from_link(int(note), action, remote)], self._language)
        found = await self._outbox.read(notifications.find, int(note))
        if found is None:
            return page(words["answer_unknown"], [words["answer_unknown"]], self._language, status=404)
        labels = parse_webhook(found.payload).commonLabels
        alert = " · ".join(v for v in (labels.get("alertname", ""), labels.get("instance", "")) if v)
        confirm = words["link_confirm"].format(action=words[f"button_{action}"], alert=alert)
        return page(words["link_button"], [confirm], self._language, form=request.path_qs)
