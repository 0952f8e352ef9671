"""What `costwarden install` asks systemd to run, as whom, and what each service may touch — rendered as text by pure
functions, so the tests read exactly what a machine gets.

Four services, each under its own system user, on loopback only: the exporter (read-only on the host, with the two
capabilities it needs to see other users' processes and Docker's container names), and the pipeline's own
Prometheus, Alertmanager and receiver (no capabilities, no view of other processes). `costwarden.target` starts and
stops them together and is what `enable` turns on at boot. Secrets never sit in a file a service user can read:
systemd reads `receiver.env` as root, and hands each token to the units that need it with `LoadCredential=`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from stack.render import RETENTION

SERVICES = ("exporter", "prometheus", "alertmanager", "receiver")
"""In start order: the exporter is scraped, Prometheus sends to Alertmanager, which hands over to the receiver."""

TARGET = "costwarden.target"
INSTALL_PORTS = {"exporter": 9877, "prometheus": 9190, "alertmanager": 9193, "receiver": 9095}
"""Our own Prometheus and Alertmanager on ports of their own, beside any the distribution's packages run on
9090/9093 (Debian's post-install scripts start those on all interfaces; see docs/install.md)."""

READY = {"exporter": "/-/healthy", "prometheus": "/-/ready", "alertmanager": "/-/ready", "receiver": "/-/ready"}
BINARIES = {"prometheus": "/usr/bin/prometheus", "alertmanager": "/usr/bin/prometheus-alertmanager"}
PACKAGES = {"prometheus": "prometheus", "alertmanager": "prometheus-alertmanager"}
INTAKE_TOKEN = "intake-token"  # noqa: S105 - a file name
ACTIONS_TOKEN = "actions-token"  # noqa: S105 - a file name


@dataclass(frozen=True)
class Layout:
    """Where everything lives on the target machine (final paths, whatever `--root` they are written under)."""

    prefix: Path = Path("/opt/costwarden")
    etc: Path = Path("/etc/costwarden")
    unit_dir: Path = Path("/etc/systemd/system")
    sysusers: Path = Path("/etc/sysusers.d/costwarden.conf")
    state: Path = Path("/var/lib")
    link: Path = Path("/usr/local/bin/costwarden")

    @property
    def python(self) -> Path:
        # `python -m`, not the venv's console scripts: their shebangs name the venv's build path, and the venv is
        # built beside the old one and moved into place (an upgrade that fails leaves the running one alone).
        return self.prefix / "venv" / "bin" / "python"

    @property
    def rules(self) -> Path:
        return self.prefix / "share" / "rules"

    @property
    def manifest(self) -> Path:
        return self.prefix / "install.json"

    def state_dir(self, service: str) -> Path:
        return self.state / f"costwarden-{service}"

    def unit(self, service: str) -> Path:
        return self.unit_dir / unit_name(service)


def unit_name(service: str) -> str:
    return f"costwarden-{service}.service"


def user(service: str) -> str:
    return f"costwarden-{service}"


def credential(service: str, name: str) -> str:
    """Where systemd (≥ 247) puts a `LoadCredential=` file for a running unit: readable by that unit's user only."""
    return f"/run/credentials/{unit_name(service)}/{name}"


def sysusers(layout: Layout) -> str:
    lines = ["# costwarden's system users (costwarden install); systemd-sysusers creates them when missing."]
    lines += [f'u {user(s)} - "costwarden {s}" {layout.state_dir(s)} -' for s in SERVICES]
    return "\n".join(lines) + "\n"


_HARDENING = """\
NoNewPrivileges=yes
ProtectSystem=strict
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
MemoryDenyWriteExecute=yes
RemoveIPC=yes
SystemCallArchitectures=native
SystemCallFilter=@system-service
SystemCallErrorNumber=EPERM
UMask=0077
"""
"""Every unit: a read-only system, private /tmp and /dev, no privilege gain, only the system-service syscalls (no
ptrace, no mount, no module loading, no clock changes)."""

_ISOLATED = """\
CapabilityBoundingSet=
ProtectHome=yes
ProtectProc=invisible
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6
"""
"""Prometheus, Alertmanager, the receiver: no capabilities, no home directories, other users' processes invisible."""

_EXPORTER = """\
# Read-only everywhere; it prices other users' containers, so it needs to read their /proc/<pid>/ns/net (ptrace read
# access; the ptrace syscall itself is filtered out above) and Docker's root-only container configs (names). /proc is
# read-only to it (no writing another process's memory), and the other services' secrets and data are out of reach.
AmbientCapabilities=CAP_DAC_READ_SEARCH CAP_SYS_PTRACE
CapabilityBoundingSet=CAP_DAC_READ_SEARCH CAP_SYS_PTRACE
ProtectHome=yes
ReadOnlyPaths=/proc
InaccessiblePaths=-/etc/shadow -/etc/gshadow -/etc/costwarden/receiver.env -/etc/costwarden/intake-token
InaccessiblePaths=-/etc/costwarden/actions-token -/var/lib/costwarden-receiver -/var/lib/costwarden-alertmanager
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK
"""


def _unit(layout: Layout, service: str, description: str, exec_start: list[str], extra: str,
          after: str = "") -> str:  # fmt: skip
    # Loopback only: no network-online.target to wait for at boot.
    return (
        "# Written by `costwarden install`; replaced on upgrade. Local changes: systemctl edit "
        f"{unit_name(service)}\n"
        "[Unit]\n"
        f"Description={description}\n"
        "Documentation=https://github.com/costwarden/costwarden/blob/main/docs/install.md\n"
        + (f"After={after}\n" if after else "")
        + f"PartOf={TARGET}\n"
        "\n[Service]\n"
        "Type=simple\n"
        f"User={user(service)}\n"
        f"Group={user(service)}\n"
        f"ExecStart={' '.join(exec_start)}\n"
        f"StateDirectory={layout.state_dir(service).relative_to(layout.state)}\n"
        "StateDirectoryMode=0700\n"
        "Restart=on-failure\n"
        "RestartSec=5s\n"
        "TimeoutStopSec=30s\n"
        f"{extra}"
        f"{_HARDENING}"
    )


def units(layout: Layout, ports: dict[str, int]) -> dict[str, str]:
    """Unit file name → text."""
    py = str(layout.python)
    etc = layout.etc
    listen = {name: f"127.0.0.1:{port}" for name, port in ports.items()}
    exporter = _unit(
        layout, "exporter", "costwarden exporter: this host's and its containers' usage priced as money",
        [py, "-m", "exporter", f"--config.file={etc / 'exporter.yml'}", f"--web.listen-address={listen['exporter']}",
         f"--storage.state-file={layout.state_dir('exporter') / 'state.json'}", "--log.format=logfmt"],
        f"LoadCredential={ACTIONS_TOKEN}:{etc / ACTIONS_TOKEN}\n"
        f"Environment=COSTWARDEN_ACTIONS_TOKEN_FILE=%d/{ACTIONS_TOKEN}\n" + _EXPORTER,
    )  # fmt: skip
    prometheus = _unit(
        layout, "prometheus", "costwarden's Prometheus: the cost series and the detection rules",
        [BINARIES["prometheus"], f"--config.file={etc / 'prometheus.yml'}",
         f"--storage.tsdb.path={layout.state_dir('prometheus')}", *RETENTION,
         f"--web.listen-address={listen['prometheus']}", f"--web.external-url=http://{listen['prometheus']}"],
        _ISOLATED,
    )  # fmt: skip
    alertmanager = _unit(
        layout, "alertmanager", "costwarden's Alertmanager: grouping and routing to the receiver",
        [BINARIES["alertmanager"], f"--config.file={etc / 'alertmanager.yml'}",
         f"--storage.path={layout.state_dir('alertmanager')}", "--cluster.listen-address=",
         f"--web.listen-address={listen['alertmanager']}", f"--web.external-url=http://{listen['alertmanager']}"],
        f"LoadCredential={INTAKE_TOKEN}:{etc / INTAKE_TOKEN}\n" + _ISOLATED,
    )  # fmt: skip
    receiver = _unit(
        layout, "receiver", "costwarden receiver: explains each alert and sends it to your phone",
        [py, "-m", "receiver", "serve", f"--config={etc / 'receiver.yml'}", "--log.format=logfmt"],
        f"EnvironmentFile=-{etc / 'receiver.env'}\n"
        f"LoadCredential={INTAKE_TOKEN}:{etc / INTAKE_TOKEN}\n"
        f"LoadCredential={ACTIONS_TOKEN}:{etc / ACTIONS_TOKEN}\n"
        f"Environment=COSTWARDEN_RECEIVER_BEARER_TOKEN_FILE=%d/{INTAKE_TOKEN}\n"
        f"Environment=COSTWARDEN_RECEIVER_ACTIONS_TOKEN_FILE=%d/{ACTIONS_TOKEN}\n" + _ISOLATED,
        after=unit_name("prometheus"),
    )  # fmt: skip
    target = (
        "# Written by `costwarden install`: `systemctl start|stop|restart costwarden.target` acts on all four.\n"
        "[Unit]\n"
        "Description=costwarden: exporter, Prometheus, Alertmanager and receiver\n"
        "Documentation=https://github.com/costwarden/costwarden/blob/main/docs/install.md\n"
        f"Wants={' '.join(unit_name(s) for s in SERVICES)}\n"
        "\n[Install]\n"
        "WantedBy=multi-user.target\n"
    )
    texts = dict(zip((unit_name(s) for s in SERVICES), (exporter, prometheus, alertmanager, receiver), strict=True))
    return {**texts, TARGET: target}
