"""`costwarden install | uninstall | status` into a temporary root (`--root`): every file with its owner and mode, the
users, the units as systemd reads them, idempotence, a bad config changing nothing, uninstall and `--purge` leaving
exactly the machine as it was. Running the units under a real systemd is tests/stack/test_systemd_boot.py (slow)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from stack.install import KEPT, files, generated
from stack.systemd import INSTALL_PORTS, SERVICES, Layout, unit_name, units

ROOT = Path(__file__).parents[2]
VENV = "opt/costwarden/venv"


# Each of these builds a venv and pip-installs costwarden into it (30-100 s apiece): `make test-slow`.
SLOW = pytest.mark.slow


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This tree and its dependencies as wheels (pip's cache after `make deps`): installs run offline, like a VPS
    behind a mirror would."""
    out = tmp_path_factory.mktemp("wheels")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--disable-pip-version-check", str(ROOT),
                    "-w", str(out)], check=True, capture_output=True)  # fmt: skip
    return out


def machine(root: Path) -> Path:
    """An empty machine with the account files every Debian system has (root, and the backups shadow keeps)."""
    etc = root / "etc"
    etc.mkdir(parents=True)
    accounts = {"passwd": "root:x:0:0:root:/root:/bin/bash\n", "group": "root:x:0:\n",
                "shadow": "root:*:19000:0:99999:7:::\n", "gshadow": "root:*::\n"}  # fmt: skip
    for name, text in accounts.items():
        (etc / name).write_text(text)
        (etc / f"{name}-").write_text(text)
        (etc / name).chmod(0o640 if "shadow" in name else 0o644)
    (etc / ".pwd.lock").write_text("")
    return root


def costwarden(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "stack", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=300, check=False)  # fmt: skip


def tree(root: Path) -> dict[str, tuple[str, int, int, str]]:
    """path → (kind, mode, uid, content) of everything below `root` but the venv (pip's files are pip's business)."""
    found: dict[str, tuple[str, int, int, str]] = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        if rel.startswith(VENV):
            continue
        st = path.lstat()
        if path.is_symlink():
            found[rel] = ("link", 0, st.st_uid, str(path.readlink()))
        elif path.is_dir():
            found[rel] = ("dir", st.st_mode & 0o7777, st.st_uid, "")
        else:
            found[rel] = ("file", st.st_mode & 0o7777, st.st_uid, path.read_text(errors="replace"))
    return found


