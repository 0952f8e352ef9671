"""Tencent Cloud API 3.0 (docs/billing.md#tencent-cloud): the account's balance and this month's bill
(billing 2018-07-09 `DescribeAccountBalance`, `DescribeBillSummaryByProduct`) and a Lighthouse instance's traffic
package (lighthouse 2020-03-24 `DescribeInstancesTrafficPackages`) and, for `costwarden init`, an instance's plan at
list price (Lighthouse `DescribeInstances` + `DescribeBundles`, CVM 2017-03-12 `DescribeInstances` +
`InquiryPriceRenewInstances`), each a signed POST (TC3-HMAC-SHA256).

Units differ by API and are converted here: the balance is in fen (1/100 CNY), bill amounts are strings in yuan,
traffic is in bytes. Errors come back as HTTP 200 with `Response.Error`; their codes map onto the poller's reasons.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime
from typing import Any

from exporter.billing import Plan, Reading
from exporter.billing.client import BEIJING, ApiError, KeyPairApi, fetch, number, offer
from exporter.config import ProviderApi

KEY_ENV = ("TENCENTCLOUD_SECRET_ID", "TENCENTCLOUD_SECRET_KEY")
"""The variables Tencent's own CLI and SDKs read; a sub-account key with read-only billing and Lighthouse access."""
BASE_URL = "https://{service}.tencentcloudapi.com"
VERSIONS = {"billing": "2018-07-09", "lighthouse": "2020-03-24", "cvm": "2017-03-12"}
CODES = {
    "AuthFailure.SignatureFailure": "unauthorized",
    "AuthFailure.SignatureExpire": "unauthorized",
    "AuthFailure.SecretIdNotFound": "unauthorized",
    "AuthFailure.InvalidSecretId": "unauthorized",
    "AuthFailure.InvalidAuthorization": "unauthorized",
    "AuthFailure.TokenFailure": "unauthorized",
    "AuthFailure.UnauthorizedOperation": "forbidden",
    "UnauthorizedOperation": "forbidden",
    "RequestLimitExceeded": "rate_limited",
    "InternalError": "server_error",
    "ResourceNotFound": "not_found",
}


def signed_headers(secret_id: str, secret_key: str, service: str, host: str, action: str, body: bytes,
                   timestamp: int, region: str = "") -> dict[str, str]:  # fmt: skip
    """The headers of a TC3-HMAC-SHA256 request (the date is the timestamp's UTC day; `content-type` and `host` are
    signed, `host` as the address the request goes to)."""
    date = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")
    content_type = "application/json; charset=utf-8"
    canonical = (f"POST\n/\n\ncontent-type:{content_type}\nhost:{host}\n\ncontent-type;host\n"
                 f"{hashlib.sha256(body).hexdigest()}")  # fmt: skip
    scope = f"{date}/{service}/tc3_request"
    to_sign = f"TC3-HMAC-SHA256\n{timestamp}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    key = hmac.new(f"TC3{secret_key}".encode(), date.encode(), hashlib.sha256).digest()
    for part in (service, "tc3_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    headers = {
        "Authorization": f"TC3-HMAC-SHA256 Credential={secret_id}/{scope}, SignedHeaders=content-type;host, "
        f"Signature={signature}",
        "Content-Type": content_type,
        "Host": host,
        "X-TC-Action": action,
        "X-TC-Version": VERSIONS[service],
        "X-TC-Timestamp": str(timestamp),
    }
    if region:
        headers["X-TC-Region"] = region
    return headers


class Api(KeyPairApi):
    def call(self, service: str, action: str, params: dict[str, Any], region: str = "") -> dict[str, Any]:
        """The `Response` object of a successful call; ApiError with the mapped reason otherwise."""
        url = self._url or BASE_URL.format(service=service)
        body = json.dumps(params, separators=(",", ":")).encode()
        headers = signed_headers(self._id, self._secret, service, urllib.parse.urlsplit(url).netloc, action, body,
                                 int(self._clock()), region)  # fmt: skip
        request = urllib.request.Request(url + "/", data=body, headers=headers, method="POST")  # noqa: S310
        shown = f"tencent {service} {action}"
        raw = fetch(request, self._timeout, shown)
        try:
            response = json.loads(raw)["Response"]
        except (ValueError, KeyError, TypeError) as exc:
            raise ApiError("bad_response", f"{shown}: not an API 3.0 answer") from exc
        if not isinstance(response, dict):
            raise ApiError("bad_response", f"{shown}: not an API 3.0 answer")
        error = response.get("Error")
        if isinstance(error, dict):
            code = str(error.get("Code", ""))
            reason = CODES.get(code) or ("unauthorized" if code.startswith("AuthFailure") else "client_error")
            hint = " (check TENCENTCLOUD_SECRET_ID/KEY and the sub-account's read access)" if reason in (
                "unauthorized", "forbidden") else ""  # fmt: skip
            raise ApiError(reason, f"{shown}: {code}: {str(error.get('Message', ''))[:200]}{hint}")
        return response


