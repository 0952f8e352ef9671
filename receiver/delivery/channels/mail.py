"""Email over SMTP (aiosmtplib): STARTTLS, implicit TLS or none, optional auth, multipart text + HTML."""

from __future__ import annotations

import html
from email.message import EmailMessage

import aiosmtplib

from receiver import settings as s
from receiver.delivery.channels import Body, Permanent, RetryLater, mark
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
    if message.links:
        out.append("<p>" + " · ".join(f'<a href="{e(u, quote=True)}">{e(label)}</a>' for label, u in message.links))
    return "<!doctype html><html><body>" + "\n".join(out) + "</body></html>"


class EmailChannel:
    def __init__(self, cfg: s.EmailChannel) -> None:
        self.name = cfg.name
        self._cfg = cfg

    def render(self, message: Message) -> list[Body]:
        return [
            {"subject": f"{mark(message)} {message.title}"[:200], "text": message.plain(), "html": as_html(message)}
        ]

    async def send(self, body: Body, reply_to: str | None) -> str | None:
        cfg = self._cfg
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = cfg.sender, ", ".join(cfg.to), body["subject"]
        msg.set_content(body["text"])
        msg.add_alternative(body["html"], subtype="html")
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