def install(root: Path, wheels: Path, *args: str) -> Path:
    done = costwarden("install", "--root", root, "--wheels", wheels, *args)
    assert done.returncode == 0, done.stdout + done.stderr
    return root


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One install, read (never changed) by the tests that take it: the default path, pip installing this tree
    from source (the others install offline from wheels)."""
    root = machine(tmp_path_factory.mktemp("installed") / "root")
    done = costwarden("install", "--root", root)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"pip install costwarden from {ROOT}" in done.stdout
    return root


ACCOUNTS = ("passwd", "group", "shadow", "gshadow")


@SLOW
def test_install_writes_every_file_with_its_owner_and_mode(installed: Path) -> None:
    files = tree(installed)
    expected_modes = {
        "etc/costwarden/prometheus.yml": 0o644, "etc/costwarden/alertmanager.yml": 0o644,
        "etc/costwarden/receiver.yml": 0o644, "etc/costwarden/exporter.yml": 0o644,
        # Secrets: root's alone; systemd hands them to the units (EnvironmentFile=, LoadCredential=).
        "etc/costwarden/receiver.env": 0o600, "etc/costwarden/intake-token": 0o600,
        "etc/costwarden/actions-token": 0o600,
        "etc/sysusers.d/costwarden.conf": 0o644, "opt/costwarden/bin/costwarden": 0o755,
        "opt/costwarden/install.json": 0o644,
        **{f"etc/systemd/system/{name}": 0o644 for name in units(Layout(), dict.fromkeys(SERVICES, 1))},
        **{f"opt/costwarden/share/rules/{group}/{rule.name}": 0o644
           for group in ("recording", "alerting") for rule in (ROOT / "rules" / group).glob("*.yml")},
    }  # fmt: skip
    accounts = {*ACCOUNTS, *(f"{a}-" for a in ACCOUNTS), ".pwd.lock"}
    regular = {path: (mode, uid) for path, (kind, mode, uid, _) in files.items()
               if kind == "file" and path.split("/")[1] not in accounts}  # fmt: skip
    assert regular == {path: (mode, 0) for path, mode in expected_modes.items()}
    assert files["usr/local/bin/costwarden"] == ("link", 0, 0, "/opt/costwarden/bin/costwarden")
    assert all(mode == 0o755 and uid == 0 for kind, mode, uid, _ in files.values() if kind == "dir")
    tokens = {files[f"etc/costwarden/{n}-token"][3].strip() for n in ("intake", "actions")}
    assert len(tokens) == 2 and all(len(t) >= 40 for t in tokens)
    # The venv runs the installed code, not this tree's: a copy that works when the clone is gone.
    py = installed / VENV / "bin" / "python"
    where = subprocess.run([py, "-c", "import receiver, stack; print(receiver.__file__)"], capture_output=True,
                           text=True, check=True, cwd="/").stdout  # fmt: skip
    assert str(installed / VENV) in where and str(ROOT) not in where


def test_uninstall_knows_every_file_install_writes() -> None:
    """Uninstall runs from the installed copy and cannot render the files: its list must be complete."""
    layout = Layout()
    written = files(layout, INSTALL_PORTS, "UTC")
    outside = {f.path for f in written if not f.keep and not f.path.is_relative_to(layout.prefix)}
    assert {*generated(layout)} == outside | {layout.link}
    assert {f.path.name for f in written if f.keep} | {"intake-token", "actions-token"} == set(KEPT)


@SLOW
def test_each_service_gets_its_own_system_user(installed: Path) -> None:
    passwd = (installed / "etc" / "passwd").read_text().splitlines()
    users = {line.split(":")[0]: line.split(":") for line in passwd}
    for service in SERVICES:
        entry = users[f"costwarden-{service}"]
        assert int(entry[2]) < 1000, "a system user"
        assert entry[5] == f"/var/lib/costwarden-{service}" and entry[6] == "/usr/sbin/nologin"
    groups = {line.split(":")[0] for line in (installed / "etc" / "group").read_text().splitlines()}
    assert {f"costwarden-{s}" for s in SERVICES} <= groups


@SLOW
def test_units_read_cleanly_by_systemd(installed: Path) -> None:
    """systemd-analyze verify: no unknown keys, bad values or specifiers. The one thing it cannot find here is the
    venv's python, which lives under the temporary root (tests/stack/test_systemd_boot.py verifies in place)."""
    unit_dir = installed / "etc" / "systemd" / "system"
    found = sorted(str(p) for p in unit_dir.iterdir())
    proc = subprocess.run(["systemd-analyze", "verify", *found], capture_output=True, text=True, check=False)
    complaints = set(filter(None, (proc.stdout + proc.stderr).splitlines()))
    absent = "Command /opt/costwarden/venv/bin/python is not executable: No such file or directory"
    assert complaints == {f"{unit_name(s)}: {absent}" for s in ("exporter", "receiver")}


