"""Is an answer fit to be sent as fact? Schema-valid, saying something, not dismissing the alert, and making no claim
we did not supply.

The model chooses and words; it does not supply values. So:
- Numbers: every number in any script (ASCII, full-width, other decimal digits, Chinese numerals with a unit, English
  number words) must match a value we computed (within 1 %, or as that value rounded to the answer's decimals). The
  pool is built from the typed facts, never from text: an alert's annotations and labels (which a hostile label can
  fill) and its start time are not sources of numbers.
- Names: backticked names, identifier-like words (`redis-cache`, `app_2`), and the word after "container", "process",
  "service" (容器, 进程, 服务) must be names we supplied; a cause's workload must be a workload (not a resource or an
  instance). Units, currencies and commands are checked too: only the facts' currency, no unit the facts do not use,
  no destructive command (the model may only name an offered action).
- Money at stake is ours: an answer may omit it or repeat it, and the computed figure is what is sent.
- Content: every line has words (not `{`, `c`, or a schema key), and a firing alert is never called normal or
  harmless, nor a critical one low.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass, field

from pydantic import ValidationError

from receiver.analysis.schema import SCHEMA, Analysis
from receiver.facts.model import Facts

TOLERANCE = 0.01
STRUCTURAL = (0.0, 1.0, 5.0, 6.0, 7.0, 24.0, 100.0)
"""Always allowed: 24 h, 7 days, 5 minutes, 100 %, one …"""

# A number not glued to Latin letters or digits (`vps1`, `cx22` are names); CJK characters around it are fine.
NUMBER = re.compile(r"(?<![A-Za-z0-9_.])(?<![A-Za-z_]-)([-−]?)(\d+(?:,\d{3})*(?:\.\d+)?(?:[eE][-+]?\d+)?)")
NUMBER_WORDS = re.compile(
    r"\b(?:two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|seventeen|"
    r"eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|hundreds?|thousands?|millions?|"
    r"billions?|dozens?|twice|thrice|triple[ds]?|quadruple[ds]?|tenfold|\w+-fold)\b",
    re.IGNORECASE,
)
CJK_NUMERAL = re.compile(
    r"[零〇一二两三四五六七八九十百千万亿]*[十百千万亿][零〇一二两三四五六七八九十百千万亿]*"
    r"|[二两三四五六七八九]+(?=倍|成|元|美元|欧元|块|天|小时|分钟|周|个月|%|％)"
)
BACKTICKED = re.compile(r"`([^`\n]{1,80})`")
TOKEN = re.compile(r"(?<![\w.-])[A-Za-z][\w.-]*[A-Za-z0-9]")
NAMELIKE = re.compile(r"_|\d|[A-Za-z0-9]{2,}\.[A-Za-z]{2,}")
"""A word that can only be a name: with a digit or an underscore (`app_2`, `web2`), or dotted (`nginx.service`)."""
AFTER_KIND = re.compile(
    r"\b(?:container|process|service|workload|pod|cgroup)s?\s+(?:['\"“‘]([^'\"”’\s]{1,60})['\"”’]"
    r"|([A-Za-z0-9][\w.]*-[\w.-]*[A-Za-z0-9]))"
    r"|(?:容器|进程|服务|工作负载)\s*(?:['\"“‘「]([^'\"”’」\s]{1,60})|([A-Za-z0-9][\w.-]*))",
    re.IGNORECASE,
)
"""A quoted or hyphenated word after "container", "process"…, or any Latin word after 容器, 进程…: a name."""
CURRENCIES = {
    code: re.compile(pattern, re.IGNORECASE)
    for code, pattern in {
        "USD": r"(?<![a-z])(?:usd|dollars?)(?![a-z])|\$|美元|美金",
        "EUR": r"(?<![a-z])(?:eur|euros?)(?![a-z])|€|欧元",
        "CNY": r"(?<![a-z])(?:cny|rmb|yuan)(?![a-z])|¥|(?<![美欧日港台英])元|人民币",
        "GBP": r"(?<![a-z])(?:gbp|pounds? sterling)(?![a-z])|£|英镑",
        "JPY": r"(?<![a-z])(?:jpy|yen)(?![a-z])|日元",
        "INR": r"(?<![a-z])(?:inr|rupees?)(?![a-z])|₹|卢比",
    }.items()
}
UNITS = re.compile(r"(?<![A-Za-z])(KiB|MiB|GiB|TiB|PiB|KB|MB|GB|TB|PB|kWh|Mbps|Gbps)(?![A-Za-z])")
DESTRUCTIVE = re.compile(
    r"\brm\s+-|\bdocker\s+(?:rm|kill|stop|rmi|system\s+prune)\b|\bkill\s+-|\bpkill\b|\bkillall\b|"
    r"\bsystemctl\s+(?:stop|disable|mask)\b|\b(?:shutdown|reboot|poweroff)\s+(?:-|now)|\bmkfs\b|\bdd\s+if=|"
    r"\bchmod\s+777\b|\bcurl\b[^\n]*\|\s*(?:sh|bash)\b",
    re.IGNORECASE,
)
DISMISSAL = re.compile(
    r"\b(?:no (?:action|need|reason to)|nothing to (?:do|worry)|(?:all|everything) (?:is )?(?:fine|normal|ok|well)|"
    r"(?:is|looks|seems) (?:normal|harmless|fine)\b|planned maintenance|false (?:alarm|positive)|"
    r"(?:can|may|should) (?:safely )?be ignored|ignore (?:this|it|the alert)|not a (?:problem|concern))\b"
    r"|无需|不需要|一切正常|属于正常|是正常的|计划内|计划中的维护|误报|可以忽略|不必担心|无需处理",
    re.IGNORECASE,
)
KEYS = {*SCHEMA["properties"], *SCHEMA["$defs"]["Cause"]["properties"]}
KEY_AS_TEXT = re.compile(
    r"\b(?:" + "|".join(k for k in KEYS if "_" in k) + r")\b|^\s*(?:" + "|".join(KEYS) + r")\s*[:=]", re.IGNORECASE
)
"""A field's name written as text (`observed_facts`, `headline: …`): the model wrote the form, not the content."""
WORD = re.compile(r"[A-Za-z]{3,}|[\u3400-\u9fff]{2,}")
RANK = {"low": 0, "medium": 1, "high": 2, "critical": 3}
LEAST = {"critical": "high", "warning": "medium"}
"""The least an answer may call an alert of this rule severity: a model does not downgrade the rule."""


