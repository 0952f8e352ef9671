"""`python -m stack`: start exporter → Prometheus (+ rules) → Alertmanager → receiver on loopback, say where each
listens, and stop them all on Ctrl-C. `python -m stack demo-alert` hands Alertmanager a synthetic cost spike so the
message can be watched arriving. `init` asks what the machine costs and where to send messages (stack/init.py);
`install`, `uninstall` and `status` put it under systemd instead (stack/install.py); `status` beside a `make run`
says what that one knows.

The configs are the repository's own (`prometheus/prometheus.yml`, `alertmanager/alertmanager.yml`, `rules/`),
rendered into `data/run/` with the addresses in use; state lives there too, so a restart keeps the history.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from costwarden import lockfile
from costwarden.catalogue import LANGUAGES, cli, os_reason, say, spelled
from stack import render
from stack.numbers import finite
from stack.render import DEFAULT_PORTS, RETENTION, ROOT

BINARIES = {"prometheus": "prometheus", "alertmanager": "prometheus-alertmanager"}
PORTS_FILE = "ports.json"
"""Beside the state of `make run`: the ports it listens on, so that `make demo-alert` finds its Alertmanager."""
LOG_BYTES = 10 * 2**20
"""A part's log past this size is moved to `.log.1` at the next start (a run left going for months still grows)."""


@dataclass(frozen=True)
class Part:
    name: str
    command: list[str]
    ready: str
    url: str


def local_zone() -> str:
    """This machine's IANA time zone (TZ, else what /etc/localtime links to), for digests at the owner's 09:00."""
    given = os.environ.get("TZ", "")
    zone = given.lstrip(":")
    if zone.startswith("/"):  # TZ=/usr/share/zoneinfo/Asia/Tokyo, TZ=:/etc/localtime (systemd units, containers)
        with contextlib.suppress(OSError):
            zone = str(Path(zone).resolve())
        zone = zone.partition("/zoneinfo/")[2]
    if not given:
        with contextlib.suppress(OSError):
            zone = str(Path("/etc/localtime").resolve()).partition("/zoneinfo/")[2]
    try:
        ZoneInfo(zone)
    except (ValueError, ZoneInfoNotFoundError):
        if given:  # a POSIX rule (CET-1CEST,…, UTC+8) libc reads: digests would silently come at UTC's 09:00
            print(cli("tz_not_a_zone", tz=given), file=sys.stderr, flush=True)
        return "UTC"
    return zone


RUN_DIR = ROOT / "data" / "run"
"""`make run`'s state and rendered configs (--data)."""
CONFIG_DIR = ROOT / "data" / "config"
"""What `costwarden init` writes for `make run`: pricing.yml, receiver.yml (merged into the rendered one) and
secrets.env."""


def with_secrets(config_dir: Path) -> dict[str, str]:
    """The environment with the channel's secrets init asked for (its secrets.env) added; the environment's own win."""
    return {**read_env(config_dir / "secrets.env"), **os.environ}


def read_env(path: Path) -> dict[str, str]:
    """KEY=value lines (init's secrets.env); nothing if there is no such file."""
    out = {}
    with contextlib.suppress(FileNotFoundError):
        for line in path.read_text().splitlines():
            key, sep, value = line.partition("=")
            if sep and key.isidentifier() and key.isupper():
                out[key] = value
    return out


def language() -> str:
    """The messages' language: $COSTWARDEN_LANGUAGE (en or zh, also as a locale writes it: zh_CN), else English; a
    value that is neither stops make run before anything starts."""
    given = os.environ.get("COSTWARDEN_LANGUAGE", "").strip()
    chosen = spelled(given or "en")
    if chosen is None:
        raise SystemExit(cli("bad_language", value=repr(given), choices=", ".join(LANGUAGES)))
    return chosen