@SLOW
def test_rendered_configs_wire_the_installed_ports_and_rules(installed: Path) -> None:
    etc = installed / "etc" / "costwarden"
    prometheus = (etc / "prometheus.yml").read_text()
    assert "/opt/costwarden/share/rules/recording/*.yml" in prometheus
    assert "127.0.0.1:9193" in prometheus and "127.0.0.1:9877" in prometheus and "9093" not in prometheus
    alertmanager = (etc / "alertmanager.yml").read_text()
    assert "url: http://127.0.0.1:9095/alerts" in alertmanager
    assert "credentials_file: /run/credentials/costwarden-alertmanager.service/intake-token" in alertmanager
    receiver = subprocess.run(
        [installed / VENV / "bin" / "python", "-m", "receiver", "--config", etc / "receiver.yml", "--config.check"],
        capture_output=True, text=True, check=True,
        env={**os.environ, "COSTWARDEN_RECEIVER_BEARER_TOKEN_FILE": str(etc / "intake-token"),
             "COSTWARDEN_RECEIVER_ACTIONS_TOKEN_FILE": str(etc / "actions-token")},
    ).stdout  # fmt: skip
    assert "http://127.0.0.1:9190" in receiver and "/var/lib/costwarden-receiver" in receiver
    record = json.loads((installed / "opt" / "costwarden" / "install.json").read_text())
    assert record["ports"] == {"exporter": 9877, "prometheus": 9190, "alertmanager": 9193, "receiver": 9095}


@SLOW
def test_install_again_upgrades_keeping_your_configs_and_a_bad_config_changes_nothing(
    tmp_path: Path, wheels: Path
) -> None:
    installed = install(machine(tmp_path / "root"), wheels, "--ports", "prometheus=9290")
    assert "127.0.0.1:9290" in (installed / "etc" / "costwarden" / "prometheus.yml").read_text()
    receiver_yml = installed / "etc" / "costwarden" / "receiver.yml"
    receiver_yml.write_text(receiver_yml.read_text() + "# my edit\n")
    data = installed / "var" / "lib" / "costwarden-receiver"
    data.mkdir(parents=True)
    (data / "outbox.sqlite3").write_bytes(b"an outbox")
    before = tree(installed)
    again = costwarden("install", "--root", installed, "--wheels", wheels)
    assert again.returncode == 0, again.stderr
    assert "upgrading 0.1.0 → 0.1.0" in again.stdout and "receiver.yml  [kept (yours)]" in again.stdout
    after = tree(installed)
    changed = {p for p in before.keys() | after.keys() if before.get(p) != after.get(p)}
    # Its time stamp; every other file byte for byte the same, the ports it was installed with included.
    assert changed == {"opt/costwarden/install.json"}

    exporter_yml = installed / "etc" / "costwarden" / "exporter.yml"
    exporter_yml.write_text("provider: hetzner\nplan: CX99\n")
    before = tree(installed)
    venv = (installed / VENV).stat().st_ino
    failed = costwarden("install", "--root", installed, "--wheels", wheels)
    assert failed.returncode == 2
    assert "the exporter's config (/etc/costwarden/exporter.yml) failed" in failed.stderr
    assert "CX99" in failed.stderr and "nothing was changed" in failed.stderr
    assert "Traceback" not in failed.stderr
    assert tree(installed) == before
    assert (installed / VENV).stat().st_ino == venv and not (installed / "opt/costwarden/venv.new").exists()

    # Review finding: new ports on an upgrade left the kept receiver.yml on the old ones (alerts to a dead port).
    exporter_yml.write_text("provider: hetzner\nplan: cx22\n")
    moved = costwarden("install", "--root", installed, "--wheels", wheels, "--ports", "receiver=9195")
    assert moved.returncode == 2 and "nothing was changed" in moved.stderr
    assert "receiver.yml does not match the ports of this install: listen.port is 9095, expected 9195" in moved.stderr
    assert (installed / VENV).stat().st_ino == venv


