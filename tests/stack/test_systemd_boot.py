"""`costwarden install` on a real Debian 12 under a real systemd, then a reboot: a minimal Debian made by debootstrap
from the mirror apt already uses, booted with systemd-nspawn (its own PID 1, private network, Debian's own
Prometheus and Alertmanager already running on 9090/9093 as their packages leave them), this tree mounted read-only
and installed offline from wheels. Every unit is verified in place, runs as its own user with only the capabilities
it was given, answers, and a demo alert goes through the real Alertmanager to the receiver's file channel — after an
upgrade over the running outbox, and after a reboot. Then uninstall, and `--purge`. Needs root (CI runs as root).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from stack.systemd import SERVICES, unit_name, user
from tests.stack.images import mirror

ROOT = Path(__file__).parents[2]
PACKAGES = "systemd,systemd-sysv,dbus,python3,python3-venv,make,prometheus,prometheus-alertmanager"
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

pytestmark = [pytest.mark.slow, pytest.mark.root]


class Machine:
    """A booted container; `sh` runs a script inside all its namespaces, as root, like an SSH session would."""

    def __init__(self, root: Path, binds: list[str], log: Path) -> None:
        self.root, self.binds, self.log = root, binds, log
        self.proc: subprocess.Popen[bytes] | None = None
        self.leader = 0

    def boot(self) -> None:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                ["systemd-nspawn", "-D", str(self.root), "--register=no", "--keep-unit", "--private-network",
                 "--console=read-only", *(f"--bind-ro={b}" for b in self.binds), "-b"],
                stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        deadline = time.monotonic() + 60
        while not self.leader:
            assert self.proc.poll() is None, f"the container did not boot: {self.log.read_text()[-2000:]}"
            assert time.monotonic() < deadline, "no PID 1 in the container within 60 s"
            for stat in Path("/proc").glob("[0-9]*/stat"):
                with contextlib.suppress(OSError):
                    fields = stat.read_text().rsplit(")", 1)[1].split()
                    if int(fields[1]) == self.proc.pid and "(systemd)" in stat.read_text():
                        self.leader = int(stat.parent.name)
            time.sleep(0.2)
        state = self.sh("systemctl is-system-running --wait", check=False).stdout.strip()
        assert state in {"running", "degraded"}, state

    def sh(self, script: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(["nsenter", "-t", str(self.leader), "-a", "/usr/bin/env", "-i", f"PATH={PATH}",
                               "/bin/sh", "-c", script],
                              capture_output=True, text=True, timeout=timeout, check=False)  # fmt: skip
        if check:
            assert proc.returncode == 0, f"{script}\n→ {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
        return proc

    def until(self, script: str, seconds: float, what: str) -> None:
        deadline = time.monotonic() + seconds
        while self.sh(script, check=False).returncode != 0:
            assert time.monotonic() < deadline, f"{what} within {seconds:g} s"
            time.sleep(1)

    def poweroff(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.sh("systemctl poweroff", check=False)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.leader = 0


@pytest.fixture(scope="module")
def machine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Machine]:
    if os.geteuid() != 0:
        pytest.skip("booting a container needs root (CI runs as root)")
    missing = [tool for tool in ("debootstrap", "systemd-nspawn", "nsenter") if shutil.which(tool) is None]
    assert not missing, f"make test-slow installs {missing}"
    base = tmp_path_factory.mktemp("vps")
    root = base / "root"
    subprocess.run(["debootstrap", "--variant=minbase", f"--include={PACKAGES}", "bookworm", str(root), mirror()],
                   check=True, capture_output=True, timeout=900)  # fmt: skip
    wheels = base / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--disable-pip-version-check", str(ROOT),
                    "-w", str(wheels)], check=True, capture_output=True)  # fmt: skip
    vps = Machine(root, [f"{ROOT}:/src", f"{wheels}:/wheels"], base / "console.log")
    vps.boot()
    try:
        yield vps
    finally:
        vps.poweroff()
        shutil.rmtree(base, ignore_errors=True)


def delivered(vps: Machine, marker: str) -> None:
    vps.until(f"grep -q '{marker}' /var/lib/costwarden-receiver/sent.jsonl", 90, f"{marker} was not delivered")


def fire(vps: Machine, cgroup: str) -> None:
    """A critical spike through the real Alertmanager (amtool, as an operator would), not past it."""
    vps.sh(f"amtool alert add alertname=CostwardenCostSpike severity=critical instance=localhost cgroup={cgroup} "
           "resource=cpu --alertmanager.url=http://127.0.0.1:9193")  # fmt: skip


def main_pids(vps: Machine) -> dict[str, int]:
    shown = vps.sh("systemctl show -p MainPID --value " + " ".join(map(unit_name, SERVICES))).stdout.split()
    return dict(zip(SERVICES, map(int, shown), strict=True))


def test_install_run_upgrade_reboot_uninstall_on_a_real_systemd(
    machine: Machine, capsys: pytest.CaptureFixture[str]
) -> None:
    vps = machine
    # Debian's own services are up, as their packages leave them: ours must coexist, not collide.
    vps.until("systemctl is-active prometheus.service prometheus-alertmanager.service", 30, "Debian's services")

    installed = vps.sh("make -C /src install ARGS='--wheels /wheels'")  # as the README says, offline
    assert installed.stdout.count(" answers on 127.0.0.1:") == 4, installed.stdout
    verify = vps.sh("systemd-analyze verify /etc/systemd/system/costwarden*.service /etc/systemd/system/costwarden."
                    "target 2>&1")  # fmt: skip
    assert verify.stdout == ""
    assert vps.sh("systemctl is-enabled costwarden.target").stdout.strip() == "enabled"

    # Each service under its own user; only the exporter holds capabilities, and only the two it reads with.
    for service, pid in main_pids(vps).items():
        uid = vps.sh(f"id -u {user(service)}").stdout.strip()
        status = vps.sh(f"cat /proc/{pid}/status").stdout
        assert re.search(rf"^Uid:\s+{uid}\s+{uid}\s", status, re.M), (service, status)
        caps = int(re.search(r"^CapEff:\s+(\w+)", status, re.M).group(1), 16)  # type: ignore[union-attr]
        assert caps == ((1 << 2) | (1 << 19) if service == "exporter" else 0), (service, hex(caps))
    assert vps.sh("stat -c '%U %a' /var/lib/costwarden-receiver").stdout.split() == ["costwarden-receiver", "700"]
    assert vps.sh("costwarden status").returncode == 0

    # The demo alert, as docs/install.md has a newcomer fire it, reaches the configured (file) channel.
    vps.sh("costwarden demo-alert --minutes 1")
    delivered(vps, "demo-miner")
    assert "costwarden_cost_total{cgroup=\"/\",resource=\"cpu\"}" in vps.sh(
        "python3 -c \"import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:9877/metrics').read()"
        ".decode())\"").stdout  # fmt: skip

    # The receiver's own command line as its unit runs it (docs/install.md): its secrets, as its user, so the data
    # directory stays its own. Before, the documented check ran without receiver.env and as root.
    assert '"listen"' in vps.sh("costwarden receiver --config.check").stdout
    resent = vps.sh("costwarden receiver resend --dry-run")
    assert resent.stdout.strip() == "nothing parked in the last 24 h", resent.stdout + resent.stderr
    assert vps.sh("find /var/lib/costwarden-receiver ! -user costwarden-receiver").stdout == ""

    # Upgrade over the running outbox: new venv and units, same data; the receiver restarted and still delivers.
    before = main_pids(vps)
    sent = vps.sh("cat /var/lib/costwarden-receiver/sent.jsonl").stdout
    upgraded = vps.sh("make -C /src install ARGS='--wheels /wheels'")
    assert "upgrading 0.1.0 → 0.1.0" in upgraded.stdout and upgraded.stdout.count(" answers on ") == 4
    assert main_pids(vps)["receiver"] != before["receiver"]
    assert vps.sh("cat /var/lib/costwarden-receiver/sent.jsonl").stdout.startswith(sent)
    fire(vps, "after-upgrade")
    delivered(vps, "after-upgrade")

    # A reboot: everything comes back by itself, with its data, and a new alert still reaches the channel.
    vps.poweroff()
    vps.boot()
    vps.until("costwarden status", 90, "costwarden status is not all green after the reboot")
    assert "after-upgrade" in vps.sh("cat /var/lib/costwarden-receiver/sent.jsonl").stdout
    fire(vps, "after-reboot")
    delivered(vps, "after-reboot")

    time.sleep(20)  # idle a little before measuring
    footprint = vps.sh("du -sk /opt/costwarden | cut -f1").stdout.strip()
    rss = {s: re.search(r"VmRSS:\s+(\d+)", vps.sh(f"cat /proc/{pid}/status").stdout).group(1)  # type: ignore[union-attr]
           for s, pid in main_pids(vps).items()}  # fmt: skip
    with capsys.disabled():
        print(
            f"\ninstalled footprint: /opt/costwarden {int(footprint) / 1024:.0f} MiB; RSS idle (MiB): "
            + ", ".join(f"{s} {int(kib) / 1024:.0f}" for s, kib in rss.items())
        )

    removed = vps.sh("costwarden uninstall")
    assert "/var/lib/costwarden-receiver" in removed.stdout  # kept, and said so
    assert vps.sh("systemctl is-active costwarden-receiver.service", check=False).stdout.strip() == "inactive"
    assert vps.sh("test ! -e /opt/costwarden && test ! -e /etc/systemd/system/costwarden-receiver.service "
                  "&& test -s /var/lib/costwarden-receiver/outbox.sqlite3 && test -s /etc/costwarden/receiver.yml "
                  "&& getent passwd costwarden-receiver", check=False).returncode == 0  # fmt: skip
    vps.sh("cd /src && python3 -m stack uninstall --purge")
    left = vps.sh("ls -d /etc/costwarden /var/lib/costwarden-* /opt/costwarden /usr/local/bin/costwarden "
                  "/etc/sysusers.d/costwarden.conf /etc/systemd/system/costwarden* 2>/dev/null; "
                  "getent passwd | grep costwarden; getent group | grep costwarden", check=False).stdout  # fmt: skip
    assert left == ""
    assert vps.sh("systemctl is-active prometheus.service").stdout.strip() == "active", "Debian's left alone"