def render_local(
    data: Path, ports: dict[str, int], actions_token: str = "", config_dir: Path = CONFIG_DIR
) -> dict[str, Path]:
    """The repository's configs with these loopback ports (and absolute rule paths), written into `data`; with
    `actions_token`, the receiver asks the exporter for the built-in diagnostics of each alert (docs/actions.md)."""
    data.mkdir(parents=True, exist_ok=True)
    addresses = {name: f"127.0.0.1:{port}" for name, port in ports.items()}
    # Actions on: a webhook can make the exporter act, so Alertmanager must authenticate (the receiver insists).
    receiver: dict[str, Any] = {
        "listen": {"host": "127.0.0.1", "port": ports["receiver"]},
        "data_dir": str(data / "receiver"),
        "prometheus": {"url": f"http://127.0.0.1:{ports['prometheus']}"},
        # make run is read on this machine: its loopback addresses are the ones to open (docs/configuration.md).
        "prometheus_url": f"http://127.0.0.1:{ports['prometheus']}",
        "alertmanager_url": f"http://127.0.0.1:{ports['alertmanager']}",
        "buttons": {"alertmanager_api": f"http://127.0.0.1:{ports['alertmanager']}"},
        "digest": {"timezone": local_zone()},
        "channels": [{"type": "console"}, {"type": "file", "path": str(data / "sent.jsonl")}],
    }
    if actions_token:
        token = render.intake_token(data).read_text().strip()
        receiver |= {"actions": {"url": f"http://127.0.0.1:{ports['exporter']}", "token": actions_token},
                     "auth": {"bearer_token": token}}  # fmt: skip
    paths = {"prometheus": data / "prometheus.yml", "alertmanager": data / "alertmanager.yml",
             "receiver": data / "receiver.yml"}  # fmt: skip
    paths["prometheus"].write_text(render.prometheus(addresses, str(ROOT / "rules")))
    paths["alertmanager"].write_text(
        render.alertmanager(addresses, str((data / render.INTAKE_TOKEN).resolve()) if actions_token else None)
    )
    # What `costwarden init` wrote, then the language asked for, then more receiver.yml from the environment, each
    # merged over the one before (a mapping key by key, a list such as init's channels replaced).
    import yaml  # here, not at the top: `python3 -m stack install` runs on the system's python3 (no venv)

    from costwarden import yamlfile

    mine = config_dir / "receiver.yml"
    extra = os.environ.get("COSTWARDEN_RECEIVER_YML_EXTRA", "")
    try:
        layers = [_mapping(yamlfile.read(mine), str(mine)) if mine.exists() else {}]
        layers += [{"ollama": {"language": language()}}] if os.environ.get("COSTWARDEN_LANGUAGE") else []
        layers += [_mapping(yamlfile.loads(extra, "COSTWARDEN_RECEIVER_YML_EXTRA"), "COSTWARDEN_RECEIVER_YML_EXTRA")]
    except yamlfile.YamlFileError as exc:
        raise SystemExit(str(exc)) from None
    for layer in layers:
        receiver = yamlfile.merge(receiver, layer)
    paths["receiver"].touch(mode=0o600)
    paths["receiver"].chmod(0o600)  # it may hold this run's actions token: private before it is written
    header = "# " + cli("rendered_from", mine=mine) + "\n"
    paths["receiver"].write_text(header + yaml.safe_dump(receiver, sort_keys=False, allow_unicode=True))
    return paths


def _mapping(raw: object, source: str) -> dict[str, Any]:
    """A receiver.yml layer: a mapping of its fields ('' or [] none), else make run stops naming where it came from."""
    if not raw:
        return {}
    if not isinstance(raw, dict):
        raise SystemExit(f"{source}: " + say("exporter_errors", "mapping", kind=type(raw).__name__))
    return raw


def parts(data: Path, ports: dict[str, int], actions_token: str = "", config_dir: Path = CONFIG_DIR) -> list[Part]:
    configs = render_local(data, ports, actions_token, config_dir)
    py = sys.executable
    pricing = config_dir / "pricing.yml"  # costwarden init's; else the exporter's embedded default
    return [
        Part("exporter", [py, "-m", "exporter", f"--web.listen-address=127.0.0.1:{ports['exporter']}",
                          f"--storage.state-file={data / 'exporter-state.json'}",
                          *([f"--config.file={pricing}"] if pricing.exists() else [])],
             "/metrics", f"http://127.0.0.1:{ports['exporter']}/"),
        Part("prometheus", [BINARIES["prometheus"], f"--config.file={configs['prometheus']}",
                            f"--storage.tsdb.path={data / 'prometheus'}", *RETENTION,
                            f"--web.listen-address=127.0.0.1:{ports['prometheus']}",
                            f"--web.external-url=http://127.0.0.1:{ports['prometheus']}"],
             "/-/ready", f"http://127.0.0.1:{ports['prometheus']}/alerts"),
        Part("alertmanager", [BINARIES["alertmanager"], f"--config.file={configs['alertmanager']}",
                              f"--storage.path={data / 'alertmanager'}", "--cluster.listen-address=",
                              f"--web.listen-address=127.0.0.1:{ports['alertmanager']}",
                              f"--web.external-url=http://127.0.0.1:{ports['alertmanager']}"],
             "/-/ready", f"http://127.0.0.1:{ports['alertmanager']}/"),
        Part("receiver", [py, "-m", "receiver", "--config", str(configs["receiver"]), "--log.format", "logfmt"],
             "/-/ready", f"http://127.0.0.1:{ports['receiver']}/metrics"),
    ]  # fmt: skip


