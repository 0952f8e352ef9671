"""The built-in read-only diagnostics: what is burning CPU, who is sending, which files grew, which containers are new.

Parsers and rankings are pure (text or snapshots in, lines out); reading /proc, the filesystem and Docker's data root
is kept to the small functions at the bottom. Every line is printable text (a process may name itself with escape
codes), and each diagnostic returns at most `top` lines.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from costwarden.catalogue import tables
from exporter.actions.table import Diagnostic
from exporter.cgroupfs import classify
from exporter.containers import NameResolver
from exporter.procfs import parse_net_dev, transmit_bytes

MAX_FILES = 200_000
"""grown_files stops looking after this many entries: a diagnostic must answer in seconds, not walk a huge tree."""
UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def printable(text: str, limit: int = 160) -> str:
    text = UNPRINTABLE.sub("?", text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def words(language: str = "en") -> dict[str, str]:
    """The diagnostics' words in `language` (the catalogue's `diagnostics` table)."""
    table: dict[str, str] = tables(language)["diagnostics"]
    return table


def ago(seconds: float, w: dict[str, str]) -> str:
    minutes = max(0, round(seconds / 60))
    hours, minutes = divmod(minutes, 60)
    return w["hours_ago"].format(hours=hours, minutes=minutes) if hours else w["minutes_ago"].format(minutes=minutes)


# --- processes ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Proc:
    comm: str
    ticks: int
    """utime + stime, in clock ticks."""
    rss_bytes: int
    cgroup: str


def parse_pid_stat(text: str) -> tuple[str, int, int]:
    """(comm, utime + stime in ticks, rss in pages) from /proc/<pid>/stat; comm may hold spaces and parentheses."""
    comm = text[text.index("(") + 1 : text.rindex(")")]
    fields = text[text.rindex(")") + 2 :].split()
    return comm, int(fields[11]) + int(fields[12]), int(fields[21])


def parse_pid_cgroup(text: str) -> str:
    """The process's cgroup path: the v2 line (`0::/path`), else the v1 cpu controller's."""
    lines = [line.split(":", 2) for line in text.splitlines() if line.count(":") >= 2]
    for hierarchy, controllers, path in lines:
        if hierarchy == "0" and controllers == "":
            return path
    for _, controllers, path in lines:
        if "cpu" in controllers.split(","):
            return path
    return "/"


def top_processes(
    before: dict[int, Proc], after: dict[int, Proc], seconds: float, clk_tck: int, top: int,
    workload: Callable[[str], str], w: dict[str, str],
) -> list[str]:  # fmt: skip
    """The processes that used the most CPU between two snapshots, with memory and the workload they belong to
    (`workload` says "" for the host itself)."""
    used = [
        (max(0, p.ticks - before[pid].ticks) / clk_tck / seconds * 100, pid, p)
        for pid, p in after.items()
        if pid in before
    ]
    used.sort(key=lambda x: (-x[0], -x[2].rss_bytes, x[1]))
    return [
        w["process"].format(
            pid=pid,
            comm=printable(p.comm, 40),
            cpu=f"{cpu:.0f}",
            memory=size(p.rss_bytes),
            workload=printable(workload(p.cgroup)) or w["host"],
        )
        for cpu, pid, p in used[:top]
    ]


# --- network --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Netns:
    transmit_bytes: int
    pids: tuple[int, ...]
    comm: str
    workload: str
    """The first process's name and workload ("": the host itself): how a person recognises the namespace."""


def top_talkers(
    before: dict[str, Netns], after: dict[str, Netns], seconds: float, top: int, w: dict[str, str]
) -> list[str]:
    """The network namespaces that sent the most between two snapshots (the host's own included)."""
    rates = [
        ((ns.transmit_bytes - before[key].transmit_bytes) / seconds, key, ns)
        for key, ns in after.items()
        if key in before
    ]
    rates.sort(key=lambda x: (-x[0], x[1]))
    out = []
    for rate, _, ns in rates[:top]:
        pids = ", ".join(str(p) for p in ns.pids[:5]) + (" …" if len(ns.pids) > 5 else "")
        out.append(w["talker"].format(comm=printable(ns.comm, 40), workload=printable(ns.workload) or w["host"],
                                      pids=pids, rate=size(rate)))  # fmt: skip
    return out


# --- files ----------------------------------------------------------------------------------------------------------


def grown_files(
    entries: list[tuple[str, int, float]], now: float, within: float, top: int, w: dict[str, str]
) -> list[str]:
    """The largest files changed within `within` seconds, from (path, size, mtime) entries."""
    recent = sorted((e for e in entries if now - e[2] <= within), key=lambda e: (-e[1], e[0]))
    return [
        w["file"].format(path=printable(path), size=size(n), ago=ago(now - mtime, w)) for path, n, mtime in recent[:top]
    ]


# --- containers -----------------------------------------------------------------------------------------------------


def parse_started(text: str) -> float | None:
    """Docker's RFC 3339 time with nanoseconds ("2026-11-28T08:00:00.123456789Z") as a timestamp."""
    match = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$", text)
    if not match or text.startswith("0001-"):
        return None
    zone = "+00:00" if match.group(3) == "Z" else match.group(3)
    return datetime.fromisoformat(match.group(1) + zone).timestamp()


