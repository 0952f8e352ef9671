"""Signed links to an alert's actions (silence 1 h / 24 h, acknowledge, expected) for the channels without buttons:
Slack, Discord, email, the robots — only when people can reach the receiver (`receiver_url`).

A link is `<receiver_url>/act/<notification>/<action>?exp=<unix time>&sig=<HMAC-SHA256>` over the three, keyed by a
secret the receiver makes once in its data directory (`links.key`, 0600): it cannot be forged nor changed to another
alert or action, and it expires after LIFETIME. Opening it (GET: what a link preview or a mail scanner does) only
shows what it would do and a Confirm button; the POST of that button acts, through the same code and audit trail as
a Telegram button. Running a remediation stays on Telegram, where the person who taps is known.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

LIFETIME = 7 * 86400.0
"""A link acts for a week: long enough for any incident, short enough that an old mail is not a key for ever."""
KEY_FILE = "links.key"
EXPIRES = re.compile(r"[1-9][0-9]{0,11}", re.ASCII)
SIGNATURE = re.compile(r"[0-9a-f]{64}", re.ASCII)


@dataclass(frozen=True)
class Signer:
    base: str
    """The receiver as people reach it (receiver_url)."""
    key: bytes

    def url(self, note: int, action: str, now: float) -> str:
        expires = int(now + LIFETIME)
        return f"{self.base.rstrip('/')}/act/{note}/{action}?exp={expires}&sig={self._sign(note, action, expires)}"

    def valid(self, note: int, action: str, expires: str, sig: str, now: float) -> bool:
        """Whether the link was made here for this notification and action, and has not expired. Only the exact form
        it was made in (ASCII digits, 64 lowercase hex characters): anything else is not a link of ours."""
        if not (EXPIRES.fullmatch(expires) and SIGNATURE.fullmatch(sig)) or int(expires) < now:
            return False
        return hmac.compare_digest(sig, self._sign(note, action, int(expires)))

    def _sign(self, note: int, action: str, expires: int) -> str:
        return hmac.new(self.key, f"{note}:{action}:{expires}".encode(), hashlib.sha256).hexdigest()


KEY_BYTES = 32


def key(data_dir: Path) -> bytes:
    """The data directory's link key (32 random bytes, readable by the receiver alone), made on first use.

    Made whole or not at all — written to a temporary file, synced, then linked into place — so a crash or a second
    process never leaves an empty key (an empty key is one anyone can sign with). A key file of any other length is
    replaced by a new one; links made with the old one stop working, which is the safe direction."""
    path = data_dir / KEY_FILE
    for _ in range(50):
        if path.exists() and len(found := path.read_bytes()) == KEY_BYTES:
            return found
        data_dir.mkdir(parents=True, exist_ok=True)
        temporary = data_dir / f".{KEY_FILE}.{secrets.token_hex(8)}"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(secrets.token_bytes(KEY_BYTES))
            out.flush()
            os.fsync(out.fileno())
        try:
            if path.exists():  # damaged (short): replaced
                temporary.replace(path)
            else:
                os.link(temporary, path)  # fails if another process made one meanwhile: that one is read next
        except FileExistsError:
            pass
        finally:
            temporary.unlink(missing_ok=True)
    raise RuntimeError(f"{path}: cannot make a {KEY_BYTES}-byte key")