def http_ok(url: str) -> bool:
    return unready(url) is None


def unready(url: str) -> str | None:
    """None when `url` answers 200; else why not: the first line of what it answered instead ("outbox not writable:
    only 0 KiB free …"), or "" when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 - loopback URLs we built
            return None if resp.status == 200 else f"HTTP {resp.status}"
    except urllib.error.HTTPError as exc:
        said = ""
        with contextlib.suppress(OSError):
            said = next(iter(exc.read(300).decode("utf-8", "replace").strip().splitlines()), "")
        return "".join(ch for ch in said if ch.isprintable())[:200] or f"HTTP {exc.code}"  # shown on a terminal
    except OSError:
        return ""


class Interrupted(Exception):
    """Ctrl-C or SIGTERM while the parts were starting: what started is stopped again."""


def start(
    data: Path,
    ports: dict[str, int],
    running: list[tuple[Part, subprocess.Popen[bytes]]],
    interrupted: Callable[[], bool],
    config_dir: Path = CONFIG_DIR,
    lock: int | None = None,
) -> None:
    """Each part in turn, waiting until it answers; `running` is the caller's, so that whatever ends the start (a part
    that does not come up, `interrupted()`) leaves it knowing what to stop. `lock`: the data directory's lock, given
    to every part, so that it stays held while any of them runs (this process killed, the parts left running)."""
    missing = [b for b in BINARIES.values() if shutil.which(b) is None]
    if missing:
        raise SystemExit(cli("missing_binaries", names=", ".join(missing)))
    for name, port in ports.items():
        if http_ok(f"http://127.0.0.1:{port}/"):
            raise SystemExit(cli("port_busy", port=port, name=name, hint=_debian_hint(name)))
    logs = data / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    # A fresh token each run: the exporter serves the built-in read-only diagnostics to this receiver only.
    token = secrets.token_urlsafe(24)
    env = {**os.environ, "COSTWARDEN_ACTIONS_TOKEN": token}
    for part in parts(data, ports, token, config_dir):
        log = _log(logs / f"{part.name}.log")
        begins = log.tell()  # this start's lines, for the reason it gives if it does not come up
        # The receiver's standard output is its console channel: the messages themselves, shown here.
        stdout = None if part.name == "receiver" else log
        # Fixed argument lists built above from our own paths and port numbers; no shell.
        proc = subprocess.Popen(part.command, stdout=stdout, stderr=log, cwd=ROOT, env=env,  # noqa: S603
                                start_new_session=True, pass_fds=() if lock is None else (lock,))  # fmt: skip
        running.append((part, proc))
        base = part.url.split("/", 3)[:3]
        deadline = time.monotonic() + 60
        while not http_ok("/".join(base) + part.ready):
            if interrupted():
                raise Interrupted
            if proc.poll() is not None or time.monotonic() > deadline:
                stop(running)
                raise SystemExit(_not_started(part.name, logs / f"{part.name}.log", begins))
            time.sleep(0.2)
        print(f"  {part.name:<13} {part.url}", flush=True)


def _log(path: Path) -> BinaryIO:
    """A part's log, appended to across starts; past LOG_BYTES it is moved to `.log.1` (the one before dropped), so
    that restarting make run for months does not fill the disk."""
    with contextlib.suppress(FileNotFoundError):
        if path.stat().st_size > LOG_BYTES:
            path.replace(path.with_name(path.name + ".1"))
    return path.open("ab")


def ended(returncode: int) -> str:
    """How a part's process ended, for a person: a signal by name (a kill -9 leaves no last line in its log)."""
    if returncode < 0:
        with contextlib.suppress(ValueError):
            return cli("killed_by", signal=signal.Signals(-returncode).name)
    return cli("exit_status", code=returncode)


