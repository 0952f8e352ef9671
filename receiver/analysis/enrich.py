"""Ask the local model once per alert group, check the answer, and fall back when it cannot be trusted.

One call, not an agent loop: the facts are already computed, the model only explains them. Its answer is held to the
grounding check; one retry, then the deterministic summary. A cache keyed by (prompt version, facts, model, language)
means a repeated group does not pay for the model again.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import ollama

from receiver.analysis import fallback, grounding, prompt
from receiver.analysis.schema import SCHEMA, Analysis
from receiver.facts.model import Facts
from receiver.metrics import Metrics
from receiver.settings import Ollama
from receiver.store import cache
from receiver.store.outbox import Outbox

log = logging.getLogger("receiver.enrich")


@dataclass
class Outcome:
    """What the notification stores to explain itself: answer, verdicts, tokens and why a fallback was used."""

    analysis: Analysis | None
    source: str  # "model", "cache", "fallback" or "resolved"
    reason: str | None = None
    prompt: str = ""
    raw_answer: str = ""
    verdicts: list[dict[str, object]] = field(default_factory=list)
    tokens: dict[str, int] = field(default_factory=dict)
    """Ollama's prompt_eval_count and eval_count, summed over the attempts."""


@dataclass(frozen=True)
class Reply:
    content: str
    done_reason: str | None
    prompt_tokens: int
    answer_tokens: int


MIN_ATTEMPT_SECONDS = 2.0
"""A retry starts only with at least this much of the analysis' deadline left."""


def schema_for(facts: Facts) -> dict[str, Any]:
    """The analysis schema with this group's choices as enums: a cause's workload is one of its workloads, the
    recommended action one it offers (or null). Ollama turns the schema into a grammar, so nothing else can be
    written there."""
    schema = copy.deepcopy(SCHEMA)
    workloads = sorted({w.name for w in facts.top_workloads} | {a.cgroup for a in facts.alerts if a.cgroup})
    cause = schema["$defs"]["Cause"]["properties"]
    cause["workload"]["anyOf"] = [{"type": "string", "enum": workloads}, {"type": "null"}] if workloads else \
        [{"type": "null"}]  # fmt: skip
    actions = sorted({a.name for a in facts.actions})
    schema["properties"]["recommended_action"]["anyOf"] = (
        [{"type": "string", "enum": actions}, {"type": "null"}] if actions else [{"type": "null"}]
    )
    return schema