@dataclass(frozen=True)
class Verdict:
    ok: bool
    problems: list[str] = field(default_factory=list)
    analysis: Analysis | None = None

    def as_dict(self) -> dict[str, object]:
        return {"ok": self.ok, "problems": self.problems}


def _normal(text: str) -> str:
    """Full-width digits and letters as ASCII (１２３ → 123), so no script hides a number or a name."""
    return unicodedata.normalize("NFKC", text)


def numbers(text: str) -> list[float]:
    """Every number written in digits, signed, in any script; names such as `vps1` or `cx22` are not numbers."""
    out = []
    for sign, digits in NUMBER.findall(_normal(text)):
        value = float(digits.replace(",", ""))
        out.append(-value if sign else value)
    return out


def number_words(text: str) -> list[str]:
    """Numbers written in words (English) or Chinese numerals: never a supplied value, always an invention."""
    return [m.group(0) for m in NUMBER_WORDS.finditer(text)] + [m.group(0) for m in CJK_NUMERAL.finditer(text)]


def _decimals(token: float) -> int:
    text = repr(abs(token))
    return len(text.split(".")[1].rstrip("0")) if "." in text and "e" not in text else 0


def supported(value: float, supplied: list[float]) -> bool:
    for s in supplied:
        if abs(value - s) <= TOLERANCE * max(abs(s), 1e-9):
            return True
        places = _decimals(value)
        if (places > 0 or abs(s) >= 10) and round(s, places) == value:
            return True
    return False


@dataclass(frozen=True)
class Pools:
    """What an answer may cite, by kind: numbers we computed, and names as the facts give them."""

    numbers: list[float]
    workloads: set[str]
    names: set[str]
    units: set[str]
    currency: str
    actions: set[str]


def _numbers_of(value: object) -> list[float]:
    if isinstance(value, bool):
        return []
    if isinstance(value, int | float):
        return [float(value)]
    if isinstance(value, dict):
        return [n for v in value.values() for n in _numbers_of(v)]
    if isinstance(value, list):
        return [n for v in value for n in _numbers_of(v)]
    return []


def pools(facts: Facts) -> Pools:
    """The pools of one alert group. Alert texts, labels, start times, error texts and action output are not sources
    of numbers: they are typed by people, templates or a hostile label, not computed by us."""
    data = json.loads(facts.model_dump_json(exclude={"alerts", "alerts_total", "context_error", "actions",
                                                     "actions_error", "diagnostics"}))  # fmt: skip
    supplied = _numbers_of(data)
    for d in facts.diagnostics:  # the exporter's own readings (CPU %, bytes) of what it saw
        supplied += [n for line in d.lines for n in numbers(line)]
    workloads = {w.name for w in facts.top_workloads} | {a.cgroup for a in facts.alerts}
    names = facts.names() | ({facts.currency} if facts.currency else set())
    units = {"GiB"} if facts.egress is not None else set()
    units |= {u for d in facts.diagnostics for line in d.lines for u in UNITS.findall(line)}
    return Pools([*supplied, *STRUCTURAL], {w for w in workloads if w}, names, units, facts.currency,
                 {a.name for a in facts.actions})  # fmt: skip