def _not_started(name: str, log: Path, begins: int) -> str:
    """Why a part did not come up, in the last line it wrote (the receiver's and the exporter's name the file, field
    and reason of a bad config), then where its whole log is."""
    with contextlib.suppress(OSError), log.open("rb") as f:
        f.seek(begins)
        said = [line.strip() for line in f.read().decode("utf-8", "replace").splitlines() if line.strip()]
        if said:
            return cli("not_started_because", name=name, reason=said[-1][:500], log=log)
    return cli("not_started", name=name, log=log)


def _debian_hint(name: str) -> str:
    """Debian's packages start their own Prometheus and Alertmanager (on all interfaces) when installed: say so."""
    unit = {"prometheus": "prometheus", "alertmanager": "prometheus-alertmanager"}.get(name)
    if unit is None or not Path("/run/systemd/system").is_dir():
        return ""
    active = subprocess.run(["systemctl", "is-active", f"{unit}.service"], capture_output=True, text=True,  # noqa: S603, S607
                            check=False).stdout.strip()  # fmt: skip
    if active != "active":
        return ""
    return cli("debian_service", unit=unit)


def stop(running: list[tuple[Part, subprocess.Popen[bytes]]]) -> None:
    for _, proc in reversed(running):
        if proc.poll() is None:
            proc.terminate()
    for part, proc in reversed(running):
        try:
            proc.wait(timeout=25)
        except subprocess.TimeoutExpired:
            print("  " + cli("killing", name=part.name), flush=True)
            proc.kill()
            proc.wait()


def demo_alert(ports: dict[str, int], minutes: float) -> None:
    """A synthetic critical cost spike, as Prometheus would send it, ending after `minutes`."""
    alertmanager = f"http://127.0.0.1:{ports['alertmanager']}"
    now = datetime.now(UTC)
    # A workload name of its own each time: Alertmanager remembers what it sent (across restarts, for the repeat
    # interval of an hour), so a second demo with the same labels would be silently skipped as already sent.
    cgroup = f"demo-miner-{now:%H%M%S}"
    alert = {
        "labels": {"alertname": "CostwardenCostSpike", "severity": "critical", "instance": "localhost",
                   "job": "costwarden-exporter", "cgroup": cgroup, "resource": "cpu"},
        "annotations": {
            "summary": "A resource suddenly costs far more than it usually does at this hour.",
            "description": f"The cpu cost of {cgroup} on localhost is 0.0312 USD/h against 0.0010 USD/h expected "
                           "at this hour (z-score 14.2). This is a demo alert from `make demo-alert`.",
            "runbook_url": "https://github.com/costwarden/costwarden/blob/main/rules/runbook.md#costwardencostspike",
            "dashboard_url": "/d/costwarden-anomalies/costwarden-anomalies?var-instance=localhost",
        },
        "startsAt": now.isoformat(), "endsAt": (now + timedelta(minutes=minutes)).isoformat(),
        "generatorURL": f"http://127.0.0.1:{ports['prometheus']}/alerts",
    }  # fmt: skip
    request = urllib.request.Request(  # noqa: S310 - loopback
        f"{alertmanager}/api/v2/alerts", data=json.dumps([alert]).encode(), method="POST",
        headers={"Content-Type": "application/json"},
    )  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:  # noqa: S310 - loopback
            resp.read()
    except (urllib.error.URLError, OSError) as exc:
        raise SystemExit(cli("demo_refused", url=alertmanager, error=exc)) from exc
    print(cli("demo_sent", url=alertmanager, resolved=f"{minutes + 5:g}", minutes=f"{minutes:g}"))


def run_status(ports: dict[str, int], data: Path | None = None) -> int:
    """`costwarden status` beside a `make run` (on `data`, when known): each part answering, then what the pipeline
    knows."""
    from stack import status
    from stack.systemd import READY  # the same readiness paths `costwarden status` asks after an install

    print(cli("status_title"))
    running = data is None or lockfile.held(data / "run.lock")
    answering, any_answering = True, False
    for name, ready in READY.items():
        why = unready(f"http://127.0.0.1:{ports[name]}{ready}")
        answering &= why is None
        any_answering |= why != ""
        state = cli("answers") if why is None else cli("not_ready", reason=why) if why else cli("not_answering")
        print("  " + cli("part_state", name=f"{name:<13}", state=state, port=ports[name]))
    if not running and not any_answering:  # no lock held, nothing answers (a make run of before the lock holds none)
        print("  " + cli("run_not_running", data=data))
    else:
        for line in status.lines(ports, time.time()):
            print(f"  {line}")
    return 0 if answering else 3


