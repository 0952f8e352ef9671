"""What each alert of rules/ says, in every language the receiver writes.

The rules annotate the numbers behind an alert (`values: key=number ...`); the words are here, one table per language,
filled from those numbers and the alert's labels. A Chinese message therefore never passes the rule's English
description through, and every alert says what it does to the invoice: money for what is metered (egress beyond the
included transfer), a share of the plan for what a flat price already pays for (CPU, memory, disk). An alert this
table does not know (a user's own rule) keeps its own annotations.
"""

from __future__ import annotations

import math
import re
import string
from collections.abc import Mapping
from typing import TYPE_CHECKING

from costwarden.resources import METERED_RESOURCES

if TYPE_CHECKING:
    from receiver.facts.model import AlertFact

VALUE = re.compile(r"(?<![\w])([a-z_][a-z0-9_]*)=([-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?)(?![\w.])")
LABELS = ("mountpoint", "collector", "provider", "channel", "rule_group", "integration")
"""Labels besides instance/cgroup/resource that name what an alert is about."""


def parse_values(text: str) -> dict[str, float]:
    """`ratio=4 sustained=0.05` → {"ratio": 4.0, "sustained": 0.05}; anything else in the text is ignored (an
    annotation is untrusted), and so are values that are not finite."""
    out = {}
    for key, raw in VALUE.findall(text):
        try:
            value = float(raw)
        except ValueError:
            continue
        if math.isfinite(value):
            out[key] = value
    return out


RESOURCES = {
    "en": {"cpu": "CPU", "memory": "memory", "disk": "disk", "network_egress": "egress traffic"},
    "zh": {"cpu": "CPU", "memory": "内存", "disk": "磁盘", "network_egress": "出站流量"},
}
WHOLE_HOST = {"en": "the whole host", "zh": "整台主机"}
SEVERITY = {
    "en": {"critical": "CRITICAL", "warning": "WARNING", "info": "INFO", "": "ALERT"},
    "zh": {"critical": "严重", "warning": "警告", "info": "提示", "": "告警"},
}
UNITS = {
    "en": {"d": "d", "h": "h", "min": "min", "bytes": ("B", "KiB", "MiB", "GiB", "TiB", "PiB")},
    "zh": {"d": "天", "h": "小时", "min": "分钟", "bytes": ("B", "KiB", "MiB", "GiB", "TiB", "PiB")},
}