def read(api: Api, cfg: ProviderApi, region: str, now: datetime) -> Reading:
    """Balance, this month's bill by product (when Tencent has it ready) and, with `provider_api.server` naming a
    Lighthouse instance, its traffic package."""
    balance = api.call("billing", "DescribeAccountBalance", {})
    month = now.astimezone(BEIJING).strftime("%Y-%m")
    summary = api.call("billing", "DescribeBillSummaryByProduct",
                       {"BeginTime": f"{month}-01 00:00:00", "EndTime": f"{month}-01 23:59:59"})  # fmt: skip
    month_to_date = None
    by_service: dict[str, float] = {}
    if summary.get("Ready") == 1:  # 0 on an account's first call: ready about 10 minutes later
        month_to_date = number(summary, "SummaryTotal", "RealTotalCost")
        for item in summary.get("SummaryOverview") or []:
            if isinstance(item, dict) and item.get("RealTotalCost") not in (None, "-"):
                name = str(item.get("BusinessCodeName") or item.get("BusinessCode") or "other")
                by_service[name] = by_service.get(name, 0.0) + number(item, "RealTotalCost")
    used = quota = None
    if cfg.server and packaged(cfg.server):  # a CVM / ECS id written by an earlier init has no package to read
        used, quota = _traffic(api, cfg.server, region)
    # RealBalance is money available (fen); the Reading's balance is what the account owes.
    return Reading(month_to_date=month_to_date, balance=-number(balance, "RealBalance") / 100.0,
                   transfer_used_bytes=used, transfer_quota_bytes=quota, by_service=by_service)  # fmt: skip


def _traffic(api: Api, instance: str, region: str) -> tuple[float, float]:
    if not region:
        raise ApiError("client_error", "tencent: Lighthouse needs the instance's region: set region in pricing.yml "
                                       "(e.g. ap-guangzhou)")  # fmt: skip
    answer = api.call("lighthouse", "DescribeInstancesTrafficPackages", {"InstanceIds": [instance]}, region)
    for entry in answer.get("InstanceTrafficPackageSet") or []:
        if isinstance(entry, dict) and entry.get("InstanceId") == instance:
            packages = [p for p in entry.get("TrafficPackageSet") or [] if isinstance(p, dict)]
            return (sum(number(p, "TrafficUsed") for p in packages),
                    sum(number(p, "TrafficPackageTotal") for p in packages))  # fmt: skip
    raise ApiError("not_found", f"tencent: no Lighthouse instance {instance!r} in {region}; set provider_api.server "
                                "to the instance id (lhins-…)")  # fmt: skip


TRAFFIC_PER_GB = {
    **dict.fromkeys(["ap-guangzhou", "ap-shanghai", "ap-nanjing", "ap-beijing", "ap-chengdu", "ap-chongqing",
                     "ap-shanghai-fsi", "ap-shenzhen-fsi", "ap-beijing-fsi", "ap-singapore", "ap-seoul", "ap-tokyo",
                     "eu-frankfurt", "eu-moscow"], 0.80),
    "ap-hongkong": 1.00,
    **dict.fromkeys(["na-toronto", "na-siliconvalley", "na-ashburn", "ap-bangkok", "ap-mumbai"], 0.50),
}  # fmt: skip
"""A CVM's public traffic billed by the GB (按流量计费), CNY per GB by region, as Tencent's pricing centre lists it
(定价中心, 网络带宽; its source: github.com/tencentyun/qcloud-documents,
product/管理与支持/定价中心/网络/网络带宽.md at commit 0464683,
read 2026-11-30): mainland China, Singapore, Seoul, Frankfurt, Moscow, Tokyo 0.80; Hong Kong 1.00; Toronto, Silicon
Valley, Virginia, Bangkok, Mumbai 0.50. No API states it; for a region not listed, init says to set it."""


