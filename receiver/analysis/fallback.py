"""The deterministic summary: what is sent when the model is absent, slow, missing or ungrounded.

Built from the same computed facts with fixed sentences, so it is always true, if plainer; the renderer labels it.
"""

from __future__ import annotations

import re

from receiver.analysis.schema import LINE_CHARS, Analysis, Cause
from receiver.facts.model import Facts, alert_kind
from receiver.message import words as alert_words

# Per resource, named as the exporter names it (costwarden.resources.RESOURCES): (likely cause, first thing to check).
# Ordered by how bill shocks happen on small servers.
CAUSES: dict[str, dict[str, tuple[str, str]]] = {
    "en": {
        "cpu": (
            "A process is using far more CPU than usual: a crypto-miner in a compromised container, a runaway loop, "
            "or a legitimate batch job",
            "See which processes burn CPU: `docker top <container>` or `systemd-cgtop` (sort by CPU)",
        ),
        "network_egress": (
            "Traffic out of the server is unusually high: abuse or a DDoS reflection, a public file being hot-linked, "
            "or backups/sync going to another provider",
            "See who is sending: `nethogs` or `iftop -P`, and check web server logs for one client or URL",
        ),
        "disk": (
            "Disk usage is growing: logs without rotation, backups or dumps kept locally, or a cache that never "
            "expires",
            "Find what grew: `du -xh / --max-depth=3 | sort -h | tail -20` and `journalctl --disk-usage`",
        ),
        "memory": (
            "A workload holds much more memory than usual: a leak or a larger data set",
            "Compare memory per container: `docker stats --no-stream`",
        ),
        "": (
            "Spending is above its usual level; the workloads listed show where",
            "Open the costwarden dashboard linked in the alert and compare workloads",
        ),
    },
    "zh": {
        "cpu": (
            "某个进程占用的 CPU 远高于平时：可能是被入侵容器里的挖矿程序、失控的循环，或正常的批处理任务",
            "查看哪些进程在消耗 CPU：`docker top <container>` 或 `systemd-cgtop`（按 CPU 排序）",
        ),
        "network_egress": (
            "服务器出站流量异常偏高：可能是滥用或 DDoS 反射、公开文件被盗链，或备份/同步发往其他服务商",
            "查看是谁在发送：`nethogs` 或 `iftop -P`，并检查 Web 日志中是否有单个客户端或 URL",
        ),
        "disk": (
            "磁盘占用在增长：日志未轮转、本地保存的备份或转储，或从不过期的缓存",
            "找出增长的目录：`du -xh / --max-depth=3 | sort -h | tail -20` 和 `journalctl --disk-usage`",
        ),
        "memory": (
            "某个工作负载占用的内存远多于平时：内存泄漏或数据量变大",
            "比较各容器内存：`docker stats --no-stream`",
        ),
        "": ("支出高于平时水平；下面列出的工作负载显示了去向", "打开告警中链接的 costwarden 仪表盘，比较各工作负载"),
    },
}


def _named(action: str, cgroup: str | None) -> str:
    """The command with the workload's own name, not `<container>`: a systemd unit gets `systemctl status`. Only a
    name Docker or systemd could have given is put in a command (a label is untrusted text)."""
    if not cgroup or cgroup == "/" or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,127}", cgroup):
        return action
    command = f"systemctl status {cgroup}" if cgroup.endswith(".service") else f"docker top {cgroup}"
    return action.replace("docker top <container>", command)


# Alerts that are not about a resource costing more: (likely cause, first thing to check), by alert kind.
KIND_CAUSES: dict[str, dict[str, tuple[str, str]]] = {
    "en": {
        "drop": (
            "A workload costs much less than usual: it stopped, crashed, or lost its traffic",
            "Check that it still runs: `docker ps -a` or `systemctl --failed`, then its logs",
        ),
        "bill": (
            "The invoice is heading above the budget or the included quota at the current pace",
            "Compare the forecast with the budget on the costwarden dashboard and see which workloads drive it",
        ),
        "disk": (
            "A filesystem is filling up and will be full at this pace",
            "Find what grew: `du -xh / --max-depth=3 | sort -h | tail -20` and `journalctl --disk-usage`",
        ),
        "watch": (
            "costwarden's own monitoring is impaired: spending is not fully watched while this lasts",
            "Follow the runbook linked below to restore it",
        ),
        "test": ("Nothing is wrong: this is the sample message you asked for", "Nothing to do"),
    },
    "zh": {
        "drop": (
            "某个工作负载的费用远低于平时：可能已停止、崩溃或失去了流量",
            "确认它仍在运行：`docker ps -a` 或 `systemctl --failed`，再查看日志",
        ),
        "bill": (
            "按当前速度，账单将超出预算或套餐包含的额度",
            "在 costwarden 仪表盘上对比预测与预算，查看是哪些工作负载在推动",
        ),
        "disk": (
            "某个文件系统正在被填满，按此速度将会写满",
            "找出增长的目录：`du -xh / --max-depth=3 | sort -h | tail -20` 和 `journalctl --disk-usage`",
        ),
        "watch": ("costwarden 自身的监控受损：在此期间支出未被完整监控", "按下方链接的处理手册恢复监控"),
        "test": ("一切正常：这是你请求发送的测试消息", "无需任何操作"),
    },
}