# (summary, description) per alert; `:flat` is the variant for a resource the plan's price already pays for.
ALERTS: dict[str, dict[str, tuple[str, str]]] = {
    "en": {
        "CostwardenCostSpike": (
            "A resource suddenly costs far more than it usually does at this hour, and the money adds up.",
            "The {resource} cost of {workload} on {instance} has held at or above {sustained:rate} {cur}/h for five "
            "minutes, against {expected:rate} {cur}/h usual at this hour (the median of the last {days:n} days) and a "
            "usual peak of {usual_peak:rate} {cur}/h: {ratio:pct} above. At this pace that is {extra_per_day:money} "
            "{cur} a day more; {spent_6h:money} {cur} above normal was spent in the last 6 hours.",
        ),
        "CostwardenCostSpike:flat": (
            "A workload suddenly uses far more of the server than it usually does at this hour.",
            "{workload} on {instance} has used {resource} worth at least {sustained:rate} {cur}/h of the plan for "
            "five minutes, against {expected:rate} {cur}/h usual at this hour (the median of the last {days:n} days) "
            "and a usual peak of {usual_peak:rate} {cur}/h: {ratio:pct} above, {extra_per_day:money} {cur} of the "
            "plan a day. The plan's price does not change with use.",
        ),
        "CostwardenCostDrop": (
            "A workload's cost fell far below anything it usually costs at this hour; it may have stopped working.",
            "The {resource} cost of {workload} on {instance} has stayed at or below {sustained:rate} {cur}/h for five "
            "minutes, under {usual_low:rate} {cur}/h, the usual low at this hour over the last {days:n} days, and "
            "{ratio:pct} below the usual {expected:rate} {cur}/h. This costs nothing extra: a workload that usually "
            "works this hard has nearly stopped, which is how a crash loop, a stuck queue or lost traffic looks.",
        ),
        "CostwardenCostDrop:stopped": (
            "A workload stopped costing.",
            "The {resource} cost of {workload} on {instance} has been zero for 30 minutes; it is usually "
            "{expected:rate} {cur}/h at this hour. Expected if you stopped it.",
        ),
        "CostwardenCostDrift": (
            "A resource has been costing steadily more, day after day.",
            "The {resource} cost of {workload} on {instance} averaged {day:rate} {cur}/h over the last day against "
            "{week_ago:rate} {cur}/h on the same day last week: {ratio:pct} more. No spike was paged for it in the "
            "last week, so this is a slow climb, not one burst.",
        ),
        "CostwardenBudgetExceeded": (
            "This billing period's estimated invoice is already over the monthly budget.",
            "The estimated invoice of {instance} so far this period is {spent:money} {cur}, over the budget of "
            "{budget:money} {cur}.",
        ),
        "CostwardenBudgetForecastExceeded": (
            "At the current pace this billing period will cost more than the monthly budget.",
            "{instance} is forecast to cost {forecast:money} {cur} by the end of the period ({spent:money} {cur} so "
            "far, {days_left:days} days left) against a budget of {budget:money} {cur}.",
        ),
        "CostwardenEgressQuotaForecast": (
            "At the current pace egress will pass the included quota before the period ends, and overage costs money.",
            "{instance} has sent {used_bytes:bytes} this period and at the pace of the last 6 hours will reach "
            "{forecast_bytes:bytes} by its end, above the {included_bytes:bytes} included.",
        ),
        "CostwardenDiskFillForecast": (
            "A disk is filling up and will be full within a day at the current pace.",
            "{mountpoint} on {instance} is {used_ratio:pct} full and at the pace of the last 6 hours will need "
            "{need_bytes:bytes} in 24 hours. Runaway logs or backups are the usual cause; a full disk stops services "
            "or forces a larger (pricier) plan.",
        ),
        "CostwardenProviderBillDiverges": (
            "The provider's bill so far differs from costwarden's estimate by more than the tolerance.",
            "The provider bills {provider_bill:money} {cur} so far this month; costwarden estimates "
            "{estimate:money} {cur} for {instance}, {apart:money} {cur} apart. The pricing table may be wrong, or the "
            "account pays for something this host's exporter does not see.",
        ),
        "CostwardenProviderTransferForecast": (
            "By the provider's own count, transfer will pass the included quota before the month ends.",
            "{provider} counts {used_bytes:bytes} of transfer this month for {instance}; at the pace of the last 6 "
            "hours it reaches {forecast_bytes:bytes} by the period's end, above the {quota_bytes:bytes} included.",
        ),
        "CostwardenBillingDataStale": (
            "The provider's billing API has not answered for hours; the cross-checks against it are blind.",
            "The {provider} billing API last answered {instance}'s exporter {seconds:duration} ago.",
        ),
        "CostwardenPricingTableOutdated": (
            "The provider's API lists another price for this server type than the pricing table.",
            "The provider's API prices {instance}'s server type at {provider_price:rate} {cur} an hour; the pricing "
            "table says {table_price:rate} {cur}. Every estimate is off by the same ratio until plan_price is "
            "updated in pricing.yml.",
        ),
        "CostwardenExporterDown": (
            "Prometheus cannot scrape the costwarden exporter, so spend is not being watched.",
            "The costwarden exporter at {instance} has not answered scrapes for 5 minutes; no cost alert can fire "
            "for this host until it is back.",
        ),
        "CostwardenCollectorFailing": (
            "One of the exporter's collectors keeps failing, so part of the spend is not measured.",
            "The {collector} collector on {instance} has failed every read for 10 minutes ({errors:n} errors since "
            "the exporter started).",
        ),
        "CostwardenCollectorErrors": (
            "The exporter keeps skipping some workloads it cannot read.",
            "The {collector} collector on {instance} counted {count:n} unreadable workloads or files in the last 30 "
            "minutes; their cost is missing from the per-container view.",
        ),
        "CostwardenSamplerStalled": (
            "The exporter answers scrapes but has stopped reading usage.",
            "The exporter on {instance} last read usage {seconds:duration} ago; its numbers are frozen.",
        ),
        "CostwardenReceiverDown": (
            "Prometheus cannot scrape the costwarden receiver; alerts may not reach anyone.",
            "The receiver at {instance} has not answered scrapes for 5 minutes. Alertmanager keeps retrying its "
            "notifications, but nothing is delivered until the receiver is back.",
        ),
        "CostwardenReceiverDeliveryFailing": (
            "A notification channel has failed every delivery for 15 minutes.",
            "The receiver at {instance} could not deliver to {channel}: {failed:n} failed or parked attempts and none "
            "sent in the last 15 minutes.",
        ),
        "CostwardenRuleEvaluationFailing": (
            "Prometheus fails to evaluate some rules, so some alerts cannot fire.",
            "{failed:n} evaluations of rule group {rule_group} failed on {instance} in the last 10 minutes.",
        ),
        "CostwardenAlertmanagerNotificationsFailing": (
            "Alertmanager cannot hand notifications to the costwarden receiver.",
            "{failed:n} notifications through {integration} failed on {instance} in the last 10 minutes.",
        ),
        "CostwardenWatchdog": (
            "Always firing, to prove the alerting pipeline works end to end (a dead man's switch).",
            "Prometheus evaluates rules and Alertmanager delivers to the receiver; the receiver pings the heartbeat "
            "URL on every repeat.",
        ),
        "CostwardenSendTest": (
            "A test message from costwarden-receiver send-test: this channel works.",
            "Nothing is wrong; you asked for this message.",
        ),
    },
    "zh": {
        "CostwardenCostSpike": (
            "某项资源的费用突然远高于平时这个时段的水平，而且金额在累积。",
            "{instance} 上 {workload} 的{resource}费用已连续五分钟不低于每小时 {sustained:rate} {cur}，"
            "平时这个时段为每小时 "
            "{expected:rate} {cur}（过去 {days:n} 天的中位数），平时峰值为每小时 {usual_peak:rate} {cur}："
            "高出 {ratio:pct}。"
            "按此速度每天多花 {extra_per_day:money} {cur}；过去 6 小时已比正常多花 {spent_6h:money} {cur}。",
        ),
        "CostwardenCostSpike:flat": (
            "某个工作负载占用的服务器资源突然远高于平时这个时段的水平。",
            "{instance} 上的 {workload} 已连续五分钟占用价值至少每小时 {sustained:rate} {cur} 的{resource}，"
            "平时这个时段为每小时 "
            "{expected:rate} {cur}（过去 {days:n} 天的中位数），平时峰值为每小时 {usual_peak:rate} {cur}："
            "高出 {ratio:pct}，"
            "相当于每天占用套餐的 {extra_per_day:money} {cur}。套餐价格不随用量变化。",
        ),
        "CostwardenCostDrop": (
            "某个工作负载的费用远低于平时这个时段的任何水平，它可能已停止工作。",
            "{instance} 上 {workload} 的{resource}费用已连续五分钟不高于每小时 {sustained:rate} {cur}，"
            "低于过去 {days:n} 天"
            "这个时段的通常低值每小时 {usual_low:rate} {cur}，比平时的每小时 {expected:rate} {cur} 低 {ratio:pct}。"
            "这不会多花钱：一个平时这样忙碌的工作负载几乎停了下来，崩溃循环、队列卡住或流量丢失都会这样表现。",
        ),
        "CostwardenCostDrop:stopped": (
            "某个工作负载不再产生费用。",
            "{instance} 上 {workload} 的{resource}费用已连续 30 分钟为零；平时这个时段为每小时 {expected:rate} {cur}。"
            "如果是你停止了它，这是预期的。",
        ),
        "CostwardenCostDrift": (
            "某项资源的费用一天比一天稳步上升。",
            "{instance} 上 {workload} 的{resource}费用过去一天平均每小时 {day:rate} {cur}，上周同一天为每小时 "
            "{week_ago:rate} {cur}：多了 {ratio:pct}。过去一周没有为此发出突增告警，所以这是缓慢上升，而不是一次突发。",
        ),
        "CostwardenBudgetExceeded": (
            "本计费周期的估算账单已超过月度预算。",
            "{instance} 本期至今的估算账单为 {spent:money} {cur}，已超过 {budget:money} {cur} 的预算。",
        ),
        "CostwardenBudgetForecastExceeded": (
            "按当前速度，本计费周期的费用将超过月度预算。",
            "预计 {instance} 到本期结束将花费 {forecast:money} {cur}（至今 {spent:money} {cur}，"
            "剩余 {days_left:days} 天），"
            "预算为 {budget:money} {cur}。",
        ),
        "CostwardenEgressQuotaForecast": (
            "按当前速度，出站流量将在本期结束前超出套餐包含的额度，超出部分要收费。",
            "{instance} 本期已发送 {used_bytes:bytes}，按过去 6 小时的速度到期末将达到 {forecast_bytes:bytes}，"
            "超过套餐包含的 {included_bytes:bytes}。",
        ),
        "CostwardenDiskFillForecast": (
            "某个磁盘正在被填满，按当前速度一天内会写满。",
            "{instance} 上的 {mountpoint} 已用 {used_ratio:pct}，按过去 6 小时的速度 24 小时内需要 {need_bytes:bytes}。"
            "常见原因是失控的日志或备份；磁盘写满会让服务停止，或迫使你换更大（更贵）的套餐。",
        ),
        "CostwardenProviderBillDiverges": (
            "服务商至今的账单与 costwarden 的估算相差超过容许范围。",
            "服务商本月至今计费 {provider_bill:money} {cur}；costwarden 对 {instance} 的估算为 {estimate:money} {cur}，"
            "相差 {apart:money} {cur}。可能是价格表有误，或者账户在为本机导出器看不到的东西付费。",
        ),
        "CostwardenProviderTransferForecast": (
            "按服务商自己的统计，流量将在月底前超出套餐包含的额度。",
            "{provider} 统计 {instance} 本月已用流量 {used_bytes:bytes}；按过去 6 小时的速度到期末将达到 "
            "{forecast_bytes:bytes}，超过套餐包含的 {quota_bytes:bytes}。",
        ),
        "CostwardenBillingDataStale": (
            "服务商的计费接口已数小时没有响应；与它的交叉核对暂时失效。",
            "{provider} 计费接口上次响应 {instance} 的导出器是在 {seconds:duration}前。",
        ),
        "CostwardenPricingTableOutdated": (
            "服务商接口给出的这种服务器规格的价格与价格表不同。",
            "服务商接口给出 {instance} 的服务器规格价格为每小时 {provider_price:rate} {cur}；价格表为每小时 "
            "{table_price:rate} {cur}。在更新 pricing.yml 中的 plan_price 之前，每个估算都会按同一比例偏差。",
        ),
        "CostwardenExporterDown": (
            "Prometheus 无法抓取 costwarden 导出器，支出目前没有被监控。",
            "位于 {instance} 的 costwarden 导出器已 5 分钟没有响应抓取；在它恢复之前，这台主机不会触发任何费用告警。",
        ),
        "CostwardenCollectorFailing": (
            "导出器的某个采集器持续失败，部分支出没有被计量。",
            "{instance} 上的 {collector} 采集器已连续 10 分钟每次读取都失败（导出器启动以来共 {errors:n} 次错误）。",
        ),
        "CostwardenCollectorErrors": (
            "导出器持续跳过一些无法读取的工作负载。",
            "{instance} 上的 {collector} 采集器在过去 30 分钟内遇到 {count:n} 个无法读取的工作负载或文件；"
            "按容器的视图中缺少它们的费用。",
        ),
        "CostwardenSamplerStalled": (
            "导出器仍响应抓取，但已停止读取用量。",
            "{instance} 上的导出器上次读取用量是在 {seconds:duration}前；它的数字已经冻结。",
        ),
        "CostwardenReceiverDown": (
            "Prometheus 无法抓取 costwarden 接收器；告警可能无法送达任何人。",
            "位于 {instance} 的接收器已 5 分钟没有响应抓取。Alertmanager 会继续重试通知，"
            "但在接收器恢复之前什么都送不出去。",
        ),
        "CostwardenReceiverDeliveryFailing": (
            "某个通知渠道已连续 15 分钟投递失败。",
            "位于 {instance} 的接收器无法投递到 {channel}：过去 15 分钟有 {failed:n} 次失败或搁置的尝试，"
            "没有一次成功。",
        ),
        "CostwardenRuleEvaluationFailing": (
            "Prometheus 无法计算部分规则，部分告警因此无法触发。",
            "过去 10 分钟内，{instance} 上规则组 {rule_group} 有 {failed:n} 次计算失败。",
        ),
        "CostwardenAlertmanagerNotificationsFailing": (
            "Alertmanager 无法把通知交给 costwarden 接收器。",
            "过去 10 分钟内，{instance} 上通过 {integration} 的通知有 {failed:n} 次失败。",
        ),
        "CostwardenWatchdog": (
            "始终处于触发状态，用来证明告警链路端到端正常（失效开关）。",
            "Prometheus 在计算规则，Alertmanager 在向接收器投递；接收器每次重复时都会访问心跳地址。",
        ),
        "CostwardenSendTest": (
            "来自 costwarden-receiver send-test 的测试消息：这个渠道工作正常。",
            "一切正常；这条消息是你请求发送的。",
        ),
    },
}