def minutes(text: str) -> float:
    """A duration in minutes, above 0 and finite (argparse says the error: exit 2)."""
    value = finite(text)
    if value is None or not 0 < value <= 7 * 24 * 60:  # a demo of a week at most
        raise argparse.ArgumentTypeError(cli("minutes_usage", given=repr(text)))
    return value


def recorded_ports(path: Path) -> dict[str, int]:
    """The ports a `make run` recorded beside its state, over the usual ones; an unreadable file: the usual ones."""
    ports = dict(DEFAULT_PORTS)
    with contextlib.suppress(OSError, ValueError, TypeError, AttributeError):
        ports.update({k: int(v) for k, v in json.loads(path.read_text()).items() if k in ports})
    return ports


def parse_ports(text: str, parser: argparse.ArgumentParser, base: dict[str, int]) -> dict[str, int]:
    """`--ports exporter=19877,prometheus=19090` over `base`; a usage error (exit 2) names the bad item."""
    ports = dict(base)
    for item in filter(None, text.split(",")):
        name, _, port = item.partition("=")
        if name not in ports or not port.isdigit() or not 0 < int(port) < 65536:
            parser.error(cli("ports_usage", item=repr(item), names=", ".join(ports)))
        ports[name] = int(port)
    return ports


def receiver_command(argv: list[str]) -> int:
    """`costwarden-receiver ARGS` on what `make run` rendered (--config data/run/receiver.yml unless given) with the
    secrets init wrote (secrets.env), as make run starts it: send-test, digest --dry-run, --config.check."""
    # No abbreviations: the receiver's own --config must not be taken for --config-dir.
    beside = argparse.ArgumentParser(prog="python -m stack receiver", add_help=False, allow_abbrev=False)
    beside.add_argument("--data", type=Path, default=RUN_DIR)
    beside.add_argument("--config-dir", dest="config_dir", type=Path, default=CONFIG_DIR)
    known, rest = beside.parse_known_args(argv)
    rendered = known.data / "receiver.yml"
    if not any(a == "--config" or a.startswith("--config=") for a in rest):
        if not rendered.exists():
            raise SystemExit(cli("no_run_config", config=rendered))
        rest += ["--config", str(rendered)]
        mine = known.config_dir / "receiver.yml"
        with contextlib.suppress(OSError):
            if mine.stat().st_mtime > rendered.stat().st_mtime:  # an edit that make run has not read yet
                print(cli("rendered_stale", mine=mine, rendered=rendered), file=sys.stderr, flush=True)
    env = with_secrets(known.config_dir)
    return subprocess.run([sys.executable, "-m", "receiver", *rest], env=env).returncode  # noqa: S603 - the user's own arguments


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["status"] and not os.environ.get("COSTWARDEN_PREFIX"):
        beside = argparse.ArgumentParser(
            prog="python -m stack status", description="What the `make run` beside knows (its ports are in --data)."
        )
        beside.add_argument("--data", type=Path, help=f"make run's state (default: {RUN_DIR})")
        beside.add_argument("--ports", default="", help="e.g. prometheus=19090 (default: the ones make run recorded)")
        known, _ = beside.parse_known_args([a for a in argv[1:] if a not in ("-h", "--help")])
        recorded = (known.data or RUN_DIR) / PORTS_FILE
        if known.data is not None and not recorded.exists():  # asked for make run's state: there is none
            beside.error(cli("no_run_state", data=known.data))
        if recorded.exists():  # `make run`'s, not an install's
            args = beside.parse_args(argv[1:])
            return run_status(parse_ports(args.ports, beside, recorded_ports(recorded)), recorded.parent)
    if argv[:1] and argv[0] in ("install", "uninstall", "status"):
        from stack import install  # its own command line

        return install.main(argv)
    if argv[:1] == ["init"]:
        from stack import init  # the venv's: it reads presets and sends its test with the receiver's code

        return init.main(argv[1:])
    if argv[:1] == ["receiver"]:
        if prefix := os.environ.get("COSTWARDEN_PREFIX"):  # the installed `costwarden`: the unit's way
            from stack import install
            from stack.systemd import Layout

            return install.receiver_command(argv[1:], Layout(prefix=Path(prefix)))
        return receiver_command(argv[1:])
    if argv[:1] == ["start"]:
        from stack import compose  # inside the compose image only (it reads .env with pyyaml and the exporter)

        return compose.start_main(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m stack", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    # init, status, install and uninstall have command lines of their own (above); named here for the usage line.
    commands = ["run", "demo-alert", "render", "init", "status", "receiver", "install", "uninstall"]
    parser.add_argument("command", nargs="?", default="run", choices=commands)
    parser.add_argument(
        "--out", type=Path, default=Path("/etc/costwarden"), help="render: where the compose configs go"
    )
    parser.add_argument("--token-dir", dest="token_dir", type=Path, default=None,
                        help="render: where the receiver's intake token goes (default: --out)")  # fmt: skip
    parser.add_argument("--exporter-state", dest="exporter_state", type=Path, default=None,
                        help="render: the exporter's state volume, made root's (the exporter runs without "
                             "CAP_DAC_OVERRIDE; earlier versions left it owned by the image's user)")  # fmt: skip
    parser.add_argument("--data", type=Path, default=RUN_DIR, help="state and rendered configs")
    parser.add_argument("--config-dir", dest="config_dir", type=Path, default=CONFIG_DIR,
                        help="what `costwarden init` wrote (default: %(default)s)")  # fmt: skip
    ports_help = (
        "e.g. exporter=19877,prometheus=19090 (default: $COSTWARDEN_PORTS, which the installed "
        "`costwarden` sets; demo-alert: else the last `make run`'s; else the usual)"
    )
    parser.add_argument("--ports", default=os.environ.get("COSTWARDEN_PORTS", ""), help=ports_help)
    parser.add_argument("--minutes", type=minutes, default=2.0, help="demo-alert: how long the spike lasts")
    args = parser.parse_args(argv)
    recorded = args.data / PORTS_FILE
    use_recorded = args.command == "demo-alert" and not args.ports and recorded.exists()
    ports = parse_ports(args.ports, parser, recorded_ports(recorded) if use_recorded else dict(DEFAULT_PORTS))
    if args.command == "render":
        from stack import compose

        return compose.render_main(args.out, args.token_dir, args.exporter_state)
    if args.command == "demo-alert":
        demo_alert(ports, args.minutes)
        return 0
    language()  # a typo in COSTWARDEN_LANGUAGE stops here, before anything starts
    locked = contextlib.ExitStack()
    try:  # before anything is written there or started; a moment's wait: `status` probes it
        args.data.mkdir(parents=True, exist_ok=True)
        lock = locked.enter_context(lockfile.hold(args.data / "run.lock", wait=2.0))
    except lockfile.Held as other:
        raise SystemExit(cli("already_running", data=args.data, pid=other.pid)) from None
    except OSError as exc:
        raise SystemExit(cli("data_unusable", data=args.data, reason=os_reason(exc))) from None
    with locked:
        try:
            return run(args.data, ports, args.config_dir, lock)
        except OSError as exc:  # every part started is stopped by now: say why, not a traceback
            raise SystemExit(cli("run_failed", file=exc.filename or args.data, reason=os_reason(exc))) from None


def run(data: Path, ports: dict[str, int], config_dir: Path, lock: int | None = None) -> int:
    """The pipeline until Ctrl-C or SIGTERM (0), or a part that dies (1); either while starting: 130. Whatever ends
    it, every part started is stopped."""
    print(cli("run_title", data=data, logs=data / "logs"), flush=True)
    os.environ.update(with_secrets(config_dir))  # for every part started, the receiver's channels above all
    stopping = False

    def on_signal(signum: int, _: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    running: list[tuple[Part, subprocess.Popen[bytes]]] = []
    try:
        try:
            start(data, ports, running, lambda: stopping, config_dir, lock)
            if stopping:  # after the last part came up, before we knew
                raise Interrupted
        except Interrupted:
            print(f"\n{cli('stopping')}", flush=True)
            return 130
        (data / PORTS_FILE).write_text(json.dumps(ports) + "\n")  # for `make demo-alert`, which is not told the ports
        print(f"\n{cli('run_ready')}\n", flush=True)
        while not stopping:
            dead = [f"{part.name} ({ended(proc.returncode)})" for part, proc in running if proc.poll() is not None]
            if dead:
                print(cli("died", names=", ".join(dead), logs=data / "logs"), flush=True)
                return 1
            time.sleep(0.5)
        print(f"\n{cli('stopping')}", flush=True)
        return 0
    finally:
        stop(running)
