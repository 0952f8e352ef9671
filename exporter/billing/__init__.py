"""The provider's own numbers: billing and transfer APIs, polled slowly in the background and cross-checked against
our estimate by the rules. The estimate is fast and the bill is the truth, hours late; both are worth having.

Each API is read by a function `read(client, cfg) -> Reading` (one module per provider) on its own thread every
`provider_api.interval_seconds`; a scrape only reads the cached reading and its age. A failed poll keeps the last good
reading (with its timestamp) and counts the failure by reason: billing data can never break the scrape.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Reading:
    """What one poll learnt; None where the API does not say."""

    month_to_date: float | None = None
    """Charges so far this month, as the provider bills them."""
    balance: float | None = None
    """What the account owes (negative: credit), as the provider shows it."""
    last_invoice: float | None = None
    transfer_used_bytes: float | None = None
    transfer_quota_bytes: float | None = None
    generated_at: float | None = None
    """When the provider computed these figures (DigitalOcean says; others do not)."""
    plan_price_hourly: float | None = None
    plan_price_monthly: float | None = None
    by_service: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Plan:
    """A server's plan as its provider sells it today, for `costwarden init` to price the machine with (list price,
    before discounts: the bill shows the discount, the table must not hide a price rise at renewal)."""

    name: str
    monthly: float
    currency: str
    vcpus: int
    memory_gib: float
    disk_gib: float
    included_gib: float | None
    """Traffic included a month (the provider's GB); None: unlimited (nothing is billed beyond it)."""
    overage_per_gib: float | None = None
    """The provider's published price per GB beyond `included_gib` where its documentation states one (no API does);
    None: not known here, so init says to set it."""
