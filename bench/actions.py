"""Diagnostics benchmark: the wall time of each built-in diagnostic on this machine (its watching window removed)
next to the standard tool that answers the same question, run in the same loop (the reference; the ratio counts).

    top_processes      vs  ps -eo pid,comm,pcpu,rss --sort=-pcpu            (reads every /proc/<pid> twice)
    top_talkers        vs  cat /proc/net/dev per network namespace (ip netns cannot see containers' namespaces)
    grown_files        vs  find <paths> -xdev -type f -mtime -1               (on a generated tree of N files)
    recent_containers  vs  reading every config.v2.json with jq-like json.load (no Docker engine here)

    python -m bench.actions [--runs 20] [--files 20000]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from exporter.actions import diagnostics as dg
from exporter.actions.table import Diagnostic
from exporter.containers import NameResolver
from exporter.procfs import DEFAULT_EXCLUDED_INTERFACES


def timed(fn: Callable[[], object], runs: int) -> float:
    """Median milliseconds of `runs` calls."""
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def tree(root: Path, files: int) -> None:
    now = time.time()
    for i in range(files):
        path = root / "var" / "log" / f"d{i % 50}" / f"f{i}.log"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * (i % 4096))
        age = (i % 72) * 3600.0
        os.utime(path, (now - age, now - age))


def containers(root: Path, count: int) -> None:
    for i in range(count):
        ident = f"{i:064x}"
        path = root / "containers" / ident / "config.v2.json"
        path.parent.mkdir(parents=True)
        started = time.strftime("%Y-%m-%dT%H:%M:%S.000000001Z", time.gmtime(time.time() - i * 3600))
        path.write_text(json.dumps({"ID": ident, "Name": f"/c{i}", "Config": {"Image": "alpine"},
                                    "State": {"Running": True, "StartedAt": started}}))  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--files", type=int, default=20_000)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as work:
        root = Path(work)
        tree(root, args.files)
        containers(root / "docker", 100)
        host = dg.Host(Path("/proc"), root, root / "docker", NameResolver(root / "docker", root / "docker"),
                       re.compile(DEFAULT_EXCLUDED_INTERFACES))  # fmt: skip

        def no_wait(_: float) -> None:
            """The watching window is the diagnostic's design, not its cost."""

        def diagnostic(kind: str, **kw: object) -> Callable[[], object]:
            d = Diagnostic(name=kind, kind=kind, **kw)  # type: ignore[arg-type]
            return lambda: dg.run(d, host, sleep=no_wait)

        def run(cmd: list[str]) -> Callable[[], object]:
            return lambda: subprocess.run(cmd, capture_output=True, check=False)

        def read_net() -> None:
            seen = set()
            for pid in (p.name for p in Path("/proc").iterdir() if p.name.isdigit()):
                try:
                    ns = Path(f"/proc/{pid}/ns/net").readlink()
                    if ns not in seen:
                        seen.add(ns)
                        Path(f"/proc/{pid}/net/dev").read_text()
                except OSError:
                    continue

        def read_configs() -> None:
            for path in (root / "docker" / "containers").glob("*/config.v2.json"):
                json.loads(path.read_text())

        rows = [
            ("top_processes", diagnostic("top_processes"),
             run(["ps", "-eo", "pid,comm,pcpu,rss", "--sort=-pcpu"])),
            ("top_talkers", diagnostic("top_talkers"), read_net),
            (f"grown_files ({args.files} files)", diagnostic("grown_files", paths=("/var/log",)),
             run(["find", str(root / "var" / "log"), "-xdev", "-type", "f", "-mtime", "-1"])),
            ("recent_containers (100)", diagnostic("recent_containers"), read_configs),
        ]  # fmt: skip
        processes = sum(p.name.isdigit() for p in Path("/proc").iterdir())
        print(f"diagnostics on this machine ({processes} processes), median of {args.runs} runs, "
              "watching window excluded")  # fmt: skip
        print("| diagnostic | costwarden ms | reference ms | ratio |")
        print("|---|---:|---:|---:|")
        for name, ours, reference in rows:
            a, b = timed(ours, args.runs), timed(reference, args.runs)
            print(f"| {name} | {a:.1f} | {b:.1f} | {a / b:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
