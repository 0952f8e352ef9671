"""Poll one billing API on its own slow schedule, keep the last good reading, and render it as metrics.

A failure keeps the last reading (the metrics say how old it is), counts the failure by reason, and tries again
sooner — doubling from a minute up to the interval, never before the server's retry-after. Nothing here can fail a
scrape: the collector only reads what the last poll left.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from costwarden.secrets import SecretFileError, env_or_file
from exporter.billing import Reading, alibaba, aws, tencent
from exporter.billing.client import REASONS, ApiError
from exporter.billing.providers import READERS, client_for
from exporter.config import ConfigError, PricingTable, explain

log = logging.getLogger("exporter.billing")

TOKEN_ENV = "COSTWARDEN_PROVIDER_TOKEN"  # noqa: S105 - the variable's name, not a secret
DEFAULT_INTERVAL = {"aws": 6 * 3600.0}
FIRST_RETRY_SECONDS = 60.0
SIGNED = {"tencent": tencent, "alibaba": alibaba}
"""APIs signed with a key pair (not a bearer token): each module has KEY_ENV, Api and read; the catalogue names the
key (exporter_errors.key_<api>)."""


class Poller:
    def __init__(self, api: str, poll: Callable[[], Reading], interval: float, clock: Callable[[], float] = time.time):
        self.api = api
        self.interval = interval
        self._poll = poll
        self._clock = clock
        self._lock = threading.Lock()
        self._reading: Reading | None = None
        self._last_success = 0.0
        self._up = False
        self._failures = 0
        self._errors = dict.fromkeys(REASONS, 0)

    def poll_once(self) -> float:
        """One poll; returns how long to wait before the next."""
        try:
            reading = self._poll()
        except ApiError as exc:
            return self._failed(exc.reason, str(exc), exc.retry_after)
        except Exception as exc:  # a parser's bug must not kill the thread: counted, logged, retried
            log.exception("%s billing poll failed unexpectedly", self.api)
            return self._failed("bad_response", repr(exc), None)
        with self._lock:
            self._reading, self._last_success, self._up, self._failures = reading, self._clock(), True, 0
        log.debug("%s billing: %s", self.api, reading)
        return self.interval

    def _failed(self, reason: str, detail: str, retry_after: float | None) -> float:
        with self._lock:
            self._errors[reason] = self._errors.get(reason, 0) + 1
            self._up = False
            self._failures += 1
            backoff = min(self.interval, FIRST_RETRY_SECONDS * 2 ** (self._failures - 1))
        delay = max(backoff, retry_after or 0.0)
        log.warning("%s billing poll failed (%s): %s; next try in %.0f s", self.api, reason, detail, delay)
        return float(delay)

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            stop.wait(self.poll_once())

    def collect(self, currency: str) -> Iterator[Metric]:
        with self._lock:
            reading, last_success, up, errors = self._reading, self._last_success, self._up, dict(self._errors)
        p = [self.api]
        yield _gauge(
            "costwarden_billing_up", "1 if the last poll of the provider's API succeeded.", p, 1.0 if up else 0.0
        )
        yield _gauge("costwarden_billing_last_success_timestamp_seconds",
                     "When the provider's API last answered (0 until it first does).", p, last_success)  # fmt: skip
        failures = CounterMetricFamily("costwarden_billing_errors", "Failed polls of the provider's API, by reason.",
                                       labels=["provider", "reason"])  # fmt: skip
        for reason, count in sorted(errors.items()):
            failures.add_metric([self.api, reason], count)
        yield failures
        if reading is None:
            return
        values = (
            ("costwarden_billing_month_to_date", f"Charges this month so far, as the provider bills them, in "
             f"{currency}.", reading.month_to_date),
            ("costwarden_billing_account_balance", f"The account's balance at the provider (negative: credit), in "
             f"{currency}.", reading.balance),
            ("costwarden_billing_last_invoice", f"The provider's most recent invoice, in {currency}.",
             reading.last_invoice),
            ("costwarden_billing_transfer_used_bytes", "Transfer counted by the provider this month, in bytes.",
             reading.transfer_used_bytes),
            ("costwarden_billing_transfer_quota_bytes", "Transfer included this month, per the provider, in bytes.",
             reading.transfer_quota_bytes),
            ("costwarden_billing_generated_timestamp_seconds", "When the provider computed its figures.",
             reading.generated_at),
            ("costwarden_billing_plan_price_per_hour", f"This server type's hourly price per the provider's API, in "
             f"{currency}.", reading.plan_price_hourly),
            ("costwarden_billing_plan_price_per_month", f"This server type's monthly price per the provider's API, in "
             f"{currency}.", reading.plan_price_monthly),
        )  # fmt: skip
        for name, text, value in values:
            if value is not None:
                yield _gauge(name, text, p, value)
        if reading.by_service:
            family = GaugeMetricFamily("costwarden_billing_service_month_to_date",
                                       f"Charges this month so far by service, in {currency}.",
                                       labels=["provider", "service"])  # fmt: skip
            for service, amount in sorted(reading.by_service.items()):
                family.add_metric([self.api, service], amount)
            yield family


def _gauge(name: str, text: str, labels: list[str], value: float) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, text, labels=["provider"])
    family.add_metric(labels, value)
    return family


def build(table: PricingTable, env: Mapping[str, str] | None = None) -> Poller | None:
    """The poller `provider_api` asks for, or None; a missing token or library is a start-up error."""
    cfg = table.provider_api
    if not cfg.enabled:
        return None
    env = os.environ if env is None else env
    api = table.api
    interval = cfg.interval_seconds or DEFAULT_INTERVAL.get(api, 900.0)
    if api in SIGNED:
        return Poller(api, _signed(api, table, env), interval)
    if api == "aws":
        try:
            ce = aws.client(cfg)
        except RuntimeError as exc:
            raise ConfigError.at("", "provider_api.api", explain("boto3")) from exc
        return Poller(api, lambda: aws.read(ce, datetime.now(UTC)), interval)
    try:
        token = (env_or_file(TOKEN_ENV, env) or "").strip()
    except SecretFileError as exc:
        raise ConfigError(str(exc)) from exc
    if not token:
        raise ConfigError.at("", "provider_api.enabled", explain("token", api=api, variable=TOKEN_ENV))
    client = client_for(api, cfg, token)
    reader = READERS[api]
    return Poller(api, lambda: reader(client, cfg), interval)


def _signed(api: str, table: PricingTable, env: Mapping[str, str]) -> Callable[[], Reading]:
    """Tencent and Alibaba sign with a key pair, read from the variables their own tools use (or files named by
    their _FILE), never from pricing.yml."""
    module = SIGNED[api]
    try:
        pair = [(env_or_file(name, env) or "").strip() for name in module.KEY_ENV]
    except SecretFileError as exc:
        raise ConfigError(str(exc)) from exc
    if not all(pair):
        raise ConfigError.at(
            "",
            "provider_api.enabled",
            explain("key_pair", api=api, kind=explain(f"key_{api}"), names=explain("and").join(module.KEY_ENV)),
        )
    client = module.Api(pair[0], pair[1], table.provider_api)
    return lambda: module.read(client, table.provider_api, table.region, datetime.now(UTC))
