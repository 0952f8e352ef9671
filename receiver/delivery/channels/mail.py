"""Email over SMTP (aiosmtplib): STARTTLS, implicit TLS or none, optional auth, multipart text + HTML."""

from __future__ import annotations

import email.utils
import html
from email.message import EmailMessage

import aiosmtplib

from receiver import settings as s
from receiver.chart import Picture
from receiver.delivery.channels import Body, Permanent, RetryLater, instead, mark, picture_body, png_of
from receiver.message.render import Message


def as_html(message: Message) -> str:
    e = html.escape
    out = [f"<h2>{e(mark(message))} {e(message.title)}</h2>"]
    if message.headline:
        out.append(f"<p><strong>{e(message.headline)}</strong></p>")
    for section in message.sections:
        if section.heading:
            out.append(f"<h3>{e(section.heading)}</h3>")
        tag = "ol" if section.numbered else "ul"
        out.append(f"<{tag}>" + "".join(f"<li>{e(line)}</li>" for line in section.lines) + f"</{tag}>")
    if message.footer:
        out.append("<p><em>" + "<br>".join(e(x) for x in message.footer.split("\n")) + "</em></p>")
    for row in (message.links, message.act_links):
        if row:
            out.append("<p>" + " · ".join(f'<a href="{e(u, quote=True)}">{e(label)}</a>' for label, u in row))
    return "<!doctype html><html><body>" + "\n".join(out) + "</body></html>"


class EmailChannel:
    def __init__(self, cfg: s.EmailChannel) -> None:
        self.name = cfg.name
        self._cfg = cfg

    def render(self, message: Message) -> list[Body]:
        return [
            {
                "subject": f"{mark(message)} {message.title}"[:200],
                "html": as_html(message),
                "text": "\n".join([message.plain(), *(f"{label}: {url}" for label, url in message.act_links)]),
            }
        ]

    def picture(self, picture: Picture) -> list[Body]:
        return [{**picture_body(picture), "subject": f"📈 {picture.title}"[:200]}]

    async def send(self, body: Body, reply_to: str | None) -> str | None:
        if "png" not in body:
            return await self._send(self._message(body["subject"], body["text"], body["html"]))
        cid = email.utils.make_msgid(domain="costwarden")
        e = html.escape
        page = (f"<!doctype html><html><body><p>{e(body['caption'])}</p><p><img src=\"cid:{cid[1:-1]}\" "
                f"alt=\"{e(body['caption'], quote=True)}\" width=\"800\"></p></body></html>")  # fmt: skip
        msg = self._message(body["subject"], body["caption"], page)
        html_part = msg.get_body(("html",))
        if not isinstance(html_part, EmailMessage):  # _message always makes one
            raise Permanent("no HTML part to attach the chart to")
        html_part.add_related(png_of(body), "image", "png", cid=cid, filename="chart.png")
        try:
            return await self._send(msg)
        except Permanent as exc:  # too big for the server (552), say so in words instead
            text = instead(body, exc.reason)
            return await self._send(self._message(body["subject"], text, f"<pre>{e(text)}</pre>"))

    def _message(self, subject: str, text: str, page: str) -> EmailMessage:
        cfg = self._cfg
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = cfg.sender, ", ".join(cfg.to), subject
        msg.set_content(text)
        msg.add_alternative(page, subtype="html")
        return msg

    async def _send(self, msg: EmailMessage) -> str | None:
        cfg = self._cfg
        try:
            await aiosmtplib.send(
                msg, hostname=cfg.host, port=cfg.port, username=cfg.username, password=cfg.password,
                use_tls=cfg.security == "tls", start_tls=cfg.security == "starttls" or None,
                timeout=cfg.timeout_seconds,
            )  # fmt: skip
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            reason = "; ".join(f"{r.recipient}: SMTP {r.code} {r.message}" for r in exc.recipients)
            if all(code >= 500 for code in codes):
                raise Permanent(reason) from exc
            raise RetryLater(reason) from exc
        except aiosmtplib.SMTPResponseException as exc:
            reason = f"SMTP {exc.code}: {exc.message}"
            if 400 <= exc.code < 500:
                raise RetryLater(reason) from exc
            raise Permanent(reason) from exc
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise RetryLater(f"SMTP {cfg.host}:{cfg.port}: {exc}") from exc
        return None
