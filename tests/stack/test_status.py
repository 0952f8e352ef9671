"""`costwarden status` against a real Prometheus serving a receiver's history, and the stack's command line."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from stack.run import main as stack_main
from stack.run import unready
from stack.status import lines
from tests.support.detection.engine import import_series, serve
from tests.support.net import free_port


def test_status_sees_a_delivery_made_before_prometheus_first_scraped_the_receiver(tmp_path: Path) -> None:
    """CI's red run (stop 30): right after `make run` starts, Prometheus' first good scrape of the receiver can come
    after the demo alert was delivered; the counter's series is then born at 1 and `increase()` never sees it rise,
    so status said nothing of a channel that had delivered. Also: a receiver restarted since (its gauge back at 0)
    still shows that delivery, and a channel that never delivered is not said to have, 56 years ago."""
    now = time.time()
    delivered, restarted = now - 1200, now - 600
    scrapes = [delivered + 5 + 15 * i for i in range(78)]  # first scrape 5 s after the delivery, then every 15 s
    series = [
        ("costwarden_receiver_deliveries_total", {"channel": "file", "result": "sent"},
         [(t, 1.0 if t < restarted else 0.0) for t in scrapes]),
        ("costwarden_receiver_deliveries_total", {"channel": "file", "result": "retry"}, [(t, 0.0) for t in scrapes]),
        ("costwarden_receiver_last_delivered_timestamp_seconds", {"channel": "file"},
         [(t, delivered if t < restarted else 0.0) for t in scrapes]),
        ("costwarden_receiver_last_delivered_timestamp_seconds", {"channel": "telegram"}, [(t, 0.0) for t in scrapes]),
    ]  # fmt: skip
    # Found in an operator's trial: with a channel down, status said only "12 failed attempts" while a critical page
    # waited, and messages given up on (parked) were never called out.
    series += [
        ("costwarden_receiver_sends_waiting", {}, [(t, 2.0) for t in scrapes]),
        ("costwarden_receiver_sends_oldest_age_seconds", {}, [(t, 51.0) for t in scrapes]),
        (
            "costwarden_receiver_deliveries_total",
            {"channel": "file", "result": "parked"},
            [(t, 0.0 if t < scrapes[-20] else 1.0) for t in scrapes],
        ),
        ("costwarden_receiver_sends_parked", {}, [(t, 0.0 if t < scrapes[-20] else 1.0) for t in scrapes]),
    ]
    import_series(series, tmp_path / "data", tmp_path)
    with serve(tmp_path / "data", tmp_path) as url:
        port = int(url.rsplit(":", 1)[1])
        said = lines({"prometheus": port, "alertmanager": port}, now)
    assert "channel file: last delivered 20 min ago, 1 failed attempt in the last hour" in said  # the part parked
    assert not [line for line in said if "telegram" in line]
    assert "messages waiting to be sent: 2, the oldest for 1 min" in said
    # (found in review: the outbox's count of parked parts only grows, so the line would never go away)
    assert (
        "message parts given up on (parked) in the last day: 1; the receiver's log says why; once the channel is "
        "fixed, `costwarden-receiver resend` sends them again (beside make run: `make resend`; docs/receiver.md)"
    ) in said


def test_status_stops_pointing_to_resend_once_nothing_is_parked(tmp_path: Path) -> None:
    """A part parked an hour ago and sent again since (`resend`): the outbox holds nothing parked, and status no
    longer says to resend it for the rest of the day."""
    now = time.time()
    scrapes = [now - 7200 + 15 * i for i in range(480)]
    parked_at, resent_at = now - 3600, now - 1800
    series = [
        ("costwarden_receiver_deliveries_total", {"channel": "file", "result": "parked"},
         [(t, 0.0 if t < parked_at else 1.0) for t in scrapes]),
        ("costwarden_receiver_sends_parked", {}, [(t, 1.0 if parked_at <= t < resent_at else 0.0) for t in scrapes]),
    ]  # fmt: skip
    import_series(series, tmp_path / "data", tmp_path)
    with serve(tmp_path / "data", tmp_path) as url:
        port = int(url.rsplit(":", 1)[1])
        said = lines({"prometheus": port, "alertmanager": port}, now)
    assert not [line for line in said if "parked" in line], said


def test_status_beside_make_run_takes_its_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Found in a new-user trial: `python -m stack status --ports …` (or `status --help`) beside a `make run` said
    "costwarden is not installed under /opt/costwarden": only a bare `status` was taken as make run's."""
    ports = {name: free_port() for name in ("exporter", "prometheus", "alertmanager", "receiver")}  # nothing listens
    (tmp_path / "ports.json").write_text(json.dumps(ports))
    assert stack_main(["status", "--data", str(tmp_path)]) == 3  # parts not answering: said, exit 3
    said = capsys.readouterr().out
    assert f"NOT ANSWERING on 127.0.0.1:{ports['prometheus']}" in said and "not installed" not in said
    # Found in an operator's trial: nothing running was said as four parts not answering and two urlopen errors.
    assert f"make run is not running on {tmp_path}" in said and "urlopen" not in said
    other = free_port()
    assert stack_main(["status", "--data", str(tmp_path), "--ports", f"prometheus={other}"]) == 3
    assert f"NOT ANSWERING on 127.0.0.1:{other}" in capsys.readouterr().out
    with pytest.raises(SystemExit) as usage:
        stack_main(["status", "--data", str(tmp_path), "--help"])
    assert usage.value.code == 0 and "python -m stack status" in capsys.readouterr().out
    with pytest.raises(SystemExit) as elsewhere:  # a --data without a make run's state: said, not install's usage
        stack_main(["status", "--data", str(tmp_path / "none")])
    assert elsewhere.value.code == 2 and "no make run state in" in capsys.readouterr().err
    (tmp_path / "ports.json").write_text("[not json")  # unreadable: the usual ports, no traceback
    assert stack_main(["status", "--data", str(tmp_path), "--ports", f"prometheus={other}"]) == 3


