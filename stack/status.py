"""What the running pipeline knows, in a few lines: is the exporter scraped, how much history the baselines have (spike
alerts wait for a day of it), what fired lately, whether each channel delivers, and what is silenced.

Asked of the pipeline's own Prometheus and Alertmanager over loopback (standard library only: `costwarden status` also
runs on the machine's python3 after `costwarden install`). A part that does not answer is one line saying so.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime
from typing import Any

from costwarden.catalogue import cli, duration

HISTORY = "time() - min(prometheus_tsdb_lowest_timestamp_seconds)"
DAYS = "max(instance_cgroup_resource:costwarden_cost_history:days)"
SCRAPE = 'time() - max(timestamp(up{job="costwarden-exporter"}))'
"""timestamp() of a bare selector is the sample's own time; of an expression (`up == 1`) it is the evaluation time."""
UP = 'max(up{job="costwarden-exporter"})'
PAGES = ('max by (alertname, severity) (max_over_time(timestamp(ALERTS{alertstate="firing",'
         'alertname!="CostwardenWatchdog",severity=~"warning|critical"})[7d:1m]))')  # fmt: skip
FIRING = 'ALERTS{alertstate="firing",alertname!="CostwardenWatchdog"}'
SENT = "max by (channel) (max_over_time(costwarden_receiver_last_delivered_timestamp_seconds[7d])) > 0"
"""Not `increase()` of the sent counter: a series first scraped after its first delivery is born at 1, never rises."""
WAITING = "max(costwarden_receiver_sends_waiting)"
OLDEST = "max(costwarden_receiver_sends_oldest_age_seconds)"
PARKED = (
    'sum(increase(costwarden_receiver_deliveries_total{result="parked"}[1d])) > 0.5'
    " and on () max(costwarden_receiver_sends_parked) > 0"
)
"""Parked in the last day and still parked: after `resend`, the line no longer says to resend them."""
FAILING = 'sum by (channel) (increase(costwarden_receiver_deliveries_total{result!="sent"}[1h])) > 0'


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 - our own services on loopback
        return json.load(resp)


def _query(prometheus: str, expr: str) -> list[tuple[dict[str, str], float]]:
    body = _get(f"{prometheus}/api/v1/query?query={urllib.parse.quote(expr)}")
    return [(r["metric"], float(r["value"][1])) for r in body["data"]["result"]]


def ago(seconds: float) -> str:
    minutes = round(seconds / 60)
    if minutes < 1:
        return cli("just_now")
    if minutes < 120:
        return cli("min_ago", n=minutes)
    hours = minutes / 60
    return cli("h_ago", n=f"{hours:.0f}") if hours < 48 else cli("d_ago", n=f"{hours / 24:.0f}")


def history_line(history_seconds: float, days: float | None) -> str:
    """Baseline readiness: spike alerts need a day of history, drops and drift a week."""
    have = history_seconds / 86400
    if have < 1 or days is None:
        left = max(0.0, 86400 - history_seconds) / 3600
        return cli("baseline_first_day", hours=f"{have * 24:.0f}", left=f"{left:.0f}")
    if have < 7:
        return cli("baseline_first_week", days=f"{have:.1f}", drops=f"{7 - have:.1f}", drift=f"{8 - have:.1f}")
    if have < 8:  # drift compares whole days: the week-ago one exists from day 8
        return cli("baseline_day_eight", days=f"{have:.1f}", drift=f"{8 - have:.1f}")
    return cli("baseline_ready", days=f"{have:.0f}")


def lines(ports: dict[str, int], now: float) -> list[str]:
    """What the pipeline on these loopback ports knows (`make run`'s or an install's)."""
    prometheus, alertmanager = (f"http://127.0.0.1:{ports[name]}" for name in ("prometheus", "alertmanager"))
    out: list[str] = []
    try:
        scraped, up = _query(prometheus, SCRAPE), _query(prometheus, UP)
        if not scraped:
            out.append(cli("never_scraped"))
        else:
            answered = cli("answered" if up and up[0][1] == 1 else "not_answered")
            out.append(cli("scraped", ago=ago(scraped[0][1]), answered=answered))
        history = _query(prometheus, HISTORY)
        days = _query(prometheus, DAYS)
        out.append(history_line(history[0][1] if history else 0.0, days[0][1] if days else None))
        firing = sorted({(m.get("alertname", ""), m.get("severity", "")) for m, _ in _query(prometheus, FIRING)})
        out.append(cli("firing", alerts=", ".join(f"{a} ({s})" for a, s in firing) if firing else cli("nothing")))
        pages = sorted(_query(prometheus, PAGES), key=lambda r: -r[1])
        page = f"{pages[0][0]['alertname']} ({pages[0][0]['severity']}) {ago(now - pages[0][1])}" if pages else ""
        out.append(cli("last_page", page=page or cli("no_page")))
        failing = {m.get("channel", ""): v for m, v in _query(prometheus, FAILING)}
        sent = {m.get("channel", ""): v for m, v in _query(prometheus, SENT)}
        for channel in sorted(set(sent) | set(failing)):
            said = cli("delivered", ago=ago(now - sent[channel])) if channel in sent else cli("none_delivered")
            if channel in failing:
                said += cli("failed_once" if round(failing[channel]) == 1 else "failed", n=f"{failing[channel]:.0f}")
            out.append(cli("channel", channel=channel, said=said))
        waiting, oldest = _query(prometheus, WAITING), _query(prometheus, OLDEST)
        if waiting and waiting[0][1] > 0:
            out.append(cli("sends_waiting", n=f"{waiting[0][1]:.0f}", oldest=duration(oldest[0][1] if oldest else 0.0)))
        if parked := _query(prometheus, PARKED):
            out.append(cli("sends_parked", n=f"{parked[0][1]:.0f}"))
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:  # a display: say it, never a traceback
        out.append(cli("prometheus_bad", url=prometheus, error=exc))
    try:
        silences = [s for s in _get(f"{alertmanager}/api/v2/silences") if s.get("status", {}).get("state") == "active"]
        for s in silences:
            matchers = ", ".join(
                f"{m['name']}{'' if m.get('isEqual', True) else '!'}{'~' if m.get('isRegex') else '='}{m['value']}"
                for m in s.get("matchers", [])
            )
            until = datetime.fromisoformat(s["endsAt"].replace("Z", "+00:00")).astimezone(UTC)
            comment = cli("comment", comment=s["comment"]) if s.get("comment") else ""
            out.append(cli("silenced", matchers=matchers, until=f"{until:%Y-%m-%d %H:%M}", who=s.get("createdBy", "?"),
                           comment=comment))  # fmt: skip
        if not silences:
            out.append(cli("no_silences"))
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        out.append(cli("alertmanager_bad", url=alertmanager, error=exc))
    return out
