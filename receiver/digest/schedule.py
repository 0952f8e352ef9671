"""When a digest is due and which days it sums, in the owner's time zone.

Calendar arithmetic is done on dates and only then placed in the zone, so a day is always midnight to midnight local
time (23 or 25 hours when the clocks change) and a digest is due once per local day or week at its local time. A send
time the clocks skip (02:30 on the spring-forward night) is read with the offset before the change, i.e. 03:30 summer
time; a time that happens twice (the fall-back night) is its first occurrence. Both are Python's `fold=0` rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from receiver.settings import WEEKDAYS, Digest

Kind = Literal["day", "week"]
LENGTH_DAYS = {"day": 1, "week": 7}


def local(day: date, at: time, zone: ZoneInfo) -> datetime:
    """`at` on `day` in `zone`, normalised (a skipped time becomes the wall time it maps to)."""
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC).astimezone(zone)


@dataclass(frozen=True)
class Period:
    """The days one digest sums: [start, end) local midnights; `due` is when it is sent."""

    kind: Kind
    first_day: date
    zone: ZoneInfo
    at: time

    @property
    def days(self) -> int:
        return LENGTH_DAYS[self.kind]

    @property
    def due(self) -> datetime:
        return local(self.first_day + timedelta(days=self.days), self.at, self.zone)

    @property
    def start(self) -> datetime:
        return local(self.first_day, time(0), self.zone)

    @property
    def end(self) -> datetime:
        return local(self.first_day + timedelta(days=self.days), time(0), self.zone)

    @property
    def seconds(self) -> float:
        """23, 24 or 25 hours a day: aware datetimes in one zone subtract as wall clocks, timestamps do not."""
        return self.end.timestamp() - self.start.timestamp()

    @property
    def key(self) -> str:
        """Names the period for idempotency: the same days give the same key, whatever the send time."""
        return f"{self.kind}:{self.first_day.isoformat()}"

    @property
    def last_day(self) -> date:
        return self.first_day + timedelta(days=self.days - 1)

    def shifted(self, days: int) -> Period:
        """The same kind of period `days` calendar days earlier (negative) or later."""
        return Period(self.kind, self.first_day + timedelta(days=days), self.zone, self.at)


def _send_day(kind: Kind, cfg: Digest) -> tuple[time, int | None]:
    if kind == "day":
        return cfg.daily.at, None
    return cfg.weekly.at, WEEKDAYS.index(cfg.weekly.weekday)


def ending_on(kind: Kind, send_day: date, cfg: Digest) -> Period:
    """The period whose digest is sent on `send_day`: the day (or seven days) before it."""
    at, _ = _send_day(kind, cfg)
    first = send_day - timedelta(days=LENGTH_DAYS[kind])
    return Period(kind, first, cfg.zone, at)


def latest(kind: Kind, cfg: Digest, now: datetime) -> Period:
    """The most recent period whose send time is at or before `now` (a missed one is this one, once)."""
    at, weekday = _send_day(kind, cfg)
    today = now.astimezone(cfg.zone).date()
    day = today if weekday is None else today - timedelta(days=(today.weekday() - weekday) % 7)
    if local(day, at, cfg.zone) > now:
        day -= timedelta(days=LENGTH_DAYS[kind])
    return ending_on(kind, day, cfg)


def following(kind: Kind, cfg: Digest, now: datetime) -> datetime:
    """The next send time after `now`."""
    current = latest(kind, cfg, now)
    send_day = current.first_day + timedelta(days=2 * current.days)
    return ending_on(kind, send_day, cfg).due


def enabled(cfg: Digest) -> list[Kind]:
    kinds: list[Kind] = []
    if cfg.daily.enabled:
        kinds.append("day")
    if cfg.weekly.enabled:
        kinds.append("week")
    return kinds