def packaged(instance: str) -> bool:
    """Whether the instance has a traffic package the poll reads (`provider_api.server`): a Lighthouse instance does,
    a CVM (`ins-…`) does not."""
    return instance.startswith("lhins-")


def plan(api: Api, instance: str, region: str) -> Plan:
    """An instance's plan at today's list price (before discounts): a Lighthouse bundle's monthly price and traffic
    (`OriginalBundlePrice`, `MonthlyTraffic`), or what renewing a monthly (PREPAID) CVM for one month costs
    (`OriginalPrice`, yuan: the API has no currency field, and tencentcloudapi.com is the China site's), its monthly
    bandwidth's added (`BandwidthPrice`). A CVM paying for traffic by the GB includes none, at its region's published
    price (TRAFFIC_PER_GB); one paying for bandwidth has its traffic unmetered (bandwidth by the hour or from a
    package: not in this price)."""
    if not region:
        raise ApiError("client_error", "tencent: the instance's price needs its region (e.g. ap-guangzhou)")
    if packaged(instance):
        return _bundle(api, instance, region)
    found = api.call("cvm", "DescribeInstances", {"InstanceIds": [instance]}, region)
    cvm = _one(found, instance, region)
    if cvm.get("InstanceChargeType") != "PREPAID":
        raise ApiError("client_error", f"tencent: {instance} is billed {cvm.get('InstanceChargeType')}; only a monthly "
                                       "(PREPAID) instance's price is read")  # fmt: skip
    renewal = api.call("cvm", "InquiryPriceRenewInstances",
                       {"InstanceIds": [instance], "InstanceChargePrepaid": {"Period": 1}}, region)  # fmt: skip
    internet = cvm.get("InternetAccessible")
    charge = internet.get("InternetChargeType") if isinstance(internet, dict) else None
    monthly = number(renewal, "Price", "InstancePrice", "OriginalPrice")
    if charge == "BANDWIDTH_PREPAID":  # a monthly bandwidth is renewed with the instance, priced apart
        monthly += number(renewal, "Price", "BandwidthPrice", "OriginalPrice")
    by_gb = charge == "TRAFFIC_POSTPAID_BY_HOUR"
    return offer(str(cvm.get("InstanceType") or instance), monthly, "CNY", number(cvm, "CPU"), number(cvm, "Memory"),
                 number(cvm, "SystemDisk", "DiskSize"), 0.0 if by_gb else None, "tencent cvm",
                 TRAFFIC_PER_GB.get(region) if by_gb else None)  # fmt: skip


def _bundle(api: Api, instance: str, region: str) -> Plan:
    bundle_id = str(_one(api.call("lighthouse", "DescribeInstances", {"InstanceIds": [instance]}, region), instance,
                         region).get("BundleId") or "")  # fmt: skip
    listed = api.call("lighthouse", "DescribeBundles", {"BundleIds": [bundle_id]}, region)
    bundles = [b for b in listed.get("BundleSet") or [] if isinstance(b, dict) and b.get("BundleId") == bundle_id]
    if not bundles:
        raise ApiError("not_found", f"tencent: the bundle {bundle_id!r} of {instance} is not listed any more")
    b = bundles[0]
    price = b.get("Price")
    inner = price.get("InstancePrice") if isinstance(price, dict) else None
    currency = inner.get("Currency") if isinstance(inner, dict) else None
    traffic = None if b.get("TrafficUnlimited") is True else number(b, "MonthlyTraffic")
    return offer(bundle_id, number(b, "Price", "InstancePrice", "OriginalBundlePrice"), str(currency or "CNY"),
                 number(b, "CPU"), number(b, "Memory"), number(b, "SystemDiskSize"), traffic,
                 "tencent lighthouse DescribeBundles")  # fmt: skip


def _one(answer: dict[str, Any], instance: str, region: str) -> dict[str, Any]:
    for entry in answer.get("InstanceSet") or []:
        if isinstance(entry, dict) and entry.get("InstanceId") == instance:
            return entry
    raise ApiError("not_found", f"tencent: no instance {instance!r} in {region}")