def duration(seconds: float, language: str) -> str:
    """1 d 3 h 20 min / 1 天 3 小时 20 分钟."""
    u = UNITS[language]
    minutes = max(0, round(seconds / 60))
    days, rest = divmod(minutes, 1440)
    hours, minutes = divmod(rest, 60)
    parts = [(days, u["d"]), (hours, u["h"]), (minutes, u["min"])]
    shown = [f"{n} {unit}" for n, unit in parts if n]
    return " ".join(shown) or f"0 {u['min']}"


def size(value: float, language: str) -> str:
    units = UNITS[language]["bytes"]
    i = 0
    while abs(value) >= 1024 and i < len(units) - 1:
        value /= 1024
        i += 1
    return f"{value:.0f} {units[i]}" if i == 0 else f"{value:.1f} {units[i]}"


class _Words(string.Formatter):
    """str.format with the kinds of number a message shows: {x:rate} 0.0312, {x:money} 0.96, {x:pct} 400%,
    {x:bytes} 1.5 GiB, {x:duration} 3 h 20 min, {x:days} 4.5, {x:n} 16."""

    def __init__(self, language: str) -> None:
        self.language = language

    def format_field(self, value: object, format_spec: str) -> str:
        if not isinstance(value, float):
            return str(value)
        if format_spec == "rate":
            return f"{value:.4f}"
        if format_spec == "money":
            return f"{value:.2f}"
        if format_spec == "pct":
            return f"{value * 100:.0f}%"
        if format_spec == "bytes":
            return size(value, self.language)
        if format_spec == "duration":
            return duration(value, self.language)
        if format_spec == "days":
            return f"{value:.1f}"
        return f"{value:.0f}"


