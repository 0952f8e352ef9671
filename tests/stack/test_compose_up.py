"""`docker compose up` for real (`make test-compose`): a Docker engine (started here if none runs, and stopped again),
the images the compose file names (stand-ins built from Debian's packages when no registry answers, said so on the
console), this tree's image, and the stack up until every healthcheck passes. Then a demo alert through the real
Alertmanager to the receiver's file channel; per-container cost series of the stack's own containers with no host
egress counted twice; nothing listening publicly; `.env` checked variable by variable; an edited `.env` applied by
`up -d`; memory of each service idle and during the alert. Finally `down -v`, and the machine as it was.

Grafana and Ollama are left out: their images cannot be had here and have no stand-in (docs/compose.md).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.stack import images

ROOT = Path(__file__).parents[2]
PROJECT = "costwarden-test"
SERVICES = ["config", "exporter", "prometheus", "alertmanager", "receiver"]
LONG_RUNNING = SERVICES[1:]
PULLED = ["prom/prometheus:v3.1.0", "prom/alertmanager:v0.28.0", "python:3.12.8-slim-bookworm"]
OURS = "costwarden:0.1.0"
DOCKERD_PID = Path("/run/costwarden-test-dockerd.pid")
"""A dockerd this test started; one left by a run that was killed midway is stopped by the next run."""
PORTS = {"prometheus": 19090, "alertmanager": 19093}

pytestmark = pytest.mark.compose


def say(capsys: pytest.CaptureFixture[str], text: str) -> None:
    with capsys.disabled():
        print(text, flush=True)


def docker_answers() -> bool:
    return subprocess.run(["docker", "info"], capture_output=True, check=False).returncode == 0


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    if os.geteuid() != 0:
        pytest.skip("starting a Docker engine needs root (CI runs as root)")
    leftover = DOCKERD_PID.exists() and Path(f"/proc/{DOCKERD_PID.read_text().strip() or 0}").exists()
    dockerd: subprocess.Popen[bytes] | None = None
    if not docker_answers():
        log = tmp_path_factory.mktemp("dockerd") / "dockerd.log"
        with log.open("ab") as out:
            dockerd = subprocess.Popen(["dockerd", "--iptables=false", "--ip-forward=false",
                                        "--storage-driver=overlay2", f"--pidfile={DOCKERD_PID}"],
                                       stdout=out, stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
        deadline = time.monotonic() + 60
        while not docker_answers():
            assert dockerd.poll() is None, f"dockerd stopped: {log.read_text()[-2000:]}"
            assert time.monotonic() < deadline, f"dockerd did not start: {log.read_text()[-2000:]}"
            time.sleep(0.5)
    yield
    if dockerd is not None:
        dockerd.terminate()
        dockerd.wait(timeout=60)
    elif leftover:  # started by a run of this test that was killed midway: ours to stop
        pid = int(DOCKERD_PID.read_text().strip())
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 60
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.3)


@pytest.fixture(scope="module")
def env_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("compose") / ".env"
    path.write_text((ROOT / ".env.example").read_text() + "COSTWARDEN_ACTIONS_TOKEN=" + "t0ken" * 8 + "\n"
                    + "".join(f"{s.upper()}_PORT=127.0.0.1:{p}\n{s.upper()}_URL=http://127.0.0.1:{p}\n"
                              for s, p in PORTS.items()))  # fmt: skip
    return path


def compose(env_file: Path, *args: str, check: bool = True, **run: Any) -> subprocess.CompletedProcess[str]:
    cmd = ["docker-compose", "-p", PROJECT, "--env-file", str(env_file), "-f", str(ROOT / "docker-compose.yml"),
           "--project-directory", str(ROOT), *args]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False, **run)
    if check:
        assert done.returncode == 0, f"{' '.join(args)}: {done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="module")
def stack(engine: None, env_file: Path) -> Iterator[dict[str, float]]:
    compose(env_file, "down", "-v", "--remove-orphans", check=False)  # what a killed run left
    had = {image: images.present(image) for image in [*PULLED, OURS]}
    standins = images.ensure(PULLED)
    if standins:
        print(f"\nSTAND-IN IMAGES (no registry answers): {', '.join(standins)} — built from Debian's packages with "
              "the upstream layout; Debian's Prometheus 2.42 and Alertmanager 0.25 stand in for the pinned versions",
              file=sys.__stderr__, flush=True)  # fmt: skip
    subprocess.run(["docker", "build", "--network", "host", "-t", OURS, str(ROOT)], check=True, capture_output=True,
                   timeout=900)  # fmt: skip
    # An exporter volume as an earlier version left it: owned by the image's user, whom the exporter (root without
    # CAP_DAC_OVERRIDE) could not write as; the config service makes it root's.
    volume = f"{PROJECT}_exporter"
    subprocess.run(["docker", "volume", "create", volume], check=True, capture_output=True)
    subprocess.run(["docker", "run", "--rm", "--user", "0", "-v", f"{volume}:/v", OURS, "chown", "10001:10001", "/v"],
                   check=True, capture_output=True)  # fmt: skip
    started = time.monotonic()
    compose(env_file, "up", "-d", *SERVICES)
    deadline = time.monotonic() + 240
    while (health := states(env_file)) != dict.fromkeys(LONG_RUNNING, "healthy"):
        assert time.monotonic() < deadline, f"not healthy within 240 s: {health}"
        time.sleep(1)
    timing = {"up_to_healthy_s": time.monotonic() - started}
    try:
        yield timing
    finally:
        compose(env_file, "down", "-v", "--remove-orphans", check=False)
        if not os.environ.get("COSTWARDEN_KEEP_IMAGES"):
            # Stand-ins are ours whoever built them (a run killed midway leaves them); our image only if it is new.
            images.remove(sorted({*standins, *(image for image, there in had.items() if not there)}))


def states(env_file: Path) -> dict[str, str]:
    ids = compose(env_file, "ps", "-q", *LONG_RUNNING).stdout.split()
    found: dict[str, str] = {}
    for cid in ids:
        info = json.loads(subprocess.run(["docker", "inspect", cid], capture_output=True, text=True,
                                         check=True).stdout)[0]  # fmt: skip
        service = info["Config"]["Labels"]["com.docker.compose.service"]
        found[service] = (info["State"].get("Health") or {}).get("Status", info["State"]["Status"])
    return found


def query(expr: str) -> list[dict[str, Any]]:
    url = f"http://127.0.0.1:{PORTS['prometheus']}/api/v1/query?query={urllib.parse.quote(expr)}"
    with urllib.request.urlopen(url, timeout=10) as resp:
        result: list[dict[str, Any]] = json.load(resp)["data"]["result"]
        return result


def memory() -> dict[str, float]:
    shown = subprocess.run(["docker", "stats", "--no-stream", "--format", "{{.Name}}\t{{.MemUsage}}"],
                           capture_output=True, text=True, check=True).stdout  # fmt: skip
    units = {"KiB": 1 / 1024, "MiB": 1.0, "GiB": 1024.0, "B": 1 / 1024 / 1024}
    found: dict[str, float] = {}
    for line in shown.splitlines():
        name, usage = line.split("\t")
        if name.startswith(f"{PROJECT}_"):
            amount = usage.split("/")[0].strip()
            unit = next(u for u in units if amount.endswith(u))
            found[name.split("_")[1]] = float(amount[: -len(unit)]) * units[unit]
    return found


def sent(env_file: Path) -> str:
    return compose(env_file, "exec", "-T", "receiver", "cat", "/var/lib/costwarden/sent.jsonl", check=False).stdout


def until(check: Any, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while True:
        with contextlib.suppress(OSError, ValueError, KeyError):
            if check():
                return
        assert time.monotonic() < deadline, f"{what} within {seconds:g} s"
        time.sleep(1)


def test_the_stack_comes_up_delivers_a_demo_alert_and_prices_its_own_containers(
    stack: dict[str, float], env_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert ".env checked: every variable is valid" in compose(env_file, "logs", "config").stdout
    # The month-to-date state is written (the exporter saves it every sample).
    until(lambda: compose(env_file, "exec", "-T", "exporter", "python", "-c",
                          "import os; os.stat('/var/lib/costwarden-exporter/exporter-state.json')",
                          check=False).returncode == 0, 60, "the exporter did not save its state")  # fmt: skip
    assert "cannot save" not in compose(env_file, "logs", "exporter").stdout
    idle = memory()
    # The demo alert, through the real Alertmanager (published on loopback), to the receiver's file channel.
    subprocess.run([sys.executable, "-m", "stack", "demo-alert", "--ports",
                    f"alertmanager={PORTS['alertmanager']},prometheus={PORTS['prometheus']}", "--minutes", "1"],
                   cwd=ROOT, check=True, capture_output=True)  # fmt: skip
    until(lambda: "demo-miner" in sent(env_file), 90, "the demo alert was not delivered")
    busy = memory()
    message = json.loads(next(line for line in sent(env_file).splitlines() if "demo-miner" in line))
    assert message["title"] == "CRITICAL · CostwardenCostSpike on localhost"
    assert "Estimated invoice so far" in message["text"]  # facts read back from the real Prometheus
    assert "What the host shows now" in message["text"]  # the exporter's diagnostics, through /actions
    # Links carry the external URL a tunnel reaches, not a container id.
    assert f"http://127.0.0.1:{PORTS['alertmanager']}/#/silences/new?filter=" in message["text"]
    # docs/receiver.md's command for parked parts works as written in the container (config, secrets, outbox).
    resent = compose(env_file, "exec", "-T", "receiver", "costwarden-receiver", "--config",
                     "/tmp/costwarden/receiver.yml", "resend", "--dry-run", check=False)  # fmt: skip
    assert resent.returncode == 0 and resent.stdout.strip() == "nothing parked in the last 24 h", resent

    # Each of the stack's own containers is priced, egress included (its network namespace is readable), and the
    # host's egress is the host's alone: no container reports it as its own.
    until(lambda: len(query(f'costwarden_cost_total{{cgroup=~"{PROJECT}_.*",resource="network_egress"}}')) == 4,
          60, "per-container egress of the four long-running containers")  # fmt: skip
    priced = {r["metric"]["cgroup"].split("_")[1] for r in query(f'costwarden_cost_total{{cgroup=~"{PROJECT}_.*"}}')}
    assert priced == set(LONG_RUNNING)
    sent_bytes = {r["metric"]["cgroup"]: float(r["value"][1])
                  for r in query("costwarden_cgroup_network_transmit_bytes_total")}  # fmt: skip
    host = sent_bytes.pop("/")
    ours = {c: v for c, v in sent_bytes.items() if c.startswith(PROJECT)}
    assert host > 0 and all(0 < v < host for v in ours.values()), (host, ours)
    assert len(set(ours.values())) == len(ours), "two containers reporting one namespace's bytes"

    # Nothing on a public address: the exporter and the receiver unpublished, Prometheus and Alertmanager on loopback.
    for service, published in {"exporter": "", "receiver": "", "prometheus": f"127.0.0.1:{PORTS['prometheus']}",
                               "alertmanager": f"127.0.0.1:{PORTS['alertmanager']}"}.items():  # fmt: skip
        cid = compose(env_file, "ps", "-q", service).stdout.strip()
        shown = subprocess.run(["docker", "port", cid], capture_output=True, text=True, check=True).stdout
        assert shown.strip().split(" -> ")[-1] == published, (service, shown)

    say(capsys, f"\ncompose up → all healthy: {stack['up_to_healthy_s']:.0f} s; memory (MiB) idle / during the alert: "
        + ", ".join(f"{s} {idle.get(s, 0):.0f}/{busy.get(s, 0):.0f}" for s in LONG_RUNNING)
        + f"; together {sum(idle.values()):.0f}/{sum(busy.values()):.0f}")  # fmt: skip


def test_a_bad_env_is_named_variable_by_variable_and_starts_nothing(stack: dict[str, float], env_file: Path) -> None:
    bad = compose(env_file, "run", "--rm", "-e", "COSTWARDEN_BUDGET_MONTHLY=10 EUR",
                  "-e", "COSTWARDEN_PROVIDER=hetzner", "-e", "COSTWARDEN_PLAN=CX-22",
                  "-e", "DIGEST_DAILY_AT=25:00", "-e", "TELEGRAM_CHAT_ID=-100123", "config", check=False)  # fmt: skip
    assert bad.returncode == 2, bad.stdout + bad.stderr
    lines = [line for line in bad.stderr.splitlines() if line.startswith(".env: ")]
    assert [line.split("=")[0] for line in lines] == [
        ".env: COSTWARDEN_PLAN", ".env: COSTWARDEN_BUDGET_MONTHLY", ".env: DIGEST_DAILY_AT",
        ".env: TELEGRAM_CHAT_ID is set but COSTWARDEN_RECEIVER_TELEGRAM_BOT_TOKEN is empty: set the token @BotFather "
        "gave, or empty TELEGRAM_CHAT_ID"]  # fmt: skip
    assert "did you mean cx22 or" in lines[0] and "Traceback" not in bad.stderr
    # Forgiving where the meaning is plain: a plan in capitals, a time without its leading zero.
    good = compose(env_file, "run", "--rm", "-e", "COSTWARDEN_PROVIDER=hetzner", "-e", "COSTWARDEN_PLAN=CX22",
                   "-e", "DIGEST_DAILY_AT=9:00", "config")  # fmt: skip
    assert ".env checked" in good.stdout


def test_an_edited_env_is_applied_by_up(stack: dict[str, float], env_file: Path) -> None:
    env_file.write_text(env_file.read_text() + "REPORT_LANGUAGE=zh\nDIGEST_DAILY_AT=7:30\n")
    compose(env_file, "up", "-d", *SERVICES)
    until(lambda: states(env_file).get("receiver") == "healthy", 120, "the receiver was not healthy again")
    rendered = compose(env_file, "exec", "-T", "receiver", "cat", "/tmp/costwarden/receiver.yml").stdout
    assert "language: zh" in rendered and "07:30" in rendered