def recent_containers(
    configs: list[dict[str, object]], now: float, within: float, top: int, w: dict[str, str]
) -> list[str]:
    """Containers started within `within` seconds, newest first, from Docker's config.v2.json documents."""
    found = []
    for doc in configs:
        state = doc.get("State") if isinstance(doc.get("State"), dict) else {}
        config = doc.get("Config") if isinstance(doc.get("Config"), dict) else {}
        started = parse_started(str(state.get("StartedAt", ""))) if isinstance(state, dict) else None
        if started is None or now - started > within:
            continue
        name = str(doc.get("Name", "")).lstrip("/") or str(doc.get("ID", ""))[:12]
        image = str(config.get("Image", "?")) if isinstance(config, dict) else "?"
        running = w["running"] if isinstance(state, dict) and state.get("Running") else w["stopped"]
        line = w["container"].format(name=printable(name, 64), image=printable(image, 80), state=running,
                                     ago=ago(now - started, w))  # fmt: skip
        found.append((started, line))
    return [line for _, line in sorted(found, reverse=True)[:top]]


# --- reading the host ----------------------------------------------------------------------------------------------


def _pids(procfs: Path) -> list[int]:
    try:
        return [int(e.name) for e in os.scandir(procfs) if e.name.isdigit()]
    except OSError:
        return []


def read_processes(procfs: Path) -> dict[int, Proc]:
    page = os.sysconf("SC_PAGE_SIZE")
    out = {}
    for pid in _pids(procfs):
        try:
            comm, ticks, rss = parse_pid_stat((procfs / str(pid) / "stat").read_text())
            cgroup = parse_pid_cgroup((procfs / str(pid) / "cgroup").read_text())
        except (OSError, ValueError, IndexError):
            continue  # gone between listing and reading, or a kernel thread without the usual fields
        out[pid] = Proc(comm, ticks, rss * page, cgroup)
    return out


def read_netns(procfs: Path, exclude: re.Pattern[str], workload: Callable[[str], str]) -> dict[str, Netns]:
    members: dict[str, list[int]] = {}
    for pid in sorted(_pids(procfs)):
        try:
            members.setdefault(str((procfs / str(pid) / "ns" / "net").readlink()), []).append(pid)
        except OSError:
            continue
    out = {}
    for ns, pids in members.items():
        for pid in pids:  # any member can show the namespace's counters; the first still alive does
            try:
                sent = transmit_bytes(parse_net_dev((procfs / str(pid) / "net" / "dev").read_text()), exclude)
                comm = (procfs / str(pid) / "comm").read_text().strip()
                cgroup = parse_pid_cgroup((procfs / str(pid) / "cgroup").read_text())
            except (OSError, ValueError):
                continue
            out[ns] = Netns(sent, tuple(pids), comm, workload(cgroup))
            break
    return out


def scan_files(paths: tuple[str, ...], root: Path) -> list[tuple[str, int, float]]:
    """(path, size, mtime) of regular files under `paths` (inside `root`, the host's / as mounted), never following
    symlinks or crossing into another filesystem, and at most MAX_FILES entries. os.scandir, one stat per entry: a
    log directory of tens of thousands of files is read in a fraction of a second."""
    prefix = len(str(root).rstrip("/"))
    out: list[tuple[str, int, float]] = []
    for top in paths:
        base = str(root / top.lstrip("/"))
        try:
            device = os.stat(base).st_dev  # noqa: PTH116 - os.scandir below works on strings
        except OSError:
            continue
        stack = [base]
        while stack:
            try:
                entries = os.scandir(stack.pop())
            except OSError:
                continue
            with entries:
                for entry in entries:
                    try:
                        st = entry.stat(follow_symlinks=False)
                        if entry.is_dir(follow_symlinks=False):
                            if st.st_dev == device:
                                stack.append(entry.path)
                        elif entry.is_file(follow_symlinks=False):
                            out.append(("/" + entry.path[prefix:].lstrip("/"), st.st_size, st.st_mtime))
                    except OSError:
                        continue
                    if len(out) >= MAX_FILES:
                        return out
    return out


def read_container_configs(docker_root: Path) -> list[dict[str, object]]:
    out = []
    for config in sorted((docker_root / "containers").glob("*/config.v2.json")):
        try:
            doc = json.loads(config.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(doc, dict):
            out.append(doc)
    return out


@dataclass(frozen=True)
class Host:
    """Where the host is, as the exporter sees it (its --path.* flags)."""

    procfs: Path
    rootfs: Path
    docker_root: Path
    names: NameResolver
    exclude_interfaces: re.Pattern[str]

    def workload(self, cgroup: str) -> str:
        """The workload's name; "" for the host itself (said in the reader's language)."""
        found = classify(cgroup)
        return "" if found is None else self.names.name(found)


def run(d: Diagnostic, host: Host, language: str = "en", sleep: Callable[[float], None] = time.sleep) -> list[str]:
    """One diagnostic, read from the host now and said in `language`; `sleep` spaces the two snapshots of the
    rate-based ones."""
    w = words(language)
    if d.kind == "top_processes":
        before = read_processes(host.procfs)
        sleep(d.seconds)
        after = read_processes(host.procfs)
        return top_processes(before, after, d.seconds, os.sysconf("SC_CLK_TCK"), d.top, host.workload, w)
    if d.kind == "top_talkers":
        first = read_netns(host.procfs, host.exclude_interfaces, host.workload)
        sleep(d.seconds)
        second = read_netns(host.procfs, host.exclude_interfaces, host.workload)
        return top_talkers(first, second, d.seconds, d.top, w)
    now = time.time()
    if d.kind == "grown_files":
        return grown_files(scan_files(d.paths, host.rootfs), now, d.within_hours * 3600, d.top, w)
    return recent_containers(read_container_configs(host.docker_root), now, d.within_hours * 3600, d.top, w)
