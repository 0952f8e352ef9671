"""Month-to-date egress that survives restarts and reboots.

Interface counters start at zero on every boot and the exporter may be down for hours; without this file the egress
overage would be under-counted after every restart, which is exactly when a user is least likely to look.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class EgressState:
    period_start: float
    """Unix time the billing period began; a different one means the month rolled over."""
    bytes_this_period: float
    last_counter: float
    """The host's transmit counter at the last sample."""
    boot_id: str


def advance(
    state: EgressState | None, counter: float, boot_id: str, boot_time: float, period_start: float
) -> EgressState:
    """The state after reading `counter`: add what was sent since the last reading, roll over at period start."""
    if state is None:
        # First run ever: everything sent since boot belongs to this period only if the host booted inside it.
        sent = counter if boot_time >= period_start else 0.0
        return EgressState(period_start, sent, counter, boot_id)
    if boot_id != state.boot_id:
        sent = counter  # Rebooted: the counter restarted at zero; what went out after our last reading is lost.
    elif counter >= state.last_counter:
        sent = counter - state.last_counter  # Includes what was sent while the exporter was down.
    else:
        sent = counter  # An interface went away or was re-created.
    total = state.bytes_this_period + sent if period_start == state.period_start else sent
    return EgressState(period_start, total, counter, boot_id)


def load(path: Path) -> EgressState | None:
    """The saved state, or None when there is none yet; a damaged file is reported, not trusted."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise StateError(f"{path}: cannot read the saved egress state: {exc}") from exc
    try:
        return EgressState(
            period_start=float(data["period_start"]),
            bytes_this_period=float(data["bytes_this_period"]),
            last_counter=float(data["last_counter"]),
            boot_id=str(data["boot_id"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise StateError(f"{path}: saved egress state is incomplete or malformed: {exc!r}") from exc


def save(path: Path, state: EgressState) -> None:
    """Write atomically (temp file, fsync, rename) so a crash leaves the old state or the new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        json.dump(asdict(state), fh)
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(path)


class StateError(Exception):
    """The state file exists but cannot be used."""
