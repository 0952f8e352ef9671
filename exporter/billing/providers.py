"""One function per provider API: the documented endpoints it reads and the fields it takes (docs/billing.md).

Pure apart from the client's GETs, so each is tested against a local server answering the documented shapes,
pagination included.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from exporter.billing import Reading
from exporter.billing.client import ApiError, Client, number
from exporter.config import ProviderApi

GB = 1e9
"""Linode and Vultr count transfer in decimal GB, Hetzner in bytes."""

BASE_URLS = {
    "digitalocean": "https://api.digitalocean.com",
    "linode": "https://api.linode.com",
    "vultr": "https://api.vultr.com",
    "hetzner": "https://api.hetzner.cloud",
}
PAGE_LIMIT = 50
"""Never follow more pages than this: a looping `next` link must not keep a poll busy for ever."""


def _timestamp(text: object) -> float | None:
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def digitalocean(client: Client, cfg: ProviderApi) -> Reading:
    """`GET /v2/customers/my/balance` (month_to_date_usage, account_balance, generated_at) and the newest invoice
    of `GET /v2/customers/my/billing_history` (paged by `links.pages.next`)."""
    balance = client.get("/v2/customers/my/balance")
    invoices = [
        item for page in _do_pages(client, "/v2/customers/my/billing_history")
        for item in page.get("billing_history", []) if isinstance(item, dict) and item.get("type") == "Invoice"
    ]  # fmt: skip
    newest = max(invoices, key=lambda i: str(i.get("date", "")), default=None)
    return Reading(
        month_to_date=number(balance, "month_to_date_usage"),
        balance=number(balance, "account_balance"),
        last_invoice=None if newest is None else number(newest, "amount"),
        generated_at=_timestamp(balance.get("generated_at")),
    )


def _do_pages(client: Client, path: str) -> Iterator[dict[str, Any]]:
    page = client.get(path, {"per_page": 200})
    for _ in range(PAGE_LIMIT):
        yield page
        following = ((page.get("links") or {}).get("pages") or {}).get("next")
        if not following:
            return
        page = client.get(str(following))


def linode(client: Client, cfg: ProviderApi) -> Reading:
    """`GET /v4/account` (balance_uninvoiced: this month's charges so far; balance) and `GET /v4/account/transfer`
    (used and quota, in GB, pooled over the account)."""
    account = client.get("/v4/account")
    transfer = client.get("/v4/account/transfer")
    return Reading(
        month_to_date=number(account, "balance_uninvoiced"),
        balance=number(account, "balance"),
        transfer_used_bytes=number(transfer, "used") * GB,
        transfer_quota_bytes=number(transfer, "quota") * GB,
    )


def vultr(client: Client, cfg: ProviderApi) -> Reading:
    """`GET /v2/account` (pending_charges, balance) and `GET /v2/account/bandwidth` (current_month_to_date: gb_out
    against the instance, free and purchased bandwidth credits, in GB)."""
    account = client.get("/v2/account")
    bandwidth = client.get("/v2/account/bandwidth")
    period = ("bandwidth", "current_month_to_date")
    credits = sum(number(bandwidth, *period, k) for k in
                  ("instance_bandwidth_credits", "free_bandwidth_credits", "purchased_bandwidth_credits"))  # fmt: skip
    return Reading(
        month_to_date=number(account, "account", "pending_charges"),
        balance=number(account, "account", "balance"),
        transfer_used_bytes=number(bandwidth, *period, "gb_out") * GB,
        transfer_quota_bytes=credits * GB,
    )


def hetzner(client: Client, cfg: ProviderApi) -> Reading:
    """No billing API: this server's `outgoing_traffic` / `included_traffic` from `GET /v1/servers` (paged by
    `meta.pagination.next_page`), and its type's prices in its location (net, as the preset) from
    `GET /v1/server_types`."""
    wanted = cfg.server or socket.gethostname()
    servers = [s for page in _hetzner_pages(client, "/v1/servers") for s in page.get("servers", [])]
    server = next((s for s in servers if isinstance(s, dict) and wanted in (s.get("name"), str(s.get("id")))), None)
    if server is None:
        names = ", ".join(str(s.get("name")) for s in servers[:10] if isinstance(s, dict))
        raise ApiError("not_found", f"hetzner: no server named {wanted!r} in this project (servers: {names or 'none'});"
                                    " set provider_api.server")  # fmt: skip
    type_name = str((server.get("server_type") or {}).get("name", ""))
    location = str(((server.get("datacenter") or {}).get("location") or {}).get("name", ""))
    types = client.get("/v1/server_types", {"name": type_name}).get("server_types", [])
    prices = next((p for t in types if isinstance(t, dict) for p in t.get("prices", [])
                   if isinstance(p, dict) and p.get("location") == location), None)  # fmt: skip
    return Reading(
        transfer_used_bytes=number(server, "outgoing_traffic") if server.get("outgoing_traffic") is not None else 0.0,
        transfer_quota_bytes=number(server, "included_traffic"),
        plan_price_hourly=None if prices is None else number(prices, "price_hourly", "net"),
        plan_price_monthly=None if prices is None else number(prices, "price_monthly", "net"),
    )


def _hetzner_pages(client: Client, path: str) -> Iterator[dict[str, Any]]:
    number_ = 1
    for _ in range(PAGE_LIMIT):
        page = client.get(path, {"page": number_, "per_page": 50})
        yield page
        following = ((page.get("meta") or {}).get("pagination") or {}).get("next_page")
        if not following:
            return
        number_ = int(following)


READERS: dict[str, Callable[[Client, ProviderApi], Reading]] = {
    "digitalocean": digitalocean,
    "linode": linode,
    "vultr": vultr,
    "hetzner": hetzner,
}


def client_for(api: str, cfg: ProviderApi, token: str) -> Client:
    return Client(cfg.url or BASE_URLS[api], {"Authorization": f"Bearer {token}"}, cfg.timeout_seconds, api)
