"""Alibaba Cloud OpenAPI, RPC style (docs/billing.md#alibaba-cloud): the account's balance and this month's bill (BSS
2017-12-14 `QueryAccountBalance`, `QueryBillOverview`), a Simple Application Server's traffic package (SWAS
2020-06-01 `ListInstancesTrafficPackages`) and, for `costwarden init`, its plan at list price (`ListInstances`,
`ListPlans`; an ECS instance's with ECS 2014-05-26 `DescribeInstances`, `DescribeDisks` and `DescribeRenewalPrice` or
`DescribePrice`), each a GET signed with signature version 1.0 (HMAC-SHA1).

Amounts: the balance is a string in yuan (money available), bill items are numbers in the bill's currency, traffic is
in bytes. Errors come back as HTTP 4xx/5xx with a JSON `Code`, mapped onto the poller's reasons.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from datetime import UTC, datetime
from typing import Any

from exporter.billing import Plan, Reading
from exporter.billing.client import BEIJING, ApiError, KeyPairApi, fetch, json_object, number, offer, retry_after
from exporter.config import HOURS_PER_MONTH, ProviderApi

KEY_ENV = ("ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET")
"""The variables Alibaba Cloud's own CLI and SDKs read; a RAM user's AccessKey with read-only billing and SWAS."""
HOSTS = {"bss": "business.aliyuncs.com", "swas": "swas.{region}.aliyuncs.com", "ecs": "ecs.{region}.aliyuncs.com"}
VERSIONS = {"bss": "2017-12-14", "swas": "2020-06-01", "ecs": "2014-05-26"}
CODES = {
    "SignatureDoesNotMatch": "unauthorized",
    "IncompleteSignature": "unauthorized",
    "InvalidAccessKeyId.NotFound": "unauthorized",
    "InvalidAccessKeyId.Inactive": "unauthorized",
    "SignatureNonceUsed": "unauthorized",
    "IllegalTimestamp": "unauthorized",
    "NotAuthorized": "forbidden",
    "Forbidden.RAM": "forbidden",
    "Forbidden": "forbidden",
    "Throttling": "rate_limited",
    "Throttling.User": "rate_limited",
    "Throttling.Api": "rate_limited",
    "InternalError": "server_error",
    "ServiceUnavailable": "server_error",
}


def encode(text: str) -> str:
    """Percent-encoding as the signature wants it: RFC 3986 unreserved characters kept, the rest %XX (space %20)."""
    return urllib.parse.quote(text, safe="-_.~")


def signed_query(key_id: str, secret: str, params: dict[str, str], now: float, nonce: str) -> str:
    """The query string of a signed GET: the common parameters added, sorted, encoded, and the Signature last."""
    full = {
        **params,
        "Format": "JSON",
        "AccessKeyId": key_id,
        "SignatureMethod": "HMAC-SHA1",
        "SignatureVersion": "1.0",
        "SignatureNonce": nonce,
        "Timestamp": datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    canonical = "&".join(f"{encode(k)}={encode(v)}" for k, v in sorted(full.items()))
    to_sign = f"GET&{encode('/')}&{encode(canonical)}"
    digest = hmac.new(f"{secret}&".encode(), to_sign.encode(), hashlib.sha1).digest()
    return f"{canonical}&Signature={encode(base64.b64encode(digest).decode())}"


class Api(KeyPairApi):
    def call(self, product: str, action: str, params: dict[str, str], region: str = "") -> dict[str, Any]:
        url = self._url or f"https://{HOSTS[product].format(region=region)}"
        query = signed_query(self._id, self._secret, {"Action": action, "Version": VERSIONS[product], **params},
                             self._clock(), uuid.uuid4().hex)  # fmt: skip
        shown = f"alibaba {product} {action}"
        request = urllib.request.Request(f"{url}/?{query}", headers={"Accept": "application/json"})  # noqa: S310
        document = json_object(fetch(request, self._timeout, shown, _refused), shown)
        if document.get("Success") is False:  # BSS says so in a 200 as well
            raise _coded(str(document.get("Code", "")), str(document.get("Message", "")), shown, None)
        return document


def _refused(exc: urllib.error.HTTPError, shown: str) -> ApiError:
    try:
        document = json.loads(exc.read()[:2000])
    except (OSError, ValueError):
        document = {}
    if not isinstance(document, dict):
        document = {}
    code = str(document.get("Code", "")) or f"HTTP {exc.code}"
    reason = CODES.get(code) or ("server_error" if exc.code >= 500 else "client_error")
    return _coded(code, str(document.get("Message", "")), shown, retry_after(exc.headers, time.time()), reason)


def _coded(code: str, message: str, shown: str, after: float | None, reason: str | None = None) -> ApiError:
    reason = reason or CODES.get(code) or "client_error"
    hint = " (check ALIBABA_CLOUD_ACCESS_KEY_ID/SECRET and the RAM user's read access)" if reason in (
        "unauthorized", "forbidden") else ""  # fmt: skip
    return ApiError(reason, f"{shown}: {code}: {message[:200]}{hint}", after)


def read(api: Api, cfg: ProviderApi, region: str, now: datetime) -> Reading:
    """Balance, this month's bill overview and, with `provider_api.server` naming a Simple Application Server
    instance, its traffic package."""
    balance = api.call("bss", "QueryAccountBalance", {})
    overview = api.call("bss", "QueryBillOverview", {"BillingCycle": now.astimezone(BEIJING).strftime("%Y-%m")})
    items = ((overview.get("Data") or {}).get("Items") or {}).get("Item") or []
    by_service: dict[str, float] = {}
    for item in items:
        if isinstance(item, dict):
            name = str(item.get("ProductName") or item.get("ProductCode") or "other")
            by_service[name] = by_service.get(name, 0.0) + number(item, "PretaxAmount")
    used = quota = None
    if cfg.server and packaged(cfg.server):  # a CVM / ECS id written by an earlier init has no package to read
        used, quota = _traffic(api, cfg.server, region)
    # AvailableAmount is money available (yuan); the Reading's balance is what the account owes.
    available = str((balance.get("Data") or {}).get("AvailableAmount", "")).replace(",", "")  # "1,234.56" is seen
    return Reading(month_to_date=sum(by_service.values()), balance=-number({"a": available}, "a"),
                   transfer_used_bytes=used, transfer_quota_bytes=quota, by_service=by_service)  # fmt: skip


def _traffic(api: Api, instance: str, region: str) -> tuple[float, float]:
    if not region:
        raise ApiError("client_error", "alibaba: a Simple Application Server's traffic needs its region: set region "
                                       "in pricing.yml (e.g. cn-hangzhou)")  # fmt: skip
    answer = api.call("swas", "ListInstancesTrafficPackages",
                      {"RegionId": region, "InstanceIds": json.dumps([instance])}, region)  # fmt: skip
    for usage in answer.get("InstanceTrafficPackageUsages") or []:
        if isinstance(usage, dict) and usage.get("InstanceId") == instance:
            return number(usage, "TrafficUsed"), number(usage, "TrafficPackageTotal")
    raise ApiError("not_found", f"alibaba: no Simple Application Server {instance!r} in {region}; set "
                                "provider_api.server to the instance id")  # fmt: skip


def packaged(instance: str) -> bool:
    """Whether the instance has a traffic package the poll reads (`provider_api.server`): a Simple Application Server
    (its id is 32 hex digits) does; an ECS instance (`i-…`, or `AY` and digits from the classic network's days; never
    hex) does not."""
    return not (instance.startswith("i-") or re.match(r"AY\d", instance))


def plan(api: Api, instance: str, region: str) -> Plan:
    """The plan a Simple Application Server runs on, at the price Alibaba lists it today: `ListInstances` names the
    instance's PlanId, `ListPlans` its monthly list price (`OriginPrice`, in the account's currency: CNY on aliyun.com,
    USD on alibabacloud.com) and monthly traffic (`Flow`, GB). Both allow 10 calls a minute: init makes one each.
    An ECS instance (not packaged()) is priced by `_ecs`."""
    if not packaged(instance):
        return _ecs(api, instance, region)
    found = api.call("swas", "ListInstances", {"RegionId": region, "InstanceIds": json.dumps([instance])}, region)
    ours = [i for i in found.get("Instances") or [] if isinstance(i, dict) and i.get("InstanceId") == instance]
    if not ours:
        raise ApiError("not_found", f"alibaba: no Simple Application Server {instance!r} in {region}")
    plan_id = str(ours[0].get("PlanId") or "")
    listed = api.call("swas", "ListPlans", {"RegionId": region}, region)
    sold = [p for p in listed.get("Plans") or [] if isinstance(p, dict) and p.get("PlanId") == plan_id]
    if not plan_id or not sold:
        raise ApiError("not_found", f"alibaba: the plan {plan_id!r} of {instance} is not sold in {region} any more")
    p = sold[0]
    flow = number(p, "Flow") if p.get("Flow") else None  # none (or 0): a plan billed by its bandwidth alone
    return offer(plan_id, number(p, "OriginPrice"), str(p.get("Currency") or "CNY"), number(p, "Core"),
                 number(p, "Memory"), number(p, "DiskSize"), flow, "alibaba swas ListPlans")  # fmt: skip


def _ecs(api: Api, instance: str, region: str) -> Plan:
    """An ECS instance at list price (`OriginalPrice`, before discounts, in `Currency`): a subscription (PrePaid) is
    what renewing it for one month costs (`DescribeRenewalPrice` prices the instance as it is); pay-as-you-go is its
    type, image, system disk and bandwidth priced for an hour (`DescribePrice`) times HOURS_PER_MONTH (the table's
    own month). The size is the instance's (`Memory` in MiB) and its system disk's (`DescribeDisks`). Traffic: a fixed
    bandwidth (`PayByBandwidth`) is in the price, so unlimited; pay by traffic is billed per GB outside it, so none
    included."""
    found = api.call("ecs", "DescribeInstances", {"RegionId": region, "InstanceIds": json.dumps([instance])}, region)
    ours = [i for i in _listed(found, "Instances", "Instance") if i.get("InstanceId") == instance]
    if not ours:  # a RAM user without ecs:DescribeInstances gets an empty list, not an error
        raise ApiError("not_found", f"alibaba: no ECS instance {instance!r} in {region} (or the RAM user may not read "
                                    "ECS: AliyunECSReadOnlyAccess)")  # fmt: skip
    ecs = ours[0]
    if ecs.get("SpotStrategy") not in (None, "", "NoSpot"):
        spot = f"alibaba: ECS {instance} is a spot instance ({ecs['SpotStrategy']})"
        raise ApiError(
            "client_error", f"{spot}: its price changes by the hour, a list price would be the on-demand one"
        )
    disks = _listed(api.call("ecs", "DescribeDisks", {"RegionId": region, "InstanceId": instance,
                                                      "DiskType": "system"}, region), "Disks", "Disk")  # fmt: skip
    if not disks:
        raise ApiError("not_found", f"alibaba: ECS {instance} has no system disk in DescribeDisks")
    disk = disks[0]
    bandwidth = ecs.get("InternetChargeType") == "PayByBandwidth"
    if ecs.get("InstanceChargeType") == "PrePaid":
        price = api.call("ecs", "DescribeRenewalPrice", {"RegionId": region, "ResourceId": instance,
                                                         "PriceUnit": "Month", "Period": "1"}, region)  # fmt: skip
        hours = 1.0
    else:
        params = {"RegionId": region, "ResourceType": "instance", "PriceUnit": "Hour", "Period": "1",
                  "InstanceType": str(ecs.get("InstanceType")), "ImageId": str(ecs.get("ImageId")),
                  "ZoneId": str(ecs.get("ZoneId")), "InstanceNetworkType": str(ecs.get("InstanceNetworkType") or "vpc"),
                  "IoOptimized": "none" if ecs.get("IoOptimized") is False else "optimized",  # a boolean here
                  "InternetChargeType": "PayByBandwidth" if bandwidth else "PayByTraffic",
                  "InternetMaxBandwidthOut": f"{number(ecs, 'InternetMaxBandwidthOut'):.0f}",
                  "SystemDisk.Category": str(disk.get("Category")),
                  "SystemDisk.Size": f"{number(disk, 'Size'):.0f}"}  # fmt: skip
        if disk.get("Category") == "cloud_essd" and disk.get("PerformanceLevel"):  # ESSD only: PL0 … PL3
            params["SystemDisk.PerformanceLevel"] = str(disk["PerformanceLevel"])
        price = api.call("ecs", "DescribePrice", params, region)
        hours = HOURS_PER_MONTH
    monthly = number(price, "PriceInfo", "Price", "OriginalPrice") * hours
    currency = str(price["PriceInfo"]["Price"].get("Currency") or "CNY")  # a dict: number() went through it
    return offer(str(ecs.get("InstanceType") or instance), monthly, currency, number(ecs, "Cpu"),
                 number(ecs, "Memory") / 1024, number(disk, "Size"), None if bandwidth else 0.0,
                 "alibaba ecs")  # fmt: skip


def _listed(answer: dict[str, Any], wrapper: str, key: str) -> list[dict[str, Any]]:
    """ECS's lists: `{"Instances": {"Instance": [...]}}`, the entries that are objects."""
    inner = answer.get(wrapper)
    items = inner.get(key) if isinstance(inner, dict) else None
    return [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []
