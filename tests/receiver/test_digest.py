"""The spend digest against the real Prometheus loaded with two scenario histories (a normal fortnight, and one with
a miner and its alerts), its numbers checked against sums computed here from the simulated usage itself."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import re
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import pytest
from pydantic import ValidationError

from costwarden import yamlfile
from receiver.delivery.deliverer import Deliverer
from receiver.digest import facts as digest
from receiver.digest import schedule
from receiver.digest.digester import Digester, compose
from receiver.digest.render import render_digest
from receiver.facts.prometheus import Prometheus
from receiver.metrics import Metrics
from receiver.services import open_services
from receiver.settings import Prometheus as PrometheusSettings
from receiver.settings import Settings
from receiver.store import digests, sends
from receiver.store.outbox import Outbox
from receiver.store.sends import Send
from tests.receiver.conftest import dead_url
from tests.support.detection import synth
from tests.support.detection.engine import Points, import_series, serve
from tests.support.fakes import served
from tests.support.fakes.ollama import FakeOllama

ROOT = Path(__file__).parents[2]
ZONE = "Europe/Berlin"
END = float(int(time.time()) // 60 * 60)
DAYS = 16
BASE = END - DAYS * 86400
PRICE = synth.PRICES
NEEDED = {"costwarden_cost_total", "costwarden_info", "costwarden_bill_total", "costwarden_bill_fixed_period",
          "costwarden_billing_period_end_timestamp_seconds", "costwarden_egress_period_bytes",
          "costwarden_egress_included_bytes", "costwarden_plan_price_per_hour"}  # fmt: skip
SEND_DAY = datetime.fromtimestamp(END, UTC).astimezone(schedule.ZoneInfo(ZONE)).date() - timedelta(days=1)
"""Digests are sent on the day before the history ends: the day and the week they sum are wholly in it."""


def settings(tmp_path: Path, prometheus_url: str, **extra: Any) -> Settings:
    return Settings.model_validate({
        "data_dir": str(tmp_path / "data"), "prometheus": {"url": prometheus_url},
        "ollama": extra.pop("ollama", {"enabled": False}), "grafana_url": "http://grafana.example:3000",
        "channels": [{"type": "file", "path": str(tmp_path / "sent.jsonl")}],
        "digest": {"timezone": ZONE, "weekly": {"enabled": True, "weekday": SEND_DAY.strftime("%A").lower()}},
        **extra,
    })  # fmt: skip


def minute(ts: float) -> int:
    return round((ts - BASE) / 60)


def spent(host: synth.Host, start: float, end: float, cgroup: str = "/", resource: str | None = None) -> float:
    """Money of the minutes in (start, end], from the simulated usage: what increase() should find."""
    a, b = minute(start) + 1, minute(end) + 1
    return float(
        sum((u[a:b] * PRICE[r] / 60).sum() for (c, r), u in host.usage.items() if c == cgroup and resource in (None, r))
    )


def host(name: str, seed: int, spike: tuple[float, float] | None) -> synth.Host:
    h = synth.steady_host(name, DAYS * 1440, seed=seed)
    if spike:
        synth.spike(h, ("app", "cpu"), minute(spike[0]), minute(spike[1]), 12.0)
    return h


def alerts(instance: str, runs: list[tuple[str, float, float]]) -> Points:
    """ALERTS as the rule evaluation writes them: one sample a minute while firing."""
    out: Points = []
    for severity, start, end in runs:
        labels = {"alertname": "CostwardenCostSpike", "alertstate": "firing", "severity": severity,
                  "instance": instance, "job": synth.JOB, "cgroup": "app", "resource": "cpu"}  # fmt: skip
        out.append(("ALERTS", labels, [(t, 1.0) for t in np.arange(start, end, 60.0)]))
    return out


def points(h: synth.Host) -> Points:
    out: Points = []
    for s in synth.host_series(h, BASE, synth.Billing()):
        if s.metric in NEEDED:
            keep = 1 if s.metric == "costwarden_cost_total" else 2  # gauges every 2 minutes are plenty
            out.append((s.metric, s.labels, list(zip(s.timestamps[::keep], s.values[::keep], strict=True))))
    return out


DAY = schedule.ending_on("day", SEND_DAY, Settings.model_validate({"digest": {"timezone": ZONE}}).digest)
D0, D1 = DAY.start.timestamp(), DAY.end.timestamp()
SPIKE = (D0 + 8 * 3600, D0 + 18 * 3600)
CALM = host("calm", 3, None)
HIT = host("hit", 4, SPIKE)
RUNS = [("critical", SPIKE[0] + 600, SPIKE[0] + 600 + 47 * 60), ("warning", SPIKE[0], SPIKE[0] + 3600),
        ("warning", SPIKE[0] + 90 * 60, SPIKE[0] + 120 * 60), ("warning", D0 - 3 * 3600, D0 - 2 * 3600)]  # fmt: skip
"""Critical 47 minutes; warning twice (60 + 30 min, half an hour apart); and once the day before, outside."""


def watchdog() -> Points:
    """The always-firing CostwardenWatchdog, as every install records it: never an alert of the day."""
    labels = {"alertname": "CostwardenWatchdog", "alertstate": "firing", "severity": "info"}
    return [("ALERTS", labels, [(t, 1.0) for t in np.arange(D0 - 86400, D1 + 3600, 60.0)])]


@pytest.fixture(scope="module")
def calm_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    workdir = tmp_path_factory.mktemp("calm")
    import_series(points(CALM) + watchdog(), workdir / "data", workdir)
    with serve(workdir / "data", workdir) as url:
        yield url


@pytest.fixture(scope="module")
def hit_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    workdir = tmp_path_factory.mktemp("hit")
    import_series(points(HIT) + alerts("hit", RUNS), workdir / "data", workdir)
    with serve(workdir / "data", workdir) as url:
        yield url


async def gathered(url: str, period: schedule.Period, now: float) -> digest.DigestFacts:
    async with aiohttp.ClientSession() as session:
        return await digest.gather(Prometheus(session, PrometheusSettings(url=url, timeout_seconds=10)), period, now)


def close(value: float | None, expected: float, rel: float = 0.01) -> bool:
    return value is not None and abs(value - expected) <= rel * abs(expected)


# --- numbers ------------------------------------------------------------------------------------------------------


async def test_a_normal_day_in_numbers(calm_url: str) -> None:
    now = DAY.due.timestamp()
    d = await gathered(calm_url, DAY, now)
    week_ago, day_before = DAY.shifted(-7), DAY.shifted(-1)
    assert d.context_error is None and d.currency == "USD"
    assert close(d.total, spent(CALM, D0, D1))
    assert close(d.previous, spent(CALM, day_before.start.timestamp(), D0))
    assert close(d.week_before, spent(CALM, week_ago.start.timestamp(), week_ago.end.timestamp()))
    assert close(d.change_pct, (spent(CALM, D0, D1) / spent(CALM, day_before.start.timestamp(), D0) - 1) * 100, 0.05)
    by_resource = {x.name: x.amount for x in d.by_resource}
    for resource in ("cpu", "memory", "disk", "network_egress"):
        assert close(by_resource[resource], spent(CALM, D0, D1, "/", resource)), resource
    workloads = {x.name: x.amount for x in d.top_workloads}
    assert set(workloads) == {"app", "db", "backup"}
    for name in workloads:
        assert close(workloads[name], spent(CALM, D0, D1, name)), name
    (h,) = d.hosts
    assert h.bill is not None and h.egress is not None
    hours_in = (minute(now) + 12 * 1440) / 60  # the billing period started 12 days before the history
    assert close(h.bill.month_to_date, min(synth.PLAN_HOURLY * hours_in, synth.PLAN_MONTHLY))
    sent_gib = 120 + sum(CALM.usage[("/", "network_egress")][: minute(now) + 1]) / 60
    assert close(h.egress.used_gib, sent_gib) and h.egress.included_gib == 1000
    assert d.alerts == [] and d.verdict == "normal" and [r.code for r in d.reasons] == ["quiet"]


async def test_a_day_with_an_incident(hit_url: str) -> None:
    d = await gathered(hit_url, DAY, DAY.due.timestamp())
    assert close(d.total, spent(HIT, D0, D1))
    assert d.change_pct is not None and d.change_pct > 25
    app = next(x for x in d.top_workloads if x.name == "app")
    assert d.top_workloads[0].name == "app" and close(app.amount, spent(HIT, D0, D1, "app"))
    spans = {(a.severity, a.times): a.minutes for a in d.alerts}
    assert set(spans) == {("critical", 1), ("warning", 2)}  # the day before's warning is not this day's
    # A backfilled series has no staleness marker, so Prometheus shows its last sample for up to 5 more minutes;
    # the rule manager writes one when an alert resolves, which live data therefore does not have.
    assert 47 <= spans[("critical", 1)] <= 47 + 5 and 90 <= spans[("warning", 2)] <= 90 + 2 * 5
    assert d.alerts[0].severity == "critical" and d.alerts[0].subject == "app cpu" and d.alerts[0].instance == "hit"
    assert d.verdict == "act"
    assert [r.code for r in d.reasons][:3] == ["critical_alert", "warning_alert", "spend_up"]


async def test_a_week_sums_seven_local_days(hit_url: str) -> None:
    week = schedule.ending_on("week", SEND_DAY, settings(Path("/tmp"), hit_url).digest)
    d = await gathered(hit_url, week, week.due.timestamp())
    start, end = week.start.timestamp(), week.end.timestamp()
    before = week.shifted(-7)
    assert close(d.total, spent(HIT, start, end))
    assert close(d.previous, spent(HIT, before.start.timestamp(), start))
    assert d.week_before is None and d.kind == "week" and d.first_day == (SEND_DAY - timedelta(days=7)).isoformat()
    assert {a.severity for a in d.alerts} == {"critical", "warning"} and d.verdict == "act"


async def test_no_prometheus_says_so_instead_of_all_quiet() -> None:
    d = await gathered(dead_url(), DAY, DAY.due.timestamp())
    assert d.context_error and d.verdict == "watch" and [r.code for r in d.reasons] == ["unreadable"]
    text = render_digest(d, language="en", grafana_url=None, window_ms=(0, 1)).plain()
    assert "Prometheus could not be read" in text and "No alert fired" not in text


def test_verdict_rules() -> None:
    base = digest.DigestFacts(
        kind="day", first_day="2026-11-27", last_day="2026-11-27", timezone="UTC",
        total=2.0, previous=1.0, change_pct=100.0, week_before=1.9, week_before_change_pct=5.26,
    )  # fmt: skip
    assert digest.judge(base, plan_money=0.2)[0].code == "quiet"  # up on the day before, not on last week's
    up = base.model_copy(update={"week_before": 1.0, "week_before_change_pct": 100.0})
    assert digest.judge(up, plan_money=0.2)[0].code == "spend_up"
    assert digest.judge(up, plan_money=100.0)[0].code == "quiet"  # a rise too small to matter on this plan
    bill = digest.f.bill(5.0, 9.0, 0.0, 0.0, 86400 * 10, 10.0)
    near = base.model_copy(update={"hosts": [digest.HostBill(instance="vps", bill=bill, egress=None)]})
    assert [(r.code, r.verdict) for r in digest.judge(near, 0.2)] == [("budget_near", "watch")]
    over = digest.f.bill(5.0, 9.0, 0.5, 1e-6, 86400 * 10, 9.0)
    broke = base.model_copy(update={"hosts": [digest.HostBill(instance="vps", bill=over, egress=None)]})
    assert [(r.code, r.verdict) for r in digest.judge(broke, 0.2)] == [("over_budget", "act"),
                                                                      ("egress_overage", "watch")]  # fmt: skip
    # Traffic billed by the GB from the first one (a CVM paying by traffic: no quota): its money is the plan's
    # ordinary spend, not a quota passed — no "watch" every day, and the quota's words are not said.
    by_gb = digest.f.bill(5.0, 9.0, 0.4, 1e-6, 86400 * 10, None)
    metered = digest.f.egress(2 * 2**30, 1000.0, 86400 * 10, 0.0)
    cvm = base.model_copy(update={"hosts": [digest.HostBill(instance="cvm", bill=by_gb, egress=metered)]})
    assert [(r.code, r.verdict) for r in digest.judge(cvm, 0.2)] == [("quiet", "normal")]
    said = render_digest(cvm.model_copy(update={"reasons": digest.judge(cvm, 0.2)}), language="en", grafana_url=None,
                         window_ms=(0, 1)).plain()  # fmt: skip
    assert "billed by the GB: forecast" in said and "overage" not in said and "included" not in said
    capped = digest.HostBill(instance="vps", bill=by_gb, egress=digest.f.egress(2**30, 1e6, 864000, 2**30))
    quota = base.model_copy(update={"hosts": [capped]})
    assert [r.code for r in digest.judge(quota, 0.2)] == ["egress_overage"]  # past a quota it is still said


# --- scheduling ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "spring", "autumn"),
    [("Europe/Berlin", date(2026, 3, 29), date(2026, 10, 25)), ("America/New_York", date(2026, 3, 8),
     date(2026, 11, 1)), ("Australia/Sydney", date(2026, 10, 4), date(2026, 4, 5))],
)  # fmt: skip
@pytest.mark.parametrize("at", ["09:00", "02:30"])
def test_one_digest_per_local_day_across_dst(zone: str, spring: date, autumn: date, at: str) -> None:
    cfg = Settings.model_validate({"digest": {"timezone": zone, "daily": {"at": at}}}).digest
    tz = cfg.zone
    for change in (spring, autumn):
        now = datetime.combine(change - timedelta(days=3), datetime.min.time(), tzinfo=tz)
        sent: list[datetime] = []
        while now.date() < change + timedelta(days=3):
            now = schedule.following("day", cfg, now)
            sent.append(now)
        days = [s.astimezone(tz).date() for s in sent]
        assert days == [change - timedelta(days=3) + timedelta(days=i) for i in range(len(days))]  # once a day
        for s in sent:
            period = schedule.latest("day", cfg, s)
            assert period.due == s and period.last_day == s.date() - timedelta(days=1)
            assert period.start.time().hour == 0 and period.end.time().hour == 0  # local midnights
            hours = period.seconds / 3600
            assert hours == (23 if period.first_day == spring else 25 if period.first_day == autumn else 24)
            wall = s.astimezone(tz).strftime("%H:%M")
            # 02:30 does not exist on the spring-forward night in Europe and America: it is sent at 03:30
            assert wall == at or (at == "02:30" and s.date() == spring and wall == "03:30"), (s, wall)
        assert all(b > a for a, b in itertools.pairwise(sent))


def test_weekly_digest_is_due_on_its_weekday() -> None:
    weekly = {"enabled": True, "weekday": "sunday", "at": "18:00"}
    cfg = Settings.model_validate({"digest": {"timezone": "America/New_York", "weekly": weekly}}).digest
    now = datetime(2026, 10, 20, tzinfo=UTC)
    for _ in range(4):
        now = schedule.following("week", cfg, now)
        local = now.astimezone(cfg.zone)
        assert local.strftime("%A %H:%M") == "Sunday 18:00"
        period = schedule.latest("week", cfg, now)
        assert period.end.date() == local.date() and period.days == 7
        assert period.seconds / 3600 == (169 if period.first_day <= date(2026, 11, 1) < local.date() else 168)
    assert schedule.latest("week", cfg, now - timedelta(seconds=1)).first_day == period.first_day - timedelta(7)


def test_an_unquoted_yaml_time_is_read_as_written() -> None:
    raw = yamlfile.loads("digest: {daily: {at: 10:30}, weekly: {at: 7:05}}", "receiver.yml")
    assert raw["digest"]["daily"]["at"] == "10:30"  # not YAML 1.1's base-60 number 630
    cfg = Settings.model_validate(raw).digest
    assert (cfg.daily.at.hour, cfg.daily.at.minute, cfg.weekly.at.hour, cfg.weekly.at.minute) == (10, 30, 7, 5)
    assert Settings.model_validate(yamlfile.loads("digest: {daily: {at: '00:09'}}", "x")).digest.daily.at.minute == 9
    with pytest.raises(ValidationError, match=re.escape("valid time format")):
        Settings.model_validate(yamlfile.loads("digest: {daily: {at: 0930}}", "receiver.yml"))  # text, not a time


@pytest.mark.parametrize("written", ["9", "900", "9.30", "1500"])
def test_a_bare_number_is_refused_as_a_time(written: str) -> None:
    """Found in operators' trials: `at: 9` was read as 00:09 and `at: 900` (09:00 written as soldiers do) as 15:00,
    the base-60 reading YAML 1.1 gives `15:00`. The file loader reads `15:00` as the text it is, so a number is
    never a time: it is refused, saying how to write one."""
    raw = yamlfile.loads(f"digest: {{daily: {{at: {written}}}}}", "receiver.yml")
    with pytest.raises(ValidationError, match=re.escape("write the time as '09:00'")):
        Settings.model_validate(raw)


# --- the schedule running: restarts, late digests, two receivers ----------------------------------------------------


@pytest.fixture
async def stack(tmp_path: Path, calm_url: str) -> AsyncIterator[tuple[Settings, Any]]:
    """A digester factory over a real outbox, the real Prometheus and a file channel, with its clock in hand."""
    cfg = settings(tmp_path, calm_url, digest={"timezone": ZONE}, prometheus={"url": calm_url, "timeout_seconds": 10})
    made: list[tuple[Outbox, contextlib.AsyncExitStack]] = []

    async def digester(clock: float) -> Digester:
        outbox = Outbox(cfg.outbox_path, 3600)
        await outbox.open()
        opened = contextlib.AsyncExitStack()
        made.append((outbox, opened))
        services = await opened.enter_async_context(open_services(cfg, Metrics(), outbox))
        deliverer = Deliverer(cfg.delivery, outbox, services.channels, services.metrics)
        return Digester(services, outbox, deliverer, clock=lambda: clock)

    yield cfg, digester
    for outbox, opened in made:
        await opened.aclose()
        await outbox.close()


def queued(cfg: Settings, kind: str = "digest") -> list[tuple[str, str]]:
    with sqlite3.connect(cfg.outbox_path) as db:
        return db.execute("SELECT n.dedup_key, s.channel FROM sends s JOIN notifications n ON n.id = s.notification_id"
                          " WHERE s.kind = ? ORDER BY s.id", (kind,)).fetchall()  # fmt: skip


async def test_restart_over_the_send_time_sends_once_marked_late(stack: tuple[Settings, Any]) -> None:
    cfg, digester = stack
    due = DAY.due.timestamp()  # SEND_DAY 09:00 Berlin
    first = await digester(due - 600)
    since = await first._outbox.write(digests.schedule_since, "digest:day", due - 600)  # running at 08:50 ...
    assert await first.run_due("day", due - 600, since) == []  # ... nothing is due yet; then it stops
    later = await digester(due + 2.5 * 3600)  # back at 11:30
    since = await later._outbox.write(digests.schedule_since, "digest:day", due + 2.5 * 3600)
    assert since == due - 600  # the schedule was running before 09:00: this morning's digest was missed
    assert await later.run_due("day", due + 2.5 * 3600, since) == ["file"]
    assert await later.run_due("day", due + 2.6 * 3600, since) == []  # once
    again = await digester(due + 3 * 3600)  # and once across a restart
    assert await again.run_due("day", due + 3 * 3600, since) == []
    assert queued(cfg) == [(DAY.key, "file")]
    with sqlite3.connect(cfg.outbox_path) as db:
        (rendered,) = db.execute("SELECT rendered FROM notifications WHERE status = 'digest'").fetchone()
    assert f"Sent late: it was due {SEND_DAY.isoformat()} 09:00 ({ZONE})" in rendered


async def test_a_week_away_brings_one_digest_and_a_fresh_install_none_late(stack: tuple[Settings, Any]) -> None:
    cfg, digester = stack
    due = DAY.due.timestamp()
    fresh = await digester(due + 3600)
    since = await fresh._outbox.write(digests.schedule_since, "digest:day", due + 3600)  # installed at 10:00
    assert await fresh.run_due("day", due + 3600, since) == []  # this morning's was never missed
    ago = due - 6 * 86400  # pretend the schedule had been running six days earlier
    assert await fresh.run_due("day", due + 3600, ago) == ["file"]
    assert [key for key, _ in queued(cfg)] == [DAY.key]  # the latest day only, not one per missed day


async def test_a_channel_listed_twice_gets_the_digest_once(tmp_path: Path) -> None:
    """`digest.channels: [tg, tg]` passes validation; claiming queued the same send twice and the second INSERT
    failed the whole digest, every minute, forever."""
    outbox = Outbox(tmp_path / "outbox.sqlite3", 3600)
    await outbox.open()
    try:
        twice = [Send("digest:k", "file", "digest", 0, 1, "{}")] * 2
        assert await outbox.write(digests.claim, "k", "{}", "text", twice, time.time()) == ["file"]
        assert len(await outbox.read(sends.due, 10, time.time(), 300)) == 1
    finally:
        await outbox.close()


async def test_two_receivers_on_one_outbox_send_it_once(stack: tuple[Settings, Any]) -> None:
    cfg, digester = stack
    due = DAY.due.timestamp()
    one, two = await digester(due + 60), await digester(due + 60)
    claimed = await asyncio.gather(one.run_due("day", due + 60, 0), two.run_due("day", due + 60, 0))
    assert sorted(claimed) == [[], ["file"]]
    assert queued(cfg) == [(DAY.key, "file")]


async def test_the_served_receiver_delivers_a_missed_digest(tmp_path: Path, calm_url: str) -> None:
    """The real app: a schedule recorded as running since yesterday, so today's time has passed unsent. The daily time
    is three hours ago wherever the clock stands (at 09:00 Berlin it failed from 09:00 to 09:15, the digest due minutes
    ago and not yet late: CI ran at 09:07)."""
    from zoneinfo import ZoneInfo

    from aiohttp.test_utils import TestClient, TestServer

    from receiver.app import create_app

    at = (datetime.now(ZoneInfo(ZONE)) - timedelta(hours=3)).strftime("%H:%M")
    cfg = settings(tmp_path, calm_url, digest={"timezone": ZONE, "daily": {"at": at}})
    outbox = Outbox(cfg.outbox_path, 3600)
    await outbox.open()
    await outbox.write(digests.schedule_since, "digest:day", time.time() - 2 * 86400)
    await outbox.close()
    async with TestClient(TestServer(create_app(cfg))) as client:
        deadline = time.monotonic() + 30
        while not (tmp_path / "sent.jsonl").exists() and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        metrics = await (await client.get("/metrics")).text()
    assert 'costwarden_receiver_digests_total{late="true",period="day",verdict="normal"} 1.0' in metrics
    sent, chart = (json.loads(line) for line in (tmp_path / "sent.jsonl").read_text().splitlines())
    assert sent["kind"] == "digest" and sent["title"].startswith("Daily spend digest")
    assert "Sent late" in sent["text"]
    # The day's chart after it: the day against the day before and the same day last week.
    assert chart["kind"] == "chart" and chart["title"] == sent["title"]
    assert chart["caption"].startswith("Cost per hour, ") and "against the day before" in chart["caption"]
    assert Path(chart["file"]).read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


# --- words ---------------------------------------------------------------------------------------------------------


async def test_the_model_comment_is_grounded_or_left_out(hit_url: str) -> None:
    fake = FakeOllama(modes=["good", "invented", "invented"])
    async with served(fake.app()) as url:
        cfg = Settings.model_validate({"ollama": {"host": url}, "digest": {"timezone": ZONE},
                                       "prometheus": {"url": hit_url, "timeout_seconds": 10}})  # fmt: skip
        async with open_services(cfg, Metrics(), None) as services:
            facts, good = await compose(services, DAY, DAY.due.timestamp(), late=False)
            _, bad = await compose(services, DAY, DAY.due.timestamp(), late=False)
    text = good.plain()
    assert f"{facts.total:g} USD spent; `app` cost" in text and "Comment by llama3.2:3b" in text
    assert "987.65" not in bad.plain() and "Comment by" not in bad.plain()  # rejected twice: no comment at all
    assert "comment" in json.dumps(fake.requests[0]["format"])


@pytest.mark.parametrize("language", ["en", "zh"])
def test_every_channel_renders_long_names_and_cjk(language: str) -> None:
    from receiver import settings as s
    from receiver.delivery.channels import chat
    from receiver.delivery.channels.mail import EmailChannel
    from tests.support.fakes.chat import telegram_html_problem, utf16

    long = "<b>x</b>-" + "挖矿容器" * 60 + "-" + "y" * 300
    lines = [digest.SpendLine(name=f"{long}{i}", instance="", amount=0.1 * i, previous=0.05, change_pct=100.0)
             for i in range(20)]  # fmt: skip
    spans = [digest.AlertSpan(name="CostwardenCostSpike", severity="warning", instance=long, subject="app cpu",
                              times=2, minutes=90.0)] * 10  # fmt: skip
    d = digest.DigestFacts(kind="day", first_day="2026-11-27", last_day="2026-11-27", timezone=ZONE, currency="EUR",
                           total=3.0, previous=1.0, change_pct=200.0, by_resource=lines[:4], top_workloads=lines,
                           alerts=spans, alerts_more=3)  # fmt: skip
    d.reasons = digest.judge(d, 0.1)
    message = render_digest(d, language=language, grafana_url="http://g:3000", window_ms=(1, 2))
    assert message.title.startswith("每日支出摘要" if language == "zh" else "Daily spend digest")
    telegram = chat.TelegramChannel(s.TelegramChannel(type="telegram", bot_token="t", chat_id=1), None)  # type: ignore[arg-type]
    parts = telegram.render(message)
    assert len(parts) > 1
    for part in parts:
        assert utf16(part["text"]) <= 4096 and telegram_html_problem(part["text"]) == ""
    assert "<b>x</b>-挖矿" not in "".join(p["text"] for p in parts)  # escaped
    slack = chat.SlackChannel(s.SlackChannel(type="slack", webhook_url="http://x"), None).render(message)  # type: ignore[arg-type]
    for part in slack:
        assert len(part["blocks"]) <= 50 and len(part["blocks"][0]["text"]["text"]) <= 150
    discord = chat.DiscordChannel(s.DiscordChannel(type="discord", webhook_url="http://x"), None).render(message)  # type: ignore[arg-type]
    for part in discord:
        (embed,) = part["embeds"]
        assert len(embed["title"]) + len(embed["description"]) + len(embed["footer"]["text"]) <= 6000
    (mail,) = EmailChannel(s.EmailChannel(type="email", host="h", sender="a@b.c", to=["d@e.f"])).render(message)
    assert "<b>x</b>" not in mail["html"] and "&lt;b&gt;x&lt;/b&gt;" in mail["html"] and "挖矿容器" in mail["text"]
    assert "http://g:3000/d/costwarden-overview/?from=1&amp;to=2" in mail["html"]


# --- the command ---------------------------------------------------------------------------------------------------


def test_digest_dry_run_prints_and_now_sends(tmp_path: Path, hit_url: str) -> None:
    config = tmp_path / "receiver.yml"
    config.write_text(json.dumps({
        "prometheus": {"url": hit_url}, "ollama": {"enabled": False, "language": "zh"},
        "channels": [{"type": "file", "path": str(tmp_path / "sent.jsonl")}], "data_dir": str(tmp_path / "data"),
    }))  # fmt: skip
    cli = [sys.executable, "-m", "receiver", "digest", "--config", str(config)]
    dry = subprocess.run([*cli, "--dry-run", "--period", "week"], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.startswith("每周支出摘要") and "结论" in dry.stdout and not (tmp_path / "sent.jsonl").exists()
    now = subprocess.run([*cli, "--now"], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert now.returncode == 0, now.stderr
    assert now.stdout.splitlines() == ["file: 已发送", "file 图表: 已发送"], now.stdout + now.stderr
    digest, chart = (json.loads(line) for line in (tmp_path / "sent.jsonl").read_text().splitlines())
    assert digest["title"].startswith("每日支出摘要")
    assert chart["kind"] == "chart" and chart["caption"].startswith("每小时费用")
    usage = subprocess.run(cli, capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert usage.returncode == 2 and "--now" in usage.stderr