@SLOW
def test_uninstall_keeps_your_configs_and_data_and_purge_leaves_the_machine_as_it_was(
    tmp_path: Path, wheels: Path
) -> None:
    root = machine(tmp_path / "root")
    pristine = tree(root)
    install(root, wheels)
    state = root / "var" / "lib" / "costwarden-receiver"  # what systemd's StateDirectory= would have made
    state.mkdir(parents=True)
    (state / "outbox.sqlite3").write_bytes(b"an outbox")
    drop_in = root / "etc/systemd/system/costwarden-receiver.service.d"  # what `systemctl edit` makes
    drop_in.mkdir()
    (drop_in / "override.conf").write_text("[Service]\nEnvironment=X=1\n")

    removed = costwarden("uninstall", "--root", root)
    assert removed.returncode == 0, removed.stderr
    left = set(tree(root)) - set(pristine)
    kept = {f"etc/costwarden/{n}" for n in ("receiver.yml", "exporter.yml", "receiver.env", "intake-token",
                                            "actions-token")}  # fmt: skip
    assert left == {"etc/costwarden", *kept, "var", "var/lib", "var/lib/costwarden-receiver",
                    "var/lib/costwarden-receiver/outbox.sqlite3",
                    "etc/systemd/system/costwarden-receiver.service.d",
                    "etc/systemd/system/costwarden-receiver.service.d/override.conf",
                    # Directories that were not there before; a real machine has them.
                    "etc/systemd", "etc/systemd/system", "etc/sysusers.d", "opt", "usr", "usr/local",
                    "usr/local/bin"}  # fmt: skip
    assert "costwarden-receiver" in (root / "etc" / "passwd").read_text(), "the data's owner stays with the data"
    assert "/var/lib/costwarden-receiver" in removed.stdout and "--purge" in removed.stdout

    purged = costwarden("uninstall", "--root", root, "--purge")
    assert purged.returncode == 0, purged.stderr
    after = tree(root)
    assert {p for p in set(after) - set(pristine) if after[p][0] != "dir"} == set()
    for name in ACCOUNTS:
        assert after[f"etc/{name}"][3] == pristine[f"etc/{name}"][3], f"/etc/{name} is as it was"
    assert costwarden("uninstall", "--root", root).stdout.startswith("costwarden is not installed")


