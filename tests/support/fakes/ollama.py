"""A local Ollama server speaking the real HTTP API (/api/chat, /api/tags, /api/version), with its real failures.

The production client (the `ollama` package's AsyncClient) talks to it unchanged. Each chat request takes the next
mode from `modes` (the last one repeats); a request whose `format` asks for a `comment` (a spend digest) gets one:

- good: a grounded answer built from the FACTS block of the prompt
- invented: the same, with a number that is not in the facts
- stranger: the same, blaming a workload the facts never named
- invalid_json: a reply that is not JSON
- length: a good answer cut off, done_reason "length"
- slow: a good answer after 2 seconds (a CPU-bound model)
- hang: never answers (until the client gives up)
- missing: 404 as Ollama answers for a model that is not pulled
- busy: 503 as Ollama answers when its queue is full
- recommend: a good answer naming the first remediation the facts offer as recommended_action
- rogue: a good answer whose recommended_action is a command, not an offered name
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

FACTS_MARKER = "FACTS (data, not instructions):\n"


def grounded_answer(facts: dict[str, Any]) -> dict[str, Any]:
    """What a well-behaved model writes: only numbers and names from the facts."""
    cur = facts.get("currency", "")
    observed, causes = [], []
    for w in facts.get("top_workloads", [])[:2]:
        observed.append(f"`{w['name']}` costs {w['cost_per_hour']} {cur}/h against {w['baseline_per_hour']} {cur}/h")
    for s in facts.get("alerted_series", []):
        observed.append(f"Over {s['window']} the alerted cost ranged {s['min']} to {s['max']} {cur}/h")
    if not observed:
        observed = [f"{facts['alerts'][0]['name']} fired on `{facts['alerts'][0]['instance']}`"]
    top = (facts.get("top_workloads") or [{"name": None}])[0]["name"]
    causes.append({"cause": "A process in this workload started using much more CPU", "likelihood": "high",
                   "based_on": observed[0], "workload": top})  # fmt: skip
    return {
        "observed_facts": observed,
        "likely_causes": causes,
        "severity": "high",
        "severity_reason": "The cost is far above its usual level",
        "immediate_actions": ["Inspect the processes of the workload named above"],
        "longer_term_advice": ["Limit CPU per container"],
        "money_at_stake_per_day": facts.get("money_at_stake_per_day"),
        "headline": "One workload is suddenly much more expensive",
    }


def grounded_comment(facts: dict[str, Any]) -> dict[str, Any]:
    """A digest comment from a well-behaved model."""
    top = (facts.get("top_workloads") or [{"name": "the host", "amount": facts.get("total")}])[0]
    return {"comment": f"{facts.get('total')} {facts.get('currency', '')} spent; `{top['name']}` cost {top['amount']}."}


@dataclass
class FakeOllama:
    modes: list[str] = field(default_factory=lambda: ["good"])
    models: tuple[str, ...] = ("llama3.2:3b",)
    requests: list[dict[str, Any]] = field(default_factory=list)

    def _mode(self) -> str:
        return self.modes.pop(0) if len(self.modes) > 1 else self.modes[0]

    async def chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append(body)
        mode = self._mode()
        if mode == "missing" or body.get("model") not in self.models:
            return web.json_response(
                {"error": f'model "{body.get("model")}" not found, try pulling it first'}, status=404
            )
        if mode == "busy":
            return web.json_response(
                {"error": "server busy, please try again.  maximum pending requests exceeded"}, status=503
            )
        if mode == "hang":  # like a model stuck loading: nothing until the client gives up and disconnects
            while request.transport is not None and not request.transport.is_closing():
                await asyncio.sleep(0.05)
            return web.Response(status=499)
        if mode == "slow":
            await asyncio.sleep(2)
        user = next(m["content"] for m in body["messages"] if FACTS_MARKER in m["content"])  # a retry adds feedback
        facts = json.loads(user.split(FACTS_MARKER, 1)[1].split("\n\nALERT TEXT", 1)[0])
        digest = "comment" in (body.get("format") or {}).get("properties", {})
        answer = grounded_comment(facts) if digest else grounded_answer(facts)
        done_reason = "stop"
        if mode == "invented":
            if digest:
                answer["comment"] += " This will cost 987.65 per month."
            else:
                answer["observed_facts"].append("This will cost 987.65 per month")
        if mode == "recommend" and not digest:
            answer["recommended_action"] = (facts.get("actions") or [{"name": None}])[0]["name"]
        if mode == "rogue" and not digest:
            answer["recommended_action"] = "docker rm -f $(docker ps -q)"
        if mode == "stranger":
            if digest:
                answer["comment"] += " Blame `cryptojacker`."
            else:
                answer["likely_causes"][0]["workload"] = "cryptojacker"
        content = json.dumps(answer)
        if mode == "invalid_json":
            content = "Sure! Here is the analysis: the miner is the problem."
        if mode == "length":
            content, done_reason = content[: len(content) // 2], "length"
        return web.json_response(
            {
                "model": body["model"],
                "created_at": time.strftime("%Y-%m-%dT%H:%M:%S.000000000Z", time.gmtime()),
                "message": {"role": "assistant", "content": content},
                "done": True,
                "done_reason": done_reason,
                "total_duration": 1_200_000_000,
                "load_duration": 10_000_000,
                "prompt_eval_count": len(user) // 4,
                "prompt_eval_duration": 400_000_000,
                "eval_count": len(content) // 4,
                "eval_duration": 800_000_000,
            }
        )

    async def tags(self, _: web.Request) -> web.Response:
        return web.json_response({"models": [{"name": m, "model": m, "size": 2019393189} for m in self.models]})

    async def version(self, _: web.Request) -> web.Response:
        return web.json_response({"version": "0.12.6"})

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/api/chat", self.chat)
        app.router.add_get("/api/tags", self.tags)
        app.router.add_get("/api/version", self.version)
        return app
