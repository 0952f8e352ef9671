"""Grounding benchmark (issue 16), on facts the receiver computes from a real Prometheus serving a known history:

1. The labelled corpus (tests/support/grounding_corpus.py): precision and recall of the check, per language, and
   which kinds of bad answer got through (the goal: every good answer accepted, no bad one).
2. End to end against a local server speaking Ollama's protocol (the fake Ollama's good answers, through the real
   `ollama` client): the fraction of analyses accepted and the latency from webhook to message, with the page of a
   critical alert (sent before the analysis) next to it.

    python -m bench.grounding [--groups 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp

from receiver.analysis.grounding import check, pools, supported
from receiver.app import create_app
from receiver.settings import Settings
from tests.support.detection.engine import import_series, serve
from tests.support.fakes import served
from tests.support.fakes.ollama import FakeOllama
from tests.support.grounding_corpus import cases, computed_facts
from tests.support.history import history
from tests.support.net import serve_app

FIRING: dict[str, Any] = json.loads(
    (Path(__file__).parents[1] / "tests" / "fixtures" / "alertmanager" / "firing.json").read_text()
)


def corpus_table(facts: dict[str, Any]) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for language in ("en", "zh"):
        these = [c for c in cases(facts) if c.language == language]
        accepted = {id(c) for c in these if check(c.answer, c.done_reason, facts[c.facts_name]).ok}
        good = [c for c in these if c.good]
        good_in = sum(id(c) in accepted for c in good)
        bad_in = [c.kind for c in these if not c.good and id(c) in accepted]
        precision = good_in / max(1, good_in + len(bad_in))
        rows.append((language, str(len(good)), str(len(these) - len(good)), f"{good_in / len(good):.0%}",
                     f"{precision:.0%}", ", ".join(sorted(set(bad_in))) or "none"))  # fmt: skip
    return rows


def chance_table(facts: dict[str, Any]) -> list[tuple[str, str]]:
    """How often a number the model made up passes by coincidence: every two-digit number against each facts set."""
    rows = []
    for name, f in facts.items():
        pool = pools(f).numbers
        passing = [n for n in range(10, 100) if supported(float(n), pool)]
        rows.append((f"two-digit numbers passing by chance, {name}", f"{len(passing)} of 90 ({len(passing) / 90:.0%})"))
    return rows


async def lines(path: Path, count: int, seconds: float) -> list[dict[str, Any]]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []
        if len(found) >= count:
            return found
        await asyncio.sleep(0.01)
    raise SystemExit(f"{path}: {count} messages expected")


async def end_to_end(prometheus: str, work: Path, groups: int) -> list[tuple[str, str]]:
    fake = FakeOllama()
    rows: list[tuple[str, str]] = []
    async with served(fake.app()) as ollama_url, aiohttp.ClientSession() as session:
        for page_first in ([], ["critical"]):
            sent = work / f"sent-{len(page_first)}.jsonl"
            settings = Settings.model_validate({
                "data_dir": str(work / f"data-{len(page_first)}"), "prometheus": {"url": prometheus},
                "ollama": {"host": ollama_url}, "channels": [{"type": "file", "path": str(sent)}],
                "processing": {"page_first": page_first}, "digest": {"daily": {"enabled": False}},
            })  # fmt: skip
            runner, url = await serve_app(create_app(settings))
            first: list[float] = []
            analysed: list[float] = []
            sources: Counter[str] = Counter()
            try:
                for i in range(groups):
                    # A workload of its own per group: the same facts twice would be answered from the cache.
                    labels = {**FIRING["alerts"][0]["labels"], "cgroup": f"app{i}"}
                    alert = {**FIRING["alerts"][0], "labels": labels}
                    body = {**FIRING, "groupKey": f"bench-{len(page_first)}-{i}", "alerts": [alert],
                            "commonLabels": labels}  # fmt: skip
                    started = time.perf_counter()
                    async with session.post(f"{url}/alerts", json=body) as resp:
                        assert resp.status == 200
                    count = (2 if page_first else 1) * (i + 1)
                    seen = await lines(sent, count - (1 if page_first else 0), 60)
                    first.append(time.perf_counter() - started)
                    seen = await lines(sent, count, 60)
                    analysed.append(time.perf_counter() - started)
                    sources[seen[-1]["source"]] += 1
            finally:
                await runner.cleanup()
            label = "page first" if page_first else "analysis"
            rows.append((f"{label}: analyses accepted (source model)", f"{sources['model']} of {groups}"))
            if page_first:
                rows.append((f"{label}: webhook → page median / max (ms)",
                             f"{statistics.median(first) * 1000:.0f} / {max(first) * 1000:.0f}"))  # fmt: skip
            rows.append((f"{label}: webhook → analysis median / max (ms)",
                         f"{statistics.median(analysed) * 1000:.0f} / {max(analysed) * 1000:.0f}"))  # fmt: skip
    prompts = [r["messages"] for r in fake.requests]
    rows.append(("requests to the model", f"{len(prompts)} ({len(prompts) / (2 * groups):.2f} per group)"))
    return rows


async def run(groups: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        import_series(history(), work / "data", work)
        with serve(work / "data", work) as prometheus:
            facts = await computed_facts(prometheus)
            table = corpus_table(facts)
            chance = chance_table(facts)
            e2e = await end_to_end(prometheus, work, groups)
    print("| language | good answers | bad answers | good accepted (recall) | precision | bad kinds accepted |")
    print("|---|---:|---:|---:|---:|---|")
    for row in table:
        print("| " + " | ".join(row) + " |")
    print()
    width = max(len(k) for k, _ in e2e + chance)
    for key, value in chance + e2e:
        print(f"{key:<{width}}  {value}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--groups", type=int, default=20, help="alert groups sent end to end (per mode)")
    args = parser.parse_args()
    asyncio.run(run(args.groups))
    return 0


if __name__ == "__main__":
    sys.exit(main())
