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
import secrets
from dataclasses import dataclass
from pathlib import Path

LIFETIME = 7 * 86400.0
"""A link acts for a week: long enough for any incident, short enough that an old mail is not a key for ever."""
KEY_FILE = "links.key"


@dataclass(frozen=True)
class Signer:
    base: str
    """The receiver as people reach it (receiver_url)."""
    key: bytes

    def url(self, note: int, action: str, now: float) -> str:
        expires = int(now + LIFETIME)
        return f"{self.base.rstrip('/')}/act/{note}/{action}?exp={expires}&sig={self._sign(note, action, expires)}"

    def valid(self, note: int, action: str, expires: str, sig: str, now: float) -> bool:
        """Whether the link was made here for this notification and action, and has not expired."""
        if not expires.isdigit() or int(expires) < now:
            return False
        return hmac.compare_digest(sig, self._sign(note, action, int(expires)))

    def _sign(self, note: int, action: str, expires: int) -> str:
        return hmac.new(self.key, f"{note}:{action}:{expires}".encode(), hashlib.sha256).hexdigest()


def key(data_dir: Path) -> bytes:
    """The data directory's link key, made on first use (32 random bytes, readable by the receiver alone)."""
    path = data_dir / KEY_FILE
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # made a moment ago by another process on the same directory (send-test)
            return path.read_bytes()
        with os.fdopen(fd, "wb") as out:
            out.write(secrets.token_bytes(32))
    return path.read_bytes()