class Unavailable(Exception):
    """The model could not answer at all; `reason` is a fallback label (bounded, for the metric)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


class Enricher:
    def __init__(self, cfg: Ollama, outbox: Outbox | None, metrics: Metrics) -> None:
        """Without an outbox (a one-off command) answers are not cached."""
        self._cfg = cfg
        self._outbox = outbox
        self._metrics = metrics
        self._client = ollama.AsyncClient(host=cfg.host, timeout=cfg.timeout_seconds)
        self._slots = asyncio.Semaphore(cfg.concurrency)
        self._keys: dict[str, asyncio.Lock] = {}

    async def check(self) -> None:
        """At start-up, say in the log whether analyses will come from the model, and what to do if not."""
        cfg = self._cfg
        if not cfg.enabled:
            log.info("model analysis is turned off (ollama.enabled: false): deterministic summaries only")
            return
        try:
            listed = await asyncio.wait_for(self._client.list(), 10)
        except (TimeoutError, ConnectionError, ollama.ResponseError, httpx.HTTPError) as exc:
            log.warning("Ollama at %s is not answering (%s); deterministic summaries until it is", cfg.host, exc)
            return
        names = {m.model for m in listed.models}
        if cfg.model in names or f"{cfg.model}:latest" in names:
            log.info("Ollama at %s has %s: analyses will come from the model", cfg.host, cfg.model)
        else:
            log.warning("Ollama at %s does not have %s (run: ollama pull %s); deterministic summaries until then",
                        cfg.host, cfg.model, cfg.model)  # fmt: skip

    async def close(self) -> None:
        await self._client.close()  # type: ignore[no-untyped-call]  # ollama does not annotate close()

    async def analyse(self, facts: Facts) -> Outcome:
        if facts.status == "resolved":
            return Outcome(None, "resolved")
        msgs = prompt.messages(facts, self._cfg.language)
        text = prompt.text(msgs)
        if not self._cfg.enabled:
            return self._fallback(facts, "disabled", text, "", [])
        key = hashlib.sha256(
            json.dumps([prompt.VERSION, self._cfg.model, self._cfg.language, text]).encode()
        ).hexdigest()
        lock = self._keys.setdefault(key, asyncio.Lock())
        try:
            async with lock:  # the same facts arriving twice at once (two groups, one cause) pay for one answer
                if self._outbox is not None and (hit := await self._outbox.read(cache.get, key)) is not None:
                    return Outcome(Analysis.model_validate_json(hit[0]), "cache", None, text, hit[1])
                return await self._ask_checked(facts, msgs, text, key)
        finally:
            if not lock.locked():
                self._keys.pop(key, None)

    async def _ask_checked(self, facts: Facts, msgs: list[dict[str, str]], text: str, key: str) -> Outcome:
        """Up to two answers within one deadline (`ollama.timeout_seconds` for the whole analysis). The second is
        asked only with the first one's problems fed back: the same prompt at temperature 0 gets the same answer."""
        verdicts: list[dict[str, object]] = []
        raw = ""
        tokens = {"prompt": 0, "answer": 0}
        deadline = time.monotonic() + self._cfg.timeout_seconds
        schema = schema_for(facts)
        for attempt in (1, 2):
            left = deadline - time.monotonic()
            if attempt == 2 and left < MIN_ATTEMPT_SECONDS:
                log.warning("no time left for a second answer (%.1f s of the deadline)", max(0.0, left))
                break
            try:
                reply = await self._ask(msgs, schema, left)
            except Unavailable as exc:
                log.warning("model unavailable (%s): %s", exc.reason, exc)
                reason = "ungrounded" if verdicts else exc.reason  # what was wrong with the answer we had
                return self._fallback(facts, reason, text, raw, verdicts, tokens)
            raw = reply.content
            tokens["prompt"] += reply.prompt_tokens
            tokens["answer"] += reply.answer_tokens
            verdict = grounding.check(raw, reply.done_reason, facts)
            verdicts.append(verdict.as_dict())
            if verdict.ok and verdict.analysis is not None:
                if self._outbox is not None:
                    await self._outbox.write(cache.put, key, verdict.analysis.model_dump_json(), raw, time.time())
                return Outcome(verdict.analysis, "model", None, text, raw, verdicts, tokens)
            self._metrics.grounding_failures.inc()
            log.warning("answer %d rejected by the grounding check: %s", attempt, "; ".join(verdict.problems[:3]))
            msgs = [*msgs, {"role": "assistant", "content": raw[:4000]},
                    {"role": "user", "content": prompt.feedback(verdict.problems, self._cfg.language)}]  # fmt: skip
        return self._fallback(facts, "ungrounded", text, raw, verdicts, tokens)

    async def comment(self, facts_json: str, names: set[str]) -> tuple[str | None, str | None]:
        """A digest's one-line comment, or None and why not (the digest goes out without it: it is optional)."""
        if not self._cfg.enabled:
            return None, "disabled"
        msgs = prompt.digest_messages(facts_json, self._cfg.language)
        for attempt in (1, 2):
            try:
                reply = await self._ask(msgs, prompt.DIGEST_SCHEMA, self._cfg.timeout_seconds)
            except Unavailable as exc:
                log.warning("model unavailable for the digest comment (%s): %s", exc.reason, exc)
                return None, exc.reason
            comment, problems = grounding.check_comment(reply.content, reply.done_reason, names, facts_json)
            if comment is not None:
                return comment, None
            self._metrics.grounding_failures.inc()
            log.warning("digest comment %d rejected by the grounding check: %s", attempt, "; ".join(problems[:3]))
        return None, "ungrounded"

    async def _ask(self, msgs: list[dict[str, str]], schema: dict[str, Any], seconds: float) -> Reply:
        """One call, given `seconds` in all (waiting for a slot included)."""
        cfg = self._cfg
        try:
            async with asyncio.timeout(seconds):
                return await self._call(msgs, schema, seconds)
        except TimeoutError as exc:
            raise Unavailable("timeout", f"no answer within {cfg.timeout_seconds:g} s") from exc

    async def _call(self, msgs: list[dict[str, str]], schema: dict[str, Any], seconds: float) -> Reply:
        cfg = self._cfg
        async with self._slots:
            started = time.perf_counter()
            try:
                response = await asyncio.wait_for(
                    self._client.chat(
                        model=cfg.model,
                        messages=msgs,
                        stream=False,
                        format=schema,
                        options={"temperature": 0, "num_predict": cfg.num_predict, "num_ctx": cfg.num_ctx,
                                 "seed": cfg.seed},
                        keep_alive=cfg.keep_alive,
                        think=False,
                    ),
                    seconds,
                )  # fmt: skip
            except ollama.ResponseError as exc:
                if exc.status_code == 404:
                    raise Unavailable("model_missing", f"{exc.error} (run: ollama pull {cfg.model})") from exc
                reason = "busy" if exc.status_code in (429, 503) else "ollama_error"
                raise Unavailable(reason, f"HTTP {exc.status_code}: {exc.error}") from exc
            except ConnectionError as exc:
                raise Unavailable("unreachable", f"{cfg.host}: {exc}") from exc
            except httpx.TimeoutException as exc:
                raise Unavailable("timeout", f"no answer within {cfg.timeout_seconds:g} s") from exc
            except httpx.HTTPError as exc:
                raise Unavailable("unreachable", f"{cfg.host}: {exc!r}") from exc
            finally:
                self._metrics.enrichment.observe(time.perf_counter() - started)
        prompt_tokens, answer_tokens = response.prompt_eval_count or 0, response.eval_count or 0
        self._metrics.tokens.labels("prompt").inc(prompt_tokens)
        self._metrics.tokens.labels("answer").inc(answer_tokens)
        return Reply(response.message.content or "", response.done_reason, prompt_tokens, answer_tokens)

    def _fallback(self, facts: Facts, reason: str, text: str, raw: str, verdicts: list[dict[str, object]],
                  tokens: dict[str, int] | None = None) -> Outcome:  # fmt: skip
        self._metrics.fallbacks.labels(reason).inc()
        return Outcome(fallback.summarise(facts, self._cfg.language), "fallback", reason, text, raw, verdicts,
                       tokens or {})  # fmt: skip
