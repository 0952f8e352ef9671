"""What a language must say: every field of `Words` is one table of the receiver's words. A language is one file
(costwarden/catalogue/en.yml, zh.yml) filling all of them; tests check that every table has the same keys in every
language, and that every resource and alert has its words."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Words:
    labels: dict[str, str]
    """The alert message's headings and lines (message/render.py)."""
    action_states: dict[str, str]
    """A remediation's outcome, by state."""
    likelihood: dict[str, str]
    """A cause's likelihood as the model gives it (high, medium, low)."""
    reasons: dict[str, str]
    """Why a message carries no model analysis (enrich.py's reasons)."""
    no_analysis: str
    """The one-line follow-up when a page promised an analysis that did not come."""
    notice: dict[str, str]
    """The admin's message about a notification set aside after failing."""
    digest: dict[str, str]
    """The digest's headings and lines (digest/render.py)."""
    verdicts: dict[str, str]
    """The digest's verdict (normal, watch, act)."""
    digest_reasons: dict[str, str]
    """Why the digest gave its verdict."""
    weekdays: tuple[str, ...]
    """Monday first."""
    causes: dict[str, tuple[str, str]]
    """Per resource (costwarden.resources.RESOURCES; "" for any): (likely cause, first thing to check)."""
    kind_causes: dict[str, tuple[str, str]]
    """Per kind of alert that is not about one resource's spend (drop, bill, disk, watch, test)."""
    fallback: dict[str, str]
    """The deterministic summary's observed facts."""
    prompt_language: str
    """The model's instruction of which language to answer in."""
    feedback: str
    """The model's second attempt: the first answer's problems."""
    resources: dict[str, str]
    """A resource's name as people read it."""
    whole_host: str
    """The workload named when an alert is about the whole host."""
    severity: dict[str, str]
    """critical, warning, info as the message's title says them."""
    units: dict[str, str]
    """Units of duration (d, h, min)."""
    alerts: dict[str, tuple[str, str]]
    """(summary, description) per alert name; `:flat` is the variant for a resource a flat price pays for."""
    chart: dict[str, str]
    """The words inside a chart's picture and its caption (receiver/chart); none are drawn without a font for them."""
    config_errors: dict[str, str]
    """receiver.yml's problems as `costwarden-receiver` says them at start-up, in the file's own language."""