WORDS = {
    "en": {
        "now": "{window}: now {now} {cur}/h against a mean of {mean} {cur}/h (min {min}, max {max})",
        "workload": "`{name}` costs {cost} {cur}/h against {base} {cur}/h before the alert",
        "bill": "Estimated invoice so far {mtd} {cur}, forecast {forecast} {cur} by period end ({days} days left)",
        "budget": "; budget {budget} {cur}",
        "egress": "Egress this period {used} GiB, forecast {forecast} GiB",
        "included": " of {included} GiB included",
        "noctx": "Prometheus could not be asked for more context: {error}",
        "severity": "Set by the alert rule ({severity}); no model assessed it",
        "advice": "Set a budget in the pricing table so forecasts warn before the invoice does",
        "headline": "{name} on {instance}: {summary}",
    },
    "zh": {
        "now": "{window}：当前 {now} {cur}/小时，平均 {mean} {cur}/小时（最低 {min}，最高 {max}）",
        "workload": "`{name}` 当前每小时 {cost} {cur}，告警前为 {base} {cur}",
        "bill": "本期账单估算至今 {mtd} {cur}，预计期末 {forecast} {cur}（剩余 {days} 天）",
        "budget": "；预算 {budget} {cur}",
        "egress": "本期出站流量 {used} GiB，预计 {forecast} GiB",
        "included": "，套餐包含 {included} GiB",
        "noctx": "无法从 Prometheus 获取更多上下文：{error}",
        "severity": "由告警规则设定（{severity}）；未经模型评估",
        "advice": "在价格表中设置预算，让预测在账单之前发出警告",
        "headline": "{instance} 上的 {name}：{summary}",
    },
}

SEVERITY = {"critical": "critical", "warning": "high", "info": "medium"}
DESCRIPTION_LINES = 3
"""Of the six observed facts, how many one alert's description may fill (the series, bill and egress lines follow)."""


def _lines(text: str, limit: int = DESCRIPTION_LINES) -> list[str]:
    """A description as lines of at most LINE_CHARS characters, cut between sentences (". " or "。"), so that its last
    sentence (what it costs) is not clipped away; a sentence longer than a line is cut with an ellipsis."""
    sentences = [s for s in re.split(r"(?<=[.;])\s+|(?<=[。；])", text) if s]
    out: list[str] = []
    for sentence in sentences:
        cjk = bool(out) and out[-1][-1] in "。；"  # Chinese sentences follow each other without a space
        if out and len(out[-1]) + 1 + len(sentence) <= LINE_CHARS:
            out[-1] += ("" if cjk else " ") + sentence
        else:
            out.append(sentence if len(sentence) <= LINE_CHARS else sentence[: LINE_CHARS - 1] + "…")
    return out[:limit]


def summarise(facts: Facts, language: str) -> Analysis:
    words, causes = WORDS[language], CAUSES[language]
    cur = facts.currency
    said = [alert_words.texts(a, cur, language) for a in facts.alerts[:2]]
    observed = [line for i, (summary, description) in enumerate(said)
                for line in _lines(description or summary, DESCRIPTION_LINES if i == 0 else 1)]  # fmt: skip
    observed += [
        words["now"].format(window=s.window, now=s.now, mean=s.mean, min=s.min, max=s.max, cur=cur)
        for s in facts.alerted_series
    ]
    grown = [w for w in facts.top_workloads if w.extra_per_day > 0][:2]
    observed += [
        words["workload"].format(name=w.name, cost=w.cost_per_hour, base=w.baseline_per_hour, cur=cur) for w in grown
    ]
    if facts.bill is not None:
        b = facts.bill
        line = words["bill"].format(mtd=b.month_to_date, forecast=b.forecast_period_end, days=b.days_left, cur=cur)
        observed.append(line + (words["budget"].format(budget=b.budget, cur=cur) if b.budget else ""))
    if facts.egress is not None and facts.egress.used_gib > 0:
        e = facts.egress
        line = words["egress"].format(used=e.used_gib, forecast=e.forecast_gib)
        observed.append(line + (words["included"].format(included=e.included_gib) if e.included_gib else ""))
    if facts.context_error:
        observed.append(words["noctx"].format(error=facts.context_error))
    first = facts.alerts[0]
    kind = alert_kind(first.name)
    if kind == "cost":
        resource = next((a.resource for a in facts.alerts if a.resource in causes), "")
        cause, action = causes[resource]
        action = _named(action, first.cgroup)
    else:  # a drop, a bill, a disk or costwarden's own health: never "spending is above its usual level"
        cause, action = KIND_CAUSES[language][kind]
    return Analysis(
        observed_facts=[line[:LINE_CHARS] for line in observed[:6]] or [first.name],
        likely_causes=[
            Cause(
                cause=cause,
                likelihood="medium",
                based_on=observed[0][:LINE_CHARS] if observed else first.name,
                workload=grown[0].name if grown else (first.cgroup or None),
            )
        ],
        severity=SEVERITY.get(first.severity, "medium"),  # type: ignore[arg-type]
        severity_reason=words["severity"].format(severity=first.severity or "-"),
        immediate_actions=[action],
        longer_term_advice=[] if facts.bill and facts.bill.budget else [words["advice"]],
        money_at_stake_per_day=facts.money_at_stake_per_day if kind in ("cost", "bill") else None,
        headline=words["headline"].format(name=first.name, instance=first.instance, summary=said[0][0])[:140],
    )
