"""Diagnostics against real processes and files made by the test (and fixture /proc trees); remediation's validation,
dry run, execution without a shell and timeouts; the /actions endpoints of the real exporter process."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from costwarden.actions import RunRequest
from exporter.actions import diagnostics as dg
from exporter.actions.service import ActionService, argv_for
from exporter.actions.table import Actions, Diagnostic, Param, Remediation, load
from exporter.config import ConfigError
from exporter.containers import NameResolver
from exporter.procfs import DEFAULT_EXCLUDED_INTERFACES
from tests.support.net import free_port, wait_until_ok

NAME = r"[a-z0-9][a-z0-9_.-]{0,62}"


def host(procfs: Path = Path("/proc"), rootfs: Path = Path("/"), docker: Path = Path("/nonexistent")) -> dg.Host:
    return dg.Host(procfs, rootfs, docker, NameResolver(docker, docker), re.compile(DEFAULT_EXCLUDED_INTERFACES))


def stop(**changes: Any) -> Remediation:
    fields: dict[str, Any] = {
        "name": "stop_container", "command": ("echo", "docker", "stop", "{cgroup}"),
        "params": (Param("cgroup", NAME),), "enabled": True, "min_severity": "critical",
    }  # fmt: skip
    return Remediation(**{**fields, **changes})


# --- diagnostics -------------------------------------------------------------------------------------------------


def test_pid_stat_and_cgroup_parsers() -> None:
    text = "4242 (evil) (x y) R 1 4242 4242 0 -1 4194560 120 0 0 0 1500 500 0 0 20 0 1 0 123 1000000 2560 18446744"
    assert dg.parse_pid_stat(text) == ("evil) (x y", 2000, 2560)
    assert dg.parse_pid_cgroup("0::/system.slice/docker-ab.scope\n") == "/system.slice/docker-ab.scope"
    v1 = "12:memory:/docker/abc\n4:cpu,cpuacct:/docker/abc\n1:name=systemd:/docker/abc\n"
    assert dg.parse_pid_cgroup(v1) == "/docker/abc"


def test_top_processes_finds_a_real_cpu_burner() -> None:
    burner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)
        lines = dg.run(Diagnostic(name="t", kind="top_processes", seconds=1.0, top=5), host())
    finally:
        burner.kill()
        burner.wait()
    # Among the top five (other busy processes on a shared machine may rank above it), at about one core.
    mine = next(line for line in lines if line.startswith(f"pid {burner.pid} python"))
    cpu = float(re.search(r": (\d+) % CPU", mine).group(1))  # type: ignore[union-attr]
    assert cpu >= 50 and "memory, in " in mine and len(lines) <= 5
    shares = [float(re.search(r": (\d+) % CPU", line).group(1)) for line in lines]  # type: ignore[union-attr]
    assert shares == sorted(shares, reverse=True)


def test_top_talkers_ranks_namespaces_by_what_they_sent(tree: Path) -> None:
    proc = tree / "proc"
    for pid, comm in (("1", "systemd"), ("1001", "nginx"), ("1002", "xmrig"), ("1003", "nginx")):
        if (proc / pid).exists():
            (proc / pid / "comm").write_text(comm + "\n")
            (proc / pid / "cgroup").write_text("0::/\n")
    before = dg.read_netns(proc, re.compile(DEFAULT_EXCLUDED_INTERFACES), lambda _: "")
    dev = proc / "1001" / "net" / "dev"
    text = dev.read_text()
    bumped = re.sub(
        r"(eth0:\s*\d+(?:\s+\d+){7}\s+)(\d+)", lambda m: m.group(1) + str(int(m.group(2)) + 5 * 2**20), text
    )
    assert bumped != text
    dev.write_text(bumped)
    after = dg.read_netns(proc, re.compile(DEFAULT_EXCLUDED_INTERFACES), lambda _: "")
    lines = dg.top_talkers(before, after, 2.0, 3, dg.words("en"))
    assert lines[0].startswith("nginx in the host (pids 1001") and lines[0].endswith(": 2.5 MiB/s sent"), lines
    assert all("0 B/s sent" in line for line in lines[1:])
    said = dg.top_talkers(before, after, 2.0, 3, dg.words("zh"))  # the receiver asked in Chinese
    assert said[0].startswith("nginx（主机本身，pid 1001") and said[0].endswith("：每秒发送 2.5 MiB"), said


def test_grown_files_lists_the_largest_recent_files_and_follows_no_link(tmp_path: Path) -> None:
    logs = tmp_path / "var" / "log"
    logs.mkdir(parents=True)
    now = time.time()
    for name, mib, age_h in (("app.log", 30, 1), ("old.log", 90, 48), ("tiny.log", 1, 0.1), ("big.gz", 60, 5)):
        path = logs / name
        path.write_bytes(b"x" * (mib * 2**20))
        os.utime(path, (now - age_h * 3600, now - age_h * 3600))
    (logs / "etc-link").symlink_to("/etc")
    (logs / "file-link").symlink_to(logs / "old.log")
    d = Diagnostic(name="g", kind="grown_files", paths=("/var/log",), top=10)
    lines = dg.run(d, host(rootfs=tmp_path))
    assert [line.split(":")[0] for line in lines] == ["/var/log/big.gz", "/var/log/app.log", "/var/log/tiny.log"]
    assert lines[0] == "/var/log/big.gz: 60.0 MiB, changed 5 h 0 min ago"


def test_recent_containers_from_dockers_data_root(tmp_path: Path) -> None:
    now = time.time()

    def container(ident: str, name: str, started: str, running: bool) -> None:
        path = tmp_path / "containers" / ident / "config.v2.json"
        path.parent.mkdir(parents=True)
        doc = {"ID": ident, "Name": f"/{name}", "Config": {"Image": "alpine:3.20"},
               "State": {"Running": running, "StartedAt": started}}  # fmt: skip
        path.write_text(json.dumps(doc))

    def rfc3339(ts: float) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + ".123456789Z"

    container("a" * 64, "fresh\x1b[31m", rfc3339(now - 600), True)
    container("b" * 64, "week-old", rfc3339(now - 7 * 86400), True)
    container("c" * 64, "never", "0001-01-01T00:00:00Z", False)
    lines = dg.run(Diagnostic(name="r", kind="recent_containers"), host(docker=tmp_path))
    assert lines == ["fresh?[31m (image alpine:3.20, running) started 10 min ago"]  # escape codes made harmless


# --- remediation --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value", ["x; rm -rf /", "$(reboot)", "`id`", "--privileged", "a b", "web\nrm", "../etc", "", "x" * 100]
)
def test_a_label_outside_its_pattern_is_refused(value: str) -> None:
    refusal = argv_for(stop(), {"cgroup": value})
    assert isinstance(refusal, str) and refusal.startswith("label cgroup=") and "does not match" in refusal
    service = ActionService(Actions(remediation=(stop(),)), host())
    outcome = service.run("stop_container", {"cgroup": value}, "critical", dry_run=False)
    assert outcome is not None and outcome.state == "refused" and outcome.argv == ()


def test_dry_run_unless_enabled_severe_enough_and_asked_for() -> None:
    service = ActionService(Actions(remediation=(stop(enabled=False), stop(name="stop_now"))), host())
    labels = {"cgroup": "miner", "alertname": "CostwardenCostSpike"}
    off = service.run("stop_container", labels, "critical", dry_run=False)
    assert off is not None and off.state == "dry_run" and off.argv == ("echo", "docker", "stop", "miner")
    assert "not enabled" in off.reason and off.output == ""
    mild = service.run("stop_now", labels, "warning", dry_run=False)
    assert mild is not None and mild.state == "dry_run" and "below min_severity critical" in mild.reason
    asked = service.run("stop_now", labels, "critical", dry_run=True)
    assert asked is not None and asked.state == "dry_run"
    ran = service.run("stop_now", labels, "critical", dry_run=False)
    assert ran is not None and (ran.state, ran.exit_code, ran.output) == ("executed", 0, "docker stop miner")
    assert service.run("rm_everything", labels, "critical", dry_run=False) is None


def test_a_person_may_run_only_what_has_a_button_and_only_within_its_rules() -> None:
    service = ActionService(Actions(remediation=(stop(enabled=False), stop(name="pause", enabled=False, button=True))),
                            host())  # fmt: skip
    labels = {"cgroup": "miner", "alertname": "CostwardenCostSpike"}
    unasked = service.run("pause", labels, "critical", dry_run=False)  # no one confirmed it: still a dry run
    assert unasked is not None and unasked.state == "dry_run"
    assert "a person may run it from its button" in unasked.reason
    no_button = service.run("stop_container", labels, "critical", dry_run=False, confirmed_by="@ann")
    assert no_button is not None and no_button.state == "dry_run" and "not enabled" in no_button.reason
    mild = service.run("pause", labels, "warning", dry_run=False, confirmed_by="@ann")
    assert mild is not None and mild.state == "dry_run" and "below min_severity" in mild.reason
    hostile = service.run("pause", {"cgroup": "x; reboot"}, "critical", dry_run=False, confirmed_by="@ann")
    assert hostile is not None and hostile.state == "refused"
    ran = service.run("pause", labels, "critical", dry_run=False, confirmed_by="@ann")
    assert ran is not None and (ran.state, ran.output) == ("executed", "docker stop miner")
    assert service.catalog()["remediation"][1]["button"] is True


def test_a_run_request_names_who_confirmed_it_as_text() -> None:
    body = {"action": "pause", "labels": {"cgroup": "miner"}, "severity": "critical", "dry_run": False}
    assert RunRequest.parse({**body, "confirmed_by": "@ann"}).confirmed_by == "@ann"
    assert RunRequest.parse(body).confirmed_by == ""
    with pytest.raises(ValueError, match="confirmed_by"):
        RunRequest.parse({**body, "confirmed_by": 42})
    assert RunRequest.parse(RunRequest("pause", {}, confirmed_by="@bo").to_json()).confirmed_by == "@bo"
    assert RunRequest.parse(body).language == "en" and RunRequest.parse({**body, "language": "zh"}).language == "zh"
    assert RunRequest.parse({**body, "language": "fr"}).language == "en"  # a newer receiver's: English, not a 400
    with pytest.raises(ValueError, match="language"):
        RunRequest.parse({**body, "language": 7})


def test_no_shell_ever_sees_a_value() -> None:
    loose = stop(params=(Param("cgroup", r".*"),), command=("echo", "{cgroup}"))
    service = ActionService(Actions(remediation=(loose,)), host())
    ran = service.run("stop_container", {"cgroup": "$(id) ; `id` && id"}, "critical", dry_run=False)
    assert ran is not None and ran.output == "$(id) ; `id` && id"  # one argument, printed, never interpreted


def test_timeouts_kill_the_whole_group_and_failures_are_reported() -> None:
    slow = stop(name="slow", command=("sh", "-c", "sleep 30 & sleep 30"), params=(), timeout_seconds=0.5)
    failing = stop(name="failing", command=("false",), params=())
    missing = stop(name="missing", command=("/no/such/program",), params=())
    service = ActionService(Actions(remediation=(slow, failing, missing)), host())
    started = time.monotonic()
    timed_out = service.run("slow", {}, "critical", dry_run=False)
    assert timed_out is not None and timed_out.state == "timeout" and time.monotonic() - started < 5
    assert subprocess.run(["pgrep", "-f", "sleep 30 & sleep 30"], capture_output=True).returncode == 1
    failed = service.run("failing", {}, "critical", dry_run=False)
    assert failed is not None and (failed.state, failed.exit_code) == ("failed", 1)
    gone = service.run("missing", {}, "critical", dry_run=False)
    assert gone is not None and gone.state == "failed" and "cannot start /no/such/program" in gone.output


def test_actions_yml_is_checked_at_start(tmp_path: Path) -> None:
    path = tmp_path / "actions.yml"
    path.write_text("remediation: [{name: stop, command: [docker, stop, '{cgroup}'], params: [{label: cgroup, "
                    "pattern: '[a-z]+'}]}]\nalerts: [{alert: CostwardenCostSpike, remediation: [stop]}]\n")  # fmt: skip
    table = load(path)
    assert table.for_alert({"alertname": "CostwardenCostSpike"})[1][0].enabled is False  # dry-run by default
    path.write_text("remediation: [{name: stop, command: [docker, stop, '{cgroup}']}]\n")
    with pytest.raises(ConfigError, match=r"\{cgroup\} has no entry in params"):
        load(path)


def test_actions_yml_errors_name_the_line_in_the_users_language(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "actions.yml"
    path.write_text("diagnostics: []\nremediation:\n  - name: stop\n    command: [docker, stop, '{cgroup}']\n")
    with pytest.raises(ConfigError, match=r"actions\.yml:4: field remediation\[0\]\.command: \{cgroup\} has no"):
        load(path)
    monkeypatch.setenv("COSTWARDEN_LANGUAGE", "zh")
    with pytest.raises(
        ConfigError, match=r"actions\.yml:4：字段 remediation\[0\]\.command：\{cgroup\} 在 params 里没有"
    ):
        load(path)


# --- the endpoints of the real exporter -----------------------------------------------------------------------------

TOKEN = "actions-token-for-tests"


def call(
    url: str, body: dict[str, Any] | None = None, token: str | None = TOKEN, raw: bytes | None = None
) -> tuple[int, dict[str, Any]]:
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    request = urllib.request.Request(url, data=data, headers=headers)  # noqa: S310 - loopback
    try:
        with urllib.request.urlopen(request, timeout=20) as answer:  # noqa: S310 - loopback
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_the_exporter_serves_actions_only_with_a_token(tree: Path, tmp_path: Path) -> None:
    actions = tmp_path / "actions.yml"
    actions.write_text(
        "diagnostics: [{name: top_processes, kind: top_processes, seconds: 0.2}]\n"
        "remediation: [{name: stop_container, command: [echo, stopped, '{cgroup}'], enabled: true, "
        f"params: [{{label: cgroup, pattern: '{NAME}'}}]}}]\n"
        "alerts: [{alert: CostwardenCostSpike, diagnostics: [top_processes], remediation: [stop_container]}]\n"
    )
    port = free_port()
    cmd = [sys.executable, "-m", "exporter", f"--web.listen-address=127.0.0.1:{port}", f"--path.procfs={tree / 'proc'}",
           f"--path.cgroupfs={tree / 'cgroupv2/sys/fs/cgroup'}", f"--path.rootfs={tree}",
           f"--storage.state-file={tmp_path / 'state.json'}", f"--actions.file={actions}"]  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    for env, expect in (
        ({"PATH": os.environ["PATH"]}, "off"),
        ({"PATH": os.environ["PATH"], "COSTWARDEN_ACTIONS_TOKEN": TOKEN}, "on"),
    ):
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            wait_until_ok(base + "/-/healthy", proc)
            if expect == "off":
                assert call(base + "/actions")[0] == 404
                continue
            assert call(base + "/actions", token="wrong")[0] == 401
            assert call(base + "/actions", token=None)[0] == 401
            status, catalog = call(base + "/actions")
            assert status == 200 and catalog["remediation"][0]["command"] == ["echo", "stopped", "{cgroup}"]
            status, spike = call(base + "/actions?alertname=CostwardenCostSpike&resource=cpu")
            assert [d["name"] for d in spike["diagnostics"]] == ["top_processes"] and len(spike["remediation"]) == 1
            assert call(base + "/actions?alertname=CostwardenExporterDown")[1]["diagnostics"] == []
            nameless = call(base + "/actions?alertname=&resource=cpu")[1]  # asked for an alert that names none
            assert nameless["diagnostics"] == [] and nameless["remediation"] == []
            run = base + "/actions/run"
            status, found = call(run, {"action": "top_processes", "labels": {}, "severity": "critical"})
            assert status == 200 and found["state"] == "ok" and found["kind"] == "diagnostic"
            status, refused = call(run, {"action": "stop_container", "labels": {"cgroup": "x; rm -rf /"},
                                         "severity": "critical"})  # fmt: skip
            assert status == 200 and refused["state"] == "refused"
            status, done = call(
                run, {"action": "stop_container", "labels": {"cgroup": "miner"}, "severity": "critical"}
            )
            assert status == 200 and done["state"] == "executed" and done["output"] == "stopped miner"
            assert call(run, raw=b"{not json")[0] == 400
            assert call(run, raw=b'{"action": ' + b"[" * 30_000 + b"]" * 30_000 + b"}")[0] == 400  # not a 500
            assert call(run, {"action": "stop_container", "labels": {"cgroup": 5}})[0] == 400
            assert call(run, {"action": "format_disk"})[0] == 404
        finally:
            proc.terminate()
            _, stderr = proc.communicate(timeout=10)
    assert (
        "action stop_container (remediation): refused" in stderr and "executed ['echo', 'stopped', 'miner']" in stderr
    )