@pytest.mark.parametrize("minutes", ["nan", "inf", "-5", "0", "ten", "1e300"])
def test_demo_alert_refuses_minutes_that_are_not_a_duration(minutes: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Found in a new-user trial: --minutes nan crashed with a traceback, and -5 was blamed on Alertmanager."""
    with pytest.raises(SystemExit) as refused:
        stack_main(["demo-alert", "--minutes", minutes, "--ports", f"alertmanager={free_port()}"])
    assert refused.value.code == 2
    assert "--minutes" in capsys.readouterr().err


def test_the_stack_help_names_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        stack_main(["--help"])
    usage = capsys.readouterr().out
    for command in ("run", "demo-alert", "init", "status", "install", "uninstall"):
        assert command in usage.split("\n\n")[0], command  # in the usage line itself


def test_a_part_that_answers_but_is_not_ready_says_why(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Found in an operator's trial: with its disk full the receiver answered /-/ready with 503 and the reason, and
    status said it was NOT ANSWERING."""
    from aiohttp import web

    from tests.support.fakes import serve_in_thread

    async def full_disk(_: web.Request) -> web.Response:
        return web.Response(text="outbox not writable: only 0 KiB free on /data/receiver\n", status=503)

    async def garbled(_: web.Request) -> web.Response:  # nothing printable: the status code, not "not answering"
        return web.Response(text="\x07\x08\x1b\n", status=503)

    full = web.Application()
    full.router.add_get("/-/ready", full_disk)
    full.router.add_get("/garbled", garbled)
    with serve_in_thread(full) as url:
        port = int(url.rsplit(":", 1)[1])
        assert unready(f"{url}/garbled") == "HTTP 503"
        ports = {name: free_port() for name in ("exporter", "prometheus", "alertmanager")} | {"receiver": port}
        (tmp_path / "ports.json").write_text(json.dumps(ports))
        assert stack_main(["status", "--data", str(tmp_path)]) == 3
    said = capsys.readouterr().out
    assert (
        f"receiver      not ready (outbox not writable: only 0 KiB free on /data/receiver) on 127.0.0.1:{port}" in said
    )