def flat(resource: str) -> bool:
    """A resource a flat price already pays for: using more of it costs capacity, not money."""
    return bool(resource) and resource not in METERED_RESOURCES


def key(name: str, severity: str, resource: str) -> str:
    """The table's entry for an alert: the spike on a flat-priced resource and the drop to zero have their own."""
    if name == "CostwardenCostSpike" and flat(resource):
        return name + ":flat"
    if name == "CostwardenCostDrop" and severity == "info":
        return name + ":stopped"
    return name


def words_for(
    name: str,
    severity: str,
    labels: Mapping[str, str],
    values: Mapping[str, float],
    currency: str,
    language: str,
) -> tuple[str, str | None] | None:
    """(summary, description) of a known alert in `language`; the description is None when a number it needs is
    missing (Prometheus could not be asked when the rule fired). None for an alert this table does not know."""
    entry = ALERTS[language].get(key(name, severity, labels.get("resource", "")))
    if entry is None:
        return None
    summary, template = entry
    cgroup = labels.get("cgroup", "")
    named: dict[str, object] = {
        **{k: labels[k] for k in ("instance", *LABELS) if labels.get(k)},
        "workload": WHOLE_HOST[language] if cgroup in ("", "/") else cgroup,
        "resource": RESOURCES[language].get(labels.get("resource", ""), labels.get("resource", "")),
        "cur": currency,
    }
    # The labels' words win over a number of the same name; a label the sentence needs and the alert lacks, or a
    # number the rule could not annotate, leaves the summary alone rather than a sentence with a hole.
    fields = {**{k: float(v) for k, v in values.items()}, **named}
    try:
        return summary, _Words(language).format(template, **fields)
    except (KeyError, IndexError):
        return summary, None


def texts(alert: AlertFact, currency: str, language: str) -> tuple[str, str]:
    """The alert's (summary, description) as a message shows them: from this table in `language` when it knows the
    alert (the summary alone if a number is missing), else the rule's own annotations."""
    labels = {"instance": alert.instance, "cgroup": alert.cgroup, "resource": alert.resource, **alert.labels}
    known = words_for(alert.name, alert.severity, labels, alert.values, currency, language)
    if known is None:
        return alert.summary or "", alert.description or ""
    return known[0], known[1] or ""