def unsupported(texts: list[str], p: Pools) -> list[str]:
    """What in `texts` the pools do not back: numbers, number words, names, units, currencies, commands."""
    problems: list[str] = []
    for raw in texts:
        text = _normal(raw)
        quote = repr(raw[:80])
        problems += [f"number {v:g} is not in the facts: {quote}" for v in numbers(text) if not supported(v, p.numbers)]
        problems += [f"number {w!r} written in words is not a supplied value: {quote}" for w in number_words(text)]
        stripped = BACKTICKED.sub(" ", text)
        mentioned = BACKTICKED.findall(text) + [t for t in TOKEN.findall(stripped) if NAMELIKE.search(t)]
        mentioned += [next(g for g in groups if g) for groups in AFTER_KIND.findall(stripped)]
        problems += [f"name {n!r} is not in the facts: {quote}" for n in mentioned if n not in p.names]
        problems += [f"unit {u} is not used by the facts: {quote}" for u in UNITS.findall(text) if u not in p.units]
        for code, pattern in CURRENCIES.items():
            if code != p.currency and pattern.search(text):
                problems.append(f"currency {code} is not the facts' currency ({p.currency or 'none'}): {quote}")
        if DESTRUCTIVE.search(text):
            problems.append(f"a destructive command (only an offered action may be named): {quote}")
    return problems


def _content(texts: list[str], headline: str) -> list[str]:
    """An answer must say something: words in every line, no schema keys or JSON written as text."""
    problems = []
    for text in [*texts, headline]:
        stripped = text.strip().strip("`'\".,:;!?-").strip()
        if stripped.lower() in KEYS or KEY_AS_TEXT.search(text) or re.search(r"[{}\[\]]|\"\s*:", text) \
                or not WORD.search(text):  # fmt: skip
            problems.append(f"not a sentence: {text[:80]!r}")
    if len(WORD.findall(headline)) < 2 and len(re.findall(r"[\u3400-\u9fff]", headline)) < 4:
        problems.append(f"the headline says nothing: {headline[:80]!r}")
    return problems


def _loyal(analysis: Analysis, facts: Facts) -> list[str]:
    """A firing alert is never called normal or harmless, and a critical one never low: the rule decided."""
    if facts.status != "firing" or not facts.alerts:
        return []
    problems = [f"dismisses a firing alert: {t[:80]!r}" for t in [*analysis.texts()] if DISMISSAL.search(t)]
    least = LEAST.get(facts.alerts[0].severity)
    if least is not None and RANK[analysis.severity] < RANK[least]:
        problems.append(f"severity {analysis.severity} for a {facts.alerts[0].severity} alert (at least {least})")
    return problems


def check(raw: str, done_reason: str | None, facts: Facts) -> Verdict:
    if done_reason == "length":
        return Verdict(False, ["cut off: the answer reached num_predict before it ended"])
    try:
        analysis = Analysis.model_validate_json(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        kind = "not JSON" if first["type"] == "json_invalid" else "not the analysis schema"
        return Verdict(False, [f"{kind}: {where}: {first['msg']}"])
    p = pools(facts)
    problems = _content(analysis.texts()[:-1], analysis.headline)
    problems += unsupported(analysis.texts(), p)
    problems += [f"workload {c.workload!r} is not a workload of the facts" for c in analysis.likely_causes
                 if c.workload is not None and c.workload not in p.workloads]  # fmt: skip
    stake, computed = analysis.money_at_stake_per_day, facts.money_at_stake_per_day
    if stake is not None and (computed is None or not supported(stake, [computed])):
        problems.append(f"money at stake {stake:g} is not the computed {computed}")
    if analysis.recommended_action is not None and analysis.recommended_action not in p.actions:
        problems.append(f"recommended action {analysis.recommended_action!r} is not one the facts offer")
    problems += _loyal(analysis, facts)
    if problems:
        return Verdict(False, problems, analysis)
    return Verdict(True, [], analysis.model_copy(update={"money_at_stake_per_day": facts.money_at_stake_per_day}))


def check_comment(
    raw: str, done_reason: str | None, names: set[str], supplied_text: str
) -> tuple[str | None, list[str]]:
    """A digest's comment: one JSON string field, held to the same rules; its facts are all computed by us."""
    if done_reason == "length":
        return None, ["cut off: the answer reached num_predict before it ended"]
    try:
        answer = json.loads(raw)
    except ValueError as exc:
        return None, [f"not JSON: {exc}"]
    comment = answer.get("comment") if isinstance(answer, dict) else None
    if not isinstance(comment, str) or not comment.strip() or len(comment) > 400:
        return None, ["not the comment schema: comment must be a string of 1 to 400 characters"]
    try:
        currency = json.loads(supplied_text).get("currency", "")
    except (ValueError, AttributeError):
        currency = ""
    p = Pools([*numbers(supplied_text), *STRUCTURAL], set(), names | {currency}, set(UNITS.findall(supplied_text)),
              currency, set())  # fmt: skip
    problems = _content([], comment) + unsupported([comment], p)
    return (None, problems) if problems else (comment.strip(), [])
