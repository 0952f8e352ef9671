"""`costwarden-receiver resend`: parked message parts queued again once their channel is fixed (a wrong token, a
revoked webhook, a bot removed from the chat park every part until someone acts; fixing it brought none back).

It writes to the outbox beside a running receiver, which picks the parts up within a second (dispatch.POLL_SECONDS),
or at its next start. Parts are left parked, and said so, when their channel is no longer configured (they would only
park again) or when a later part of the same alert's queue was delivered or is on its way (an old firing must not
arrive after its resolution).
"""

from __future__ import annotations

import time
from collections import defaultdict
from datetime import UTC, datetime

from receiver.settings import Settings
from receiver.store import sends
from receiver.store.db import OutboxError
from receiver.store.outbox import Outbox


async def resend(settings: Settings, channel: str | None, hours: float, dry_run: bool) -> list[str]:
    """What was (or, with `dry_run`, would be) queued again and what was left, a line per channel and reason."""
    if not settings.outbox_path.exists():  # opening would make an empty one and find nothing parked in it
        raise OutboxError(f"no outbox at {settings.outbox_path}: is data_dir the receiver's ({settings.data_dir})?")
    outbox = Outbox(settings.outbox_path, settings.intake.dedup_window_seconds)
    await outbox.open()
    try:
        now = time.time()
        found = await outbox.read(sends.parked, now - hours * 3600, channel)
        configured = {c.name for c in settings.channels}
        chosen = [p.id for p in found if p.channel in configured and not p.superseded]
        if chosen and not dry_run:
            chosen = await outbox.write(sends.requeue, chosen, now)
    finally:
        await outbox.close()
    if not found:
        return [f"nothing parked in the last {hours:g} h" + (f" for {channel}" if channel else "")]
    lines = []
    for name, parts in _by_channel([p for p in found if p.id in chosen]).items():
        oldest = datetime.fromtimestamp(parts[0].parked_at, UTC).strftime("%Y-%m-%d %H:%M")
        done = "would be sent again" if dry_run else "queued again"
        lines.append(f"{name}: {len(parts)} parked part(s) {done} (the first parked at {oldest} UTC; last reason: "
                     f"{parts[-1].error or 'none recorded'})")  # fmt: skip
    for name, parts in _by_channel([p for p in found if p.channel not in configured]).items():
        lines.append(f"{name}: {len(parts)} parked part(s) left: no channel named {name} is configured")
    left = [p for p in found if p.channel in configured and p.id not in chosen]
    for name, parts in _by_channel([p for p in left if p.superseded]).items():
        lines.append(f"{name}: {len(parts)} parked part(s) left: a later message of the same alert was delivered or "
                     "is on its way")  # fmt: skip
    for name, parts in _by_channel([p for p in left if not p.superseded]).items():  # changed since they were listed
        lines.append(f"{name}: {len(parts)} part(s) left: no longer parked, or overtaken by a later message meanwhile "
                     "(another resend at the same time?)")  # fmt: skip
    if chosen and not dry_run:
        lines.append("the receiver must run on the fixed configuration (restart it after the fix, or it parks them "
                     "again): a running receiver sends them within seconds, a stopped one when it starts")  # fmt: skip
    return lines


def _by_channel(parts: list[sends.Parked]) -> dict[str, list[sends.Parked]]:
    out: dict[str, list[sends.Parked]] = defaultdict(list)
    for part in parts:
        out[part.channel].append(part)
    return dict(out)