def test_dry_run_prints_every_file_and_command_and_writes_nothing(tmp_path: Path) -> None:
    root = machine(tmp_path / "root")
    before = tree(root)
    dry = costwarden("install", "--root", root, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert tree(root) == before
    for line in ("/etc/systemd/system/costwarden-receiver.service  [new]", "/etc/costwarden/intake-token  [new]",
                 "600 /etc/costwarden/receiver.env", "systemd-sysusers /etc/sysusers.d/costwarden.conf",
                 "pip install costwarden", "copy rules/ into /opt/costwarden/share/rules"):  # fmt: skip
        assert line in dry.stdout


@pytest.mark.skipif(Path("/run/systemd/system").is_dir(), reason="this machine runs systemd: it would install")
def test_a_machine_without_systemd_gets_a_clear_message() -> None:
    proc = costwarden("install")
    assert proc.returncode == 2
    assert proc.stderr.startswith("costwarden install: systemd is not running on this machine")
    assert "make run" in proc.stderr and "Traceback" not in proc.stderr


def test_status_and_uninstall_when_nothing_is_installed(tmp_path: Path) -> None:
    status = costwarden("status", "--root", tmp_path, "--prefix", "/opt/elsewhere")
    assert status.returncode == 3 and "not installed under" in status.stdout
    bad = costwarden("install", "--ports", "prometheus=http")
    assert bad.returncode == 2 and "--ports: 'prometheus=http'" in bad.stderr


def test_the_installer_needs_nothing_but_the_standard_library() -> None:
    """`sudo make install` runs on the machine's own python3, where pyyaml and friends are not installed."""
    code = ("import sys; sys.modules['yaml'] = None; sys.modules['pydantic'] = None; sys.modules['aiohttp'] = None\n"
            "import stack.install, stack.run\n")  # fmt: skip
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
    assert shutil.which("systemd-sysusers"), "make test installs systemd's tools"


@SLOW
def test_a_prefix_of_its_own_under_a_strict_umask_and_a_relative_wheel_directory(tmp_path: Path, wheels: Path) -> None:
    """Review findings: a hardened shell's umask 077 left the venv unreadable to the services; a relative --wheels
    failed (pip runs from /); the wrapper and uninstall forgot --prefix; uninstall removed the whole prefix."""
    root = machine(tmp_path / "root")
    (root / "srv" / "cw").mkdir(parents=True)
    (root / "srv" / "cw" / "notes.txt").write_text("the owner's, not ours")
    relative = os.path.relpath(wheels, ROOT)
    done = subprocess.run([sys.executable, "-m", "stack", "install", "--root", str(root), "--wheels", relative,
                           "--prefix", "/srv/cw"], cwd=ROOT, capture_output=True, text=True,
                          preexec_fn=lambda: os.umask(0o077), check=False)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    venv = root / "srv" / "cw" / "venv"
    assert (venv / "pyvenv.cfg").stat().st_mode & 0o777 == 0o644
    assert all(p.stat().st_mode & 0o005 == 0o005 for p in (venv / "lib").rglob("site-packages") if p.is_dir())
    assert (root / "etc" / "costwarden").stat().st_mode & 0o777 == 0o755
    wrapper = (root / "srv" / "cw" / "bin" / "costwarden").read_text()
    assert "COSTWARDEN_PREFIX='/srv/cw'" in wrapper and "exec '/srv/cw/venv/bin/python' -P -m stack" in wrapper
    record = json.loads((root / "srv" / "cw" / "install.json").read_text())
    assert record["prefix"] == "/srv/cw" and record["packages_installed"] == []  # --root: apt never ran
    refused = subprocess.run(["sh", str(root / "srv" / "cw" / "bin" / "costwarden"), "run"], capture_output=True,
                             text=True, check=False)  # fmt: skip
    assert (
        refused.returncode == 2
        and "usage: costwarden status | demo-alert | receiver ARGS | uninstall" in refused.stderr
    )
    # As the wrapper runs it: the prefix from the environment.
    removed = subprocess.run([sys.executable, "-m", "stack", "uninstall", "--root", str(root), "--purge"], cwd=ROOT,
                             capture_output=True, text=True, env={**os.environ, "COSTWARDEN_PREFIX": "/srv/cw"},
                             check=False)  # fmt: skip
    assert removed.returncode == 0, removed.stderr
    assert sorted(p.name for p in (root / "srv" / "cw").iterdir()) == ["notes.txt"]
    assert costwarden("install", "--root", root, "--prefix", "/usr/local", "--dry-run").returncode == 2


def test_uninstall_removes_only_what_costwarden_wrote(tmp_path: Path) -> None:
    """Review finding: with no install record, uninstall --purge deleted same-named files it never wrote."""
    root = machine(tmp_path / "root")
    foreign = {"etc/costwarden/prometheus.yml": "# my own Prometheus config\n",
               "etc/costwarden/receiver.yml": "# mine\n", "usr/local/bin/costwarden": "#!/bin/sh\n",
               "opt/costwarden/mystuff/keep": "x"}  # fmt: skip
    for rel, text in foreign.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    before = tree(root)
    nothing = costwarden("uninstall", "--root", root, "--purge")
    assert nothing.returncode == 0 and "not installed" in nothing.stdout
    assert tree(root) == before
    # With evidence of an install (its users), a purge removes costwarden's files but not these look-alikes.
    with (root / "etc" / "passwd").open("a") as passwd:
        passwd.write("costwarden-exporter:x:998:998::/var/lib/costwarden-exporter:/usr/sbin/nologin\n")
    purged = costwarden("uninstall", "--root", root, "--purge")
    assert purged.returncode == 0, purged.stderr
    assert (root / "etc/costwarden/prometheus.yml").read_text() == foreign["etc/costwarden/prometheus.yml"]
    assert (root / "usr/local/bin/costwarden").exists() and (root / "opt/costwarden/mystuff/keep").exists()
    assert "left /etc/costwarden/prometheus.yml: not written by costwarden install" in purged.stdout
