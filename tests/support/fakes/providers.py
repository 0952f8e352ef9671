"""Local servers answering as the providers' billing APIs do, in their documented shapes, with their failures.

- DigitalOcean `GET /v2/customers/my/balance`, `GET /v2/customers/my/billing_history` (paged: `links.pages.next` is
  an absolute URL; `meta.total`); errors `{"id": ..., "message": ...}`; 429 with `ratelimit-reset` (epoch seconds).
- Linode `GET /v4/account`, `GET /v4/account/transfer` (GB); errors `{"errors": [{"reason": ...}]}`; 429 Retry-After.
- Vultr `GET /v2/account`, `GET /v2/account/bandwidth` (GB); errors `{"error": ..., "status": ...}`.
- Hetzner Cloud `GET /v1/servers` (paged: `meta.pagination.next_page`), `GET /v1/server_types?name=`; errors
  `{"error": {"code": ..., "message": ...}}`; 429 with `RateLimit-Reset` (epoch seconds).
- AWS Cost Explorer `POST /` with `X-Amz-Target: AWSInsightsIndexService.GetCostAndUsage` (JSON 1.1), paged by
  `NextPageToken`; errors `{"__type": ..., "message": ...}` with status 400.

- Tencent Cloud API 3.0 (FakeTencent, its own server): billing `DescribeAccountBalance`,
  `DescribeBillSummaryByProduct`, lighthouse `DescribeInstancesTrafficPackages`, TC3-HMAC-SHA256 verified.
- Alibaba Cloud RPC (FakeAlibaba, its own server): BSS `QueryAccountBalance`, `QueryBillOverview`, SWAS
  `ListInstancesTrafficPackages`, `ListInstances`, `ListPlans`, ECS `DescribeInstances`, `DescribeDisks`,
  `DescribeRenewalPrice`, `DescribePrice`, signature version 1.0 verified.

Every request needs the right token (`Authorization: Bearer <token>`; AWS: a SigV4 signature by the expected access
key). `fail` is a list of failures to play before answering normally: "429", "500", "401", "slow" (3 s), "garbage".
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

TOKEN = "fake-provider-token-0123456789"
ACCESS_KEY = "AKIAFAKEFAKEFAKE0001"

DO_INVOICES = [  # newest last page, as DigitalOcean pages oldest first
    [{"description": "Invoice for August 2026", "amount": "5.12", "invoice_id": "1", "invoice_uuid": "u1",
      "date": "2026-09-01T08:44:38Z", "type": "Invoice"},
     {"description": "Payment (MC 2026)", "amount": "-5.12", "date": "2026-09-02T08:44:38Z", "type": "Payment"}],
    [{"description": "Invoice for September 2026", "amount": "6.00", "invoice_id": "2", "invoice_uuid": "u2",
      "date": "2026-10-01T08:44:38Z", "type": "Invoice"}],
    [{"description": "Invoice for October 2026", "amount": "7.31", "invoice_id": "3", "invoice_uuid": "u3",
      "date": "2026-11-01T08:44:38Z", "type": "Invoice"},
     {"description": "Credit", "amount": "-1.00", "date": "2026-11-03T08:44:38Z", "type": "Credit"}],
]  # fmt: skip
HETZNER_SERVERS = [
    [{"id": 11, "name": "other-box", "server_type": {"name": "cx32"}, "datacenter": {"location": {"name": "nbg1"}},
      "outgoing_traffic": 5 * 10**9, "ingoing_traffic": 10**9, "included_traffic": 21990232555520}],
    [{"id": 42, "name": "vps1", "server_type": {"name": "cx22"}, "datacenter": {"location": {"name": "fsn1"}},
      "outgoing_traffic": 123 * 10**9, "ingoing_traffic": 9 * 10**9, "included_traffic": 21990232555520}],
]  # fmt: skip
HETZNER_TYPES = {
    "cx22": [{"location": "fsn1", "price_hourly": {"net": "0.0060000000", "gross": "0.0071400000"},
              "price_monthly": {"net": "3.7900000000", "gross": "4.5101000000"}, "included_traffic": 21990232555520,
              "price_per_tb_traffic": {"net": "1.0000000000", "gross": "1.1900000000"}},
             {"location": "hel1", "price_hourly": {"net": "0.0059", "gross": "0.0070"},
              "price_monthly": {"net": "3.69", "gross": "4.39"}, "included_traffic": 21990232555520,
              "price_per_tb_traffic": {"net": "1.0", "gross": "1.19"}}],
}  # fmt: skip
AWS_PAGES = [
    [("Amazon Elastic Compute Cloud - Compute", "4.2100000000"), ("AmazonCloudWatch", "0.3000000000")],
    [("Amazon Simple Storage Service", "1.0500000000"), ("Amazon Elastic Compute Cloud - Compute", "0.0400000000")],
]


@dataclass
class FakeProviders:
    fail: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)

    async def _gate(self, request: web.Request, error: Any) -> web.StreamResponse | None:
        """Authentication, then the next scripted failure; None to answer normally."""
        self.requests.append(request.path_qs)
        self.headers.append(dict(request.headers))
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return web.json_response(error(401, "unauthorized", "Unable to authenticate you"), status=401)
        if not self.fail:
            return None
        mode = self.fail.pop(0)
        if mode == "slow":
            await asyncio.sleep(3)
            return None
        if mode == "garbage":
            return web.Response(text="<html>502 Bad Gateway</html>", content_type="text/html")
        if mode == "429":
            headers = {"Retry-After": "30", "RateLimit-Reset": str(int(time.time()) + 45)}
            return web.json_response(error(429, "too_many_requests", "API Rate limit exceeded."), status=429,
                                     headers=headers)  # fmt: skip
        return web.json_response(error(int(mode), "server_error", "Server Error"), status=int(mode))

    # --- DigitalOcean ---

    @staticmethod
    def _do_error(status: int, ident: str, message: str) -> dict[str, Any]:
        return {"id": ident, "message": message}

    async def do_balance(self, request: web.Request) -> web.StreamResponse:
        if (refused := await self._gate(request, self._do_error)) is not None:
            return refused
        return web.json_response({"month_to_date_balance": "23.44", "account_balance": "12.23",
                                  "month_to_date_usage": "11.21", "generated_at": "2026-11-28T07:01:12Z"})  # fmt: skip

    async def do_history(self, request: web.Request) -> web.StreamResponse:
        if (refused := await self._gate(request, self._do_error)) is not None:
            return refused
        page = int(request.query.get("page", "1"))
        body: dict[str, Any] = {"billing_history": DO_INVOICES[page - 1], "links": {"pages": {}},
                                "meta": {"total": sum(len(p) for p in DO_INVOICES)}}  # fmt: skip
        base = f"{request.scheme}://{request.host}{request.path}"
        if page < len(DO_INVOICES):
            body["links"]["pages"] = {"next": f"{base}?page={page + 1}&per_page=200",
                                      "last": f"{base}?page={len(DO_INVOICES)}&per_page=200"}  # fmt: skip
        return web.json_response(body)

    # --- Linode ---

    @staticmethod
    def _linode_error(status: int, ident: str, message: str) -> dict[str, Any]:
        return {"errors": [{"reason": message}]}

    async def linode_account(self, request: web.Request) -> web.StreamResponse:
        if (refused := await self._gate(request, self._linode_error)) is not None:
            return refused
        return web.json_response({"active_since": "2024-05-01T00:00:00", "balance": 0, "balance_uninvoiced": 14.5,
                                  "company": "", "email": "owner@example.com", "euuid": "E1"})  # fmt: skip

    async def linode_transfer(self, request: web.Request) -> web.StreamResponse:
        if (refused := await self._gate(request, self._linode_error)) is not None:
            return refused
        return web.json_response({"billable": 0, "quota": 1000, "used": 412})

    # --- Vultr ---

    @staticmethod
    def _vultr_error(status: int, ident: str, message: str) -> dict[str, Any]:
        return {"error": message, "status": status}

    async def vultr_account(self, request: web.Request) -> web.StreamResponse:
        if (refused := await self._gate(request, self._vultr_error)) is not None:
            return refused
        return web.json_response({"account": {"name": "Owner", "email": "owner@example.com", "acls": [],
                                              "balance": -20.5, "pending_charges": 3.75,
                                              "last_payment_date": "2026-11-01T00:00:00+00:00",
                                              "last_payment_amount": -10}})  # fmt: skip

    async def vultr_bandwidth(self, request: web.Request) -> web.StreamResponse:
        if (refused := await self._gate(request, self._vultr_error)) is not None:
            return refused

        def period(out: int) -> dict[str, Any]:
            return {"timestamp_start": "1764547200", "timestamp_end": "1767225599", "gb_in": 3, "gb_out": out,
                    "total_instance_hours": 672, "total_instance_count": 1, "instance_bandwidth_credits": 2000,
                    "free_bandwidth_credits": 2048, "purchased_bandwidth_credits": 0, "overage": 0,
                    "overage_unit_cost": 0.01, "overage_cost": 0}  # fmt: skip

        return web.json_response({"bandwidth": {"previous_month": period(900), "current_month_to_date": period(310),
                                                "current_month_projected": period(420)}})  # fmt: skip

    # --- Hetzner Cloud ---

    @staticmethod
    def _hetzner_error(status: int, ident: str, message: str) -> dict[str, Any]:
        code = {401: "unauthorized", 429: "rate_limit_exceeded"}.get(status, "server_error")
        return {"error": {"code": code, "message": message, "details": {}}}

    async def hetzner_servers(self, request: web.Request) -> web.StreamResponse:
        if (refused := await self._gate(request, self._hetzner_error)) is not None:
            return refused
        page = int(request.query.get("page", "1"))
        last = len(HETZNER_SERVERS)
        following = page + 1 if page < last else None
        pagination = {"page": page, "per_page": 1, "previous_page": page - 1 or None, "next_page": following,
                      "last_page": last, "total_entries": last}  # fmt: skip
        return web.json_response({"servers": HETZNER_SERVERS[page - 1], "meta": {"pagination": pagination}})

    async def hetzner_types(self, request: web.Request) -> web.StreamResponse:
        if (refused := await self._gate(request, self._hetzner_error)) is not None:
            return refused
        name = request.query.get("name", "")
        types = [{"id": 1, "name": name, "prices": HETZNER_TYPES[name]}] if name in HETZNER_TYPES else []
        pagination = {"page": 1, "per_page": 25, "previous_page": None, "next_page": None, "last_page": 1,
                      "total_entries": len(types)}  # fmt: skip
        return web.json_response({"server_types": types, "meta": {"pagination": pagination}})

    # --- AWS Cost Explorer ---

    async def aws(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(request.headers.get("X-Amz-Target", ""))
        body = json.loads(await request.read())
        self.headers.append(dict(request.headers))

        def error(kind: str, message: str) -> web.Response:
            return web.json_response({"__type": kind, "message": message}, status=400,
                                     content_type="application/x-amz-json-1.1")  # fmt: skip

        auth = request.headers.get("Authorization", "")
        if not auth.startswith(f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/"):
            return error("UnrecognizedClientException", "The security token included in the request is invalid.")
        if request.headers.get("X-Amz-Target") != "AWSInsightsIndexService.GetCostAndUsage":
            return error("UnknownOperationException", "")
        if self.fail and self.fail.pop(0) == "429":
            return error("LimitExceededException", "You have exceeded the rate limit.")
        page = int(body.get("NextPageToken") or 0)
        groups = [{"Keys": [service], "Metrics": {"UnblendedCost": {"Amount": amount, "Unit": "USD"}}}
                  for service, amount in AWS_PAGES[page]]  # fmt: skip
        answer: dict[str, Any] = {
            "GroupDefinitions": [{"Type": "DIMENSION", "Key": "SERVICE"}],
            "ResultsByTime": [{"TimePeriod": body["TimePeriod"], "Total": {}, "Groups": groups, "Estimated": True}],
            "DimensionValueAttributes": [],
        }
        if page + 1 < len(AWS_PAGES):
            answer["NextPageToken"] = str(page + 1)
        return web.json_response(answer, content_type="application/x-amz-json-1.1")

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/v2/customers/my/balance", self.do_balance)
        app.router.add_get("/v2/customers/my/billing_history", self.do_history)
        app.router.add_get("/v4/account", self.linode_account)
        app.router.add_get("/v4/account/transfer", self.linode_transfer)
        app.router.add_get("/v2/account", self.vultr_account)
        app.router.add_get("/v2/account/bandwidth", self.vultr_bandwidth)
        app.router.add_get("/v1/servers", self.hetzner_servers)
        app.router.add_get("/v1/server_types", self.hetzner_types)
        app.router.add_post("/", self.aws)
        return app


TENCENT_ID = "AKIDfakefakefakefakefakefakefake0001"
TENCENT_KEY = "fakeTencentSecretKey0123456789abc"
LHINS = "lhins-0fakeabc"
LHINS_RAISED = "lhins-1raised"
CVM_PREPAID, CVM_HOURLY, CVM_BANDWIDTH = "ins-0prepaid", "ins-1hourly", "ins-2bandwidth"


def _bundle(bundle: str, price: float, traffic: int) -> dict[str, Any]:
    """A Lighthouse bundle as DescribeBundles answers it (the tccli example's shape; a 2c2g 50 GB bundle)."""
    return {"BundleId": bundle, "CPU": 2, "Memory": 2, "SystemDiskType": "CLOUD_SSD", "SystemDiskSize": 50,
            "InternetMaxBandwidthOut": 5, "InternetChargeType": "TRAFFIC_POSTPAID_BY_HOUR", "MonthlyTraffic": traffic,
            "Price": {"InstancePrice": {"Currency": "CNY", "OriginalBundlePrice": price, "OriginalPrice": price,
                                        "Discount": 66.229933, "DiscountPrice": round(price * 0.66229933, 2)}},
            "SupportLinuxUnixPlatform": True, "SupportWindowsPlatform": True, "BundleType": "GENERAL_BUNDLE",
            "BundleTypeDescription": "通用型", "BundleSalesState": "AVAILABLE",
            "BundleDisplayLabel": "NORMAL"}  # fmt: skip


TENCENT_BUNDLES = {
    LHINS: _bundle("bundle2022_gen_02", 60.0, 500),
    LHINS_RAISED: _bundle("bundle2025_gen_02", 75.0, 600),
}
CVM_INSTANCES = {
    CVM_PREPAID: {"InstanceId": CVM_PREPAID, "InstanceType": "SA2.MEDIUM2", "CPU": 2, "Memory": 2,
                  "InstanceChargeType": "PREPAID", "Placement": {"Zone": "ap-guangzhou-3", "ProjectId": 0},
                  "SystemDisk": {"DiskType": "CLOUD_PREMIUM", "DiskSize": 50, "DiskId": "disk-1"},
                  "ImageId": "img-pi0ii46r", "InstanceState": "RUNNING", "ExpiredTime": "2027-01-01T00:00:00Z",
                  "InternetAccessible": {"InternetChargeType": "TRAFFIC_POSTPAID_BY_HOUR",
                                         "InternetMaxBandwidthOut": 5, "PublicIpAssigned": True}},
    CVM_BANDWIDTH: {"InstanceId": CVM_BANDWIDTH, "InstanceType": "SA2.MEDIUM2", "CPU": 2, "Memory": 2,
                    "InstanceChargeType": "PREPAID", "Placement": {"Zone": "ap-guangzhou-3", "ProjectId": 0},
                    "SystemDisk": {"DiskType": "CLOUD_PREMIUM", "DiskSize": 50, "DiskId": "disk-3"},
                    "ImageId": "img-pi0ii46r", "InstanceState": "RUNNING", "ExpiredTime": "2027-01-01T00:00:00Z",
                    "InternetAccessible": {"InternetChargeType": "BANDWIDTH_PREPAID", "InternetMaxBandwidthOut": 3,
                                           "PublicIpAssigned": True}},
    CVM_HOURLY: {"InstanceId": CVM_HOURLY, "InstanceType": "S5.MEDIUM2", "CPU": 2, "Memory": 2,
                 "InstanceChargeType": "POSTPAID_BY_HOUR", "Placement": {"Zone": "ap-guangzhou-3", "ProjectId": 0},
                 "SystemDisk": {"DiskType": "CLOUD_PREMIUM", "DiskSize": 50, "DiskId": "disk-2"},
                 "ImageId": "img-pi0ii46r", "InstanceState": "RUNNING", "ExpiredTime": None},
}  # fmt: skip


@dataclass
class FakeTencent:
    """Tencent Cloud API 3.0 on one address: `POST /` with the action in `X-TC-Action`, every request checked as
    Tencent does — the TC3-HMAC-SHA256 signature recomputed from what arrived (the body bytes, the Content-Type and
    Host headers, the scope's date and service), the timestamp within 5 minutes, Lighthouse's region required — and
    every error as HTTP 200 with `Response.Error`. Amounts as the real APIs give them: the balance in fen, the bill in
    yuan strings, traffic in bytes (a "500 GB" package is 500 GiB). `ready` False answers the first bill summary of
    an account with `Ready: 0`. For init's price lookup: Lighthouse `DescribeInstances` / `DescribeBundles` and CVM
    `DescribeInstances` / `InquiryPriceRenewInstances` (told apart by `X-TC-Version`, as the real endpoint is; the
    renewal price as the strings the CVM example shows, a monthly bandwidth's in `BandwidthPrice`; a pay-by-the-hour
    instance refused). `fail`: "limit" (RequestLimitExceeded), "internal" (InternalError), "500"."""

    fail: list[str] = field(default_factory=list)
    actions: list[str] = field(default_factory=list)
    ready: bool = True
    bundles: dict[str, dict[str, Any]] = field(default_factory=lambda: {k: dict(v) for k, v in TENCENT_BUNDLES.items()})

    def _error(self, code: str, message: str) -> web.Response:
        return web.json_response({"Response": {"Error": {"Code": code, "Message": message}, "RequestId": "req-1"}})

    def _check(self, request: web.Request, body: bytes) -> web.Response | None:
        auth = request.headers.get("Authorization", "")
        match = re.fullmatch(r"TC3-HMAC-SHA256 Credential=([^/]+)/(\d{4}-\d{2}-\d{2})/([a-z]+)/tc3_request, "
                             r"SignedHeaders=content-type;host, Signature=([0-9a-f]{64})", auth)  # fmt: skip
        if match is None:
            return self._error("AuthFailure.InvalidAuthorization", "Authorization header format error")
        secret_id, date, service, given = match.groups()
        if secret_id != TENCENT_ID:
            return self._error("AuthFailure.SecretIdNotFound", "The SecretId is not found")
        try:
            stamp = int(request.headers.get("X-TC-Timestamp", ""))
        except ValueError:
            return self._error("MissingParameter", "X-TC-Timestamp")
        if abs(stamp - time.time()) > 300:
            return self._error("AuthFailure.SignatureExpire", "Signature expired")
        if datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%d") != date:
            return self._error("AuthFailure.SignatureFailure", "The credential date is not the timestamp's day")
        canonical = "\n".join(["POST", "/", "", f"content-type:{request.headers.get('Content-Type', '')}",
                               f"host:{request.headers.get('Host', '')}", "", "content-type;host",
                               hashlib.sha256(body).hexdigest()])  # fmt: skip
        text = "\n".join(["TC3-HMAC-SHA256", str(stamp), f"{date}/{service}/tc3_request",
                          hashlib.sha256(canonical.encode()).hexdigest()])  # fmt: skip
        key = b"TC3" + TENCENT_KEY.encode()
        for part in (date, service, "tc3_request"):
            key = hmac.new(key, part.encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(hmac.new(key, text.encode(), hashlib.sha256).hexdigest(), given):
            return self._error("AuthFailure.SignatureFailure", "The provided credentials could not be validated")
        return None

    async def api(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        action = request.headers.get("X-TC-Action", "")
        self.actions.append(action)
        refused = self._check(request, body)
        if refused is not None:
            return refused
        if self.fail:
            mode = self.fail.pop(0)
            if mode == "500":
                return web.Response(status=500, text="upstream error")
            return self._error({"limit": "RequestLimitExceeded", "internal": "InternalError"}[mode], mode)
        params = json.loads(body)
        if action == "DescribeAccountBalance":
            return self._ok({"Balance": 1234567, "RealBalance": 1234567.0, "CashAccountBalance": 1234567.0,
                             "OweAmount": 0.0, "Uin": 100000000001})  # fmt: skip
        if action == "DescribeBillSummaryByProduct":
            if not (params.get("BeginTime", "")[:7] == params.get("EndTime", "")[:7] != ""):
                return self._error("InvalidParameterValue", "BeginTime and EndTime must be in the same month")
            if not self.ready:
                self.ready = True
                return self._ok({"Ready": 0, "SummaryOverview": [], "SummaryTotal": None})
            return self._ok({"Ready": 1, "SummaryTotal": {"RealTotalCost": "61.37", "TotalCost": "61.37"},
                             "SummaryOverview": [
                                 {"BusinessCode": "p_lighthouse", "BusinessCodeName": "轻量应用服务器",
                                  "RealTotalCost": "50.00", "TotalCost": "50.00"},
                                 {"BusinessCode": "p_cbs", "BusinessCodeName": "云硬盘", "RealTotalCost": "11.37",
                                  "TotalCost": "-"}]})  # fmt: skip
        if action in ("DescribeInstances", "DescribeBundles", "InquiryPriceRenewInstances"):
            if not request.headers.get("X-TC-Region"):
                return self._error("MissingParameter", "The request is missing a required parameter `Region`.")
            return self._price(action, request.headers.get("X-TC-Version", ""), params)
        if action == "DescribeInstancesTrafficPackages":
            if not request.headers.get("X-TC-Region"):
                return self._error("MissingParameter", "The request is missing a required parameter `Region`.")
            ids = params.get("InstanceIds") or []
            sets = [
                {
                    "InstanceId": LHINS,
                    "TrafficPackageSet": [
                        {
                            "TrafficPackageId": "tfp-1",
                            "TrafficUsed": 123 * 2**30,
                            "TrafficPackageTotal": 500 * 2**30,
                            "TrafficPackageRemaining": 377 * 2**30,
                            "TrafficOverflow": 0,
                            "Status": "NETWORK_NORMAL",
                        }
                    ],
                }
            ]
            found = [s for s in sets if s["InstanceId"] in ids]  # fmt: skip
            return self._ok({"TotalCount": len(found), "InstanceTrafficPackageSet": found})
        return self._error("InvalidAction", f"The action {action} is not found")

    def _price(self, action: str, version: str, params: dict[str, Any]) -> web.Response:
        ids = params.get("InstanceIds") or []
        if action == "DescribeInstances" and version == "2020-03-24":
            found = [{"InstanceId": i, "BundleId": b["BundleId"], "CPU": 2, "Memory": 2, "Zone": "ap-guangzhou-3",
                      "InstanceChargeType": "PREPAID", "InstanceState": "RUNNING"}
                     for i, b in self.bundles.items() if i in ids]  # fmt: skip
            return self._ok({"TotalCount": len(found), "InstanceSet": found})
        if action == "DescribeBundles":
            wanted = params.get("BundleIds") or []
            bundles = [b for b in self.bundles.values() if b["BundleId"] in wanted]
            if wanted and not bundles:
                return self._error("InvalidParameter.BundleIdNotFound", "The bundle is not found.")
            return self._ok({"TotalCount": len(bundles), "BundleSet": bundles})
        if action == "DescribeInstances" and version == "2017-03-12":
            found = [c for i, c in CVM_INSTANCES.items() if i in ids]
            return self._ok({"TotalCount": len(found), "InstanceSet": found})
        if action == "InquiryPriceRenewInstances" and version == "2017-03-12":
            if any(i not in CVM_INSTANCES for i in ids):
                return self._error("InvalidInstanceId.NotFound", f"The instance {ids} is not found.")
            if any(CVM_INSTANCES[i]["InstanceChargeType"] != "PREPAID" for i in ids):
                return self._error("UnsupportedOperation", "Only prepaid instances can be renewed.")
            if not isinstance(params.get("InstanceChargePrepaid"), dict):
                return self._error("MissingParameter", "InstanceChargePrepaid")
            months = int(params["InstanceChargePrepaid"].get("Period", 0))
            price: dict[str, Any] = {"InstancePrice": {"OriginalPrice": f"{95.0 * months:.2f}",
                                                       "DiscountPrice": f"{76.0 * months:.2f}"}}  # fmt: skip
            if CVM_INSTANCES[ids[0]]["InternetAccessible"]["InternetChargeType"] == "BANDWIDTH_PREPAID":
                price["BandwidthPrice"] = {
                    "OriginalPrice": f"{60.0 * months:.2f}",
                    "DiscountPrice": f"{48.0 * months:.2f}",
                }
            return self._ok({"Price": price})
        return self._error("InvalidAction", f"The action {action} is not found in version {version}")

    @staticmethod
    def _ok(response: dict[str, Any]) -> web.Response:
        return web.json_response({"Response": {**response, "RequestId": "req-1"}})

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/", self.api)
        return app


ALIBABA_ID = "LTAI5tFakeFakeFakeFake01"
ALIBABA_SECRET = "fakeAlibabaSecret0123456789abcd"
SWAS_ID = "2ad1ae67295445f598017499dc******"
SWAS_RETIRED = "7c3f0a9e2b1d4c58a6e1f0b2d3c4e5f6"
SWAS_PLANS = (
    {"PlanId": "swas.s2.c2m1s40b3t04", "Core": 2, "Memory": 1, "DiskSize": 40, "DiskType": "ESSD", "Bandwidth": 3,
     "Flow": 400, "OriginPrice": 60, "Currency": "CNY", "SupportPlatform": '["Linux","Windows"]',
     "PlanType": "NORMAL"},
    {"PlanId": "swas.s2.c2m2s50b4t04", "Core": 2, "Memory": 2, "DiskSize": 50, "DiskType": "ESSD", "Bandwidth": 4,
     "Flow": 400, "OriginPrice": "79.0", "Currency": "CNY", "SupportPlatform": '["Linux"]', "PlanType": "NORMAL"},
)  # fmt: skip
SWAS_LISTED = "a3f1c2d4e5b6478899aabbccddeeff00"
SWAS_PLAN_OF = {
    SWAS_ID: "swas.s2.c2m1s40b3t04",
    SWAS_LISTED: "swas.s2.c2m2s50b4t04",
    SWAS_RETIRED: "swas.s1.c1m1s20b1t01",  # a plan no longer in ListPlans
}
ECS_PREPAID = "i-bp1prepaid00000000a1"
ECS_HOURLY = "i-bp1hourly000000000b2"
ECS_INSTANCES = {
    ECS_PREPAID: {"InstanceType": "ecs.e-c1m2.large", "Cpu": 2, "Memory": 4096, "InstanceChargeType": "PrePaid",
                  "InternetChargeType": "PayByBandwidth", "InternetMaxBandwidthOut": 3, "IoOptimized": True,
                  "ImageId": "ubuntu_22_04_x64_20G_alibase_20240130.vhd", "ZoneId": "cn-hangzhou-i",
                  "InstanceNetworkType": "vpc", "Status": "Running"},
    ECS_HOURLY: {"InstanceType": "ecs.g7.large", "Cpu": 2, "Memory": 8192, "InstanceChargeType": "PostPaid",
                 "InternetChargeType": "PayByTraffic", "InternetMaxBandwidthOut": 100, "IoOptimized": True,
                 "ImageId": "aliyun_3_x64_20G_alibase_20240528.vhd", "ZoneId": "cn-hangzhou-j",
                 "InstanceNetworkType": "vpc", "Status": "Running"},
}  # fmt: skip
ECS_SPOT = "i-bp1spot0000000000c3"
ECS_INSTANCES[ECS_SPOT] = {**ECS_INSTANCES[ECS_HOURLY], "SpotStrategy": "SpotAsPriceGo"}
ECS_CLASSIC = "AY140512175344270ab1c"
"""An ECS instance from before the `i-` ids (Alibaba's classic network era): still an ECS id, not a SWAS one."""
ECS_INSTANCES[ECS_CLASSIC] = ECS_INSTANCES[ECS_PREPAID]
ECS_DISKS = {ECS_PREPAID: ("cloud_essd_entry", 40, ""), ECS_HOURLY: ("cloud_essd", 60, "PL0"),
             ECS_SPOT: ("cloud_essd", 60, "PL0"), ECS_CLASSIC: ("cloud_essd_entry", 40, "")}  # fmt: skip
"""Each instance's system disk: (Category, Size GiB, PerformanceLevel)."""
ECS_HOURLY_PRICE = {"ecs.g7.large": 0.6210, "ecs.e-c1m2.large": 0.1730}
"""Invented list prices, CNY an hour, for the fake's DescribePrice: the type, plus the disk per GiB below."""
ECS_DISK_HOURLY = {"cloud_essd": 0.0013, "cloud_essd_entry": 0.0007, "cloud_efficiency": 0.0005}
ECS_RENEWAL = {ECS_PREPAID: 99.0, ECS_CLASSIC: 99.0}
"""A subscription's one-month renewal at list price, CNY."""
ECS_ACTIONS = ("DescribeInstances", "DescribeDisks", "DescribeRenewalPrice", "DescribePrice")


@dataclass
class FakeAlibaba:
    """Alibaba Cloud RPC APIs on one address: `GET /?Action=…&Version=…` with signature version 1.0 checked as
    Alibaba does — the HMAC-SHA1 recomputed from the query as it arrived (every parameter but Signature, sorted and
    percent-encoded the RFC 3986 way), the Timestamp within 15 minutes, a SignatureNonce never used twice — and errors
    as HTTP 4xx/5xx with `{"Code", "Message", "RequestId", "HostId", "Recommend"}`. BSS `QueryAccountBalance`
    (yuan strings) and `QueryBillOverview` (`Data.Items.Item[]`), SWAS `ListInstancesTrafficPackages` (bytes;
    `InstanceIds` a JSON array string), `ListInstances` and `ListPlans` (the documented example plan; `OriginPrice`
    a number in one plan and a string in another, as the docs disagree; SWAS_RETIRED runs on a plan no longer
    listed), each SWAS action 10 calls a minute as documented; ECS `DescribeInstances` (`Instances.Instance[]`, an
    unknown id an empty list as for a RAM user without the right), `DescribeDisks` (`Disks.Disk[]`),
    `DescribeRenewalPrice` (subscriptions only) and `DescribePrice` (every parameter the price depends on required and
    checked, `SystemDisk.PerformanceLevel` refused but for ESSD, `IoOptimized` the strings `optimized`/`none`), prices
    in `PriceInfo.Price` with `OriginalPrice`, `DiscountPrice` (the discount), `TradePrice`, `Currency`. `fail`:
    "throttle" (400 Throttling.User), "500" (InternalError)."""

    fail: list[str] = field(default_factory=list)
    actions: list[str] = field(default_factory=list)
    nonces: set[str] = field(default_factory=set)
    cycles: list[str] = field(default_factory=list)
    calls: dict[str, list[float]] = field(default_factory=dict)
    plans: list[dict[str, Any]] = field(default_factory=lambda: [dict(p) for p in SWAS_PLANS])

    def _throttled(self, action: str) -> bool:
        now = time.monotonic()
        recent = [t for t in self.calls.get(action, []) if now - t < 60] + [now]
        self.calls[action] = recent
        return action in ("ListInstances", "ListPlans", "ListInstancesTrafficPackages") and len(recent) > 10

    @staticmethod
    def _error(status: int, code: str, message: str) -> web.Response:
        return web.json_response({"RequestId": "req-1", "HostId": "business.aliyuncs.com", "Code": code,
                                  "Message": message, "Recommend": f"https://next.api.aliyun.com/troubleshoot?q={code}"},
                                 status=status)  # fmt: skip

    def _check(self, query: list[tuple[str, str]]) -> web.Response | None:
        params = dict(query)
        given = params.pop("Signature", "")
        if params.get("AccessKeyId") != ALIBABA_ID:
            return self._error(404, "InvalidAccessKeyId.NotFound", "Specified access key is not found.")
        if params.get("SignatureMethod") != "HMAC-SHA1" or params.get("SignatureVersion") != "1.0":
            return self._error(400, "IncompleteSignature", "The request signature does not conform to standards.")
        try:
            stamp = datetime.strptime(params.get("Timestamp", ""), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        except ValueError:
            return self._error(400, "MissingParameter", "Timestamp")
        if abs(stamp.timestamp() - time.time()) > 900:
            return self._error(400, "IllegalTimestamp", "The input parameter Timestamp is illegal.")
        nonce = params.get("SignatureNonce", "")
        if not nonce or nonce in self.nonces:
            return self._error(400, "SignatureNonceUsed", "Specified signature nonce was used already.")
        self.nonces.add(nonce)

        def enc(text: str) -> str:
            return "".join(c if c.isascii() and (c.isalnum() or c in "-_.~") else
                           "".join(f"%{b:02X}" for b in c.encode()) for c in text)  # fmt: skip

        canonical = "&".join(f"{enc(k)}={enc(v)}" for k, v in sorted(params.items()))
        text = "GET&%2F&" + enc(canonical)
        want = base64.b64encode(hmac.new(f"{ALIBABA_SECRET}&".encode(), text.encode(), hashlib.sha1).digest())
        if not hmac.compare_digest(want.decode(), given):
            return self._error(400, "SignatureDoesNotMatch", "Specified signature is not matched with our calculation.")
        return None

    async def api(self, request: web.Request) -> web.StreamResponse:
        query = [(k, v) for k, v in request.query.items()]
        action = request.query.get("Action", "")
        self.actions.append(action)
        refused = self._check(query)
        if refused is not None:
            return refused
        if self.fail:
            mode = self.fail.pop(0)
            if mode == "throttle":
                return self._error(400, "Throttling.User", "Request was denied due to user flow control.")
            return self._error(500, "InternalError", "The request processing has failed due to some unknown error.")
        if action == "QueryAccountBalance":
            return web.json_response({"Code": "200", "Message": "Successful!", "RequestId": "req-1", "Success": True,
                                      "Data": {"AvailableAmount": "1,234.56", "AvailableCashAmount": "1,234.56",
                                               "CreditAmount": "0.00", "Currency": "CNY"}})  # fmt: skip
        if action == "QueryBillOverview":
            self.cycles.append(request.query.get("BillingCycle", ""))
            if not re.fullmatch(r"\d{4}-\d{2}", request.query.get("BillingCycle", "")):
                return self._error(400, "MissingParameter", "BillingCycle")
            items = [{"ProductCode": "swas", "ProductName": "轻量应用服务器", "PretaxAmount": 24.0,
                      "Currency": "CNY", "Item": "SubscriptionOrder"},
                     {"ProductCode": "swas", "ProductName": "轻量应用服务器", "PretaxAmount": 1.6,
                      "Currency": "CNY", "Item": "PayAsYouGoBill"},
                     {"ProductCode": "oss", "ProductName": "对象存储 OSS", "PretaxAmount": 0.37,
                      "Currency": "CNY", "Item": "PayAsYouGoBill"}]  # fmt: skip
            return web.json_response({"Code": "Success", "Message": "Successful!", "RequestId": "req-1",
                                      "Success": True, "Data": {"BillingCycle": request.query["BillingCycle"],
                                                                "Items": {"Item": items}}})  # fmt: skip
        if self._throttled(action):
            return self._error(400, "Throttling.User", "Request was denied due to user flow control.")
        if action in ("ListInstances", "ListPlans", *ECS_ACTIONS) and not request.query.get("RegionId"):
            return self._error(400, "MissingParameter.RegionId", "The parameter RegionId is required.")
        if action == "ListInstances":
            ids = json.loads(request.query.get("InstanceIds", "[]"))
            found = [{"InstanceId": i, "PlanId": plan, "RegionId": request.query["RegionId"], "ChargeType": "PrePaid",
                      "Status": "Running", "ExpiredTime": "2027-03-08T16:00:00Z",
                      "ResourceSpec": {"Cpu": 2, "Memory": 1.0, "DiskSize": 40, "Bandwidth": 3, "Flow": 400.0}}
                     for i, plan in SWAS_PLAN_OF.items() if not ids or i in ids]  # fmt: skip
            return web.json_response({"RequestId": "req-1", "TotalCount": len(found), "PageNumber": 1,
                                      "PageSize": 10, "Instances": found})  # fmt: skip
        if action == "ListPlans":
            return web.json_response({"RequestId": "req-1", "Plans": self.plans})
        if action == "ListInstancesTrafficPackages":
            if not request.query.get("RegionId"):
                return self._error(400, "MissingParameter", "RegionId")
            ids = json.loads(request.query.get("InstanceIds", "[]"))
            usages = [{"InstanceId": SWAS_ID, "TrafficUsed": 41 * 2**30, "TrafficPackageTotal": 1024 * 2**30,
                       "TrafficPackageRemaining": 983 * 2**30, "TrafficOverflow": 0}]  # fmt: skip
            return web.json_response(
                {"RequestId": "req-1", "InstanceTrafficPackageUsages": [u for u in usages if u["InstanceId"] in ids]}
            )
        if action in ECS_ACTIONS:
            return self._ecs(action, request.query)
        return self._error(404, "InvalidAction.NotFound", f"Specified api {action} is not found")

    def _ecs(self, action: str, q: Any) -> web.Response:
        def price(original: float) -> web.Response:
            discount = round(original * 0.15, 4)
            return web.json_response({"RequestId": "req-1", "PriceInfo": {
                "Price": {"Currency": "CNY", "OriginalPrice": original, "DiscountPrice": discount,
                          "TradePrice": round(original - discount, 4),
                          "DetailInfos": {"DetailInfo": [{"Resource": "instanceType", "OriginalPrice": original}]}},
                "Rules": {"Rule": [{"RuleId": 587, "Description": "买满1年，立享官网价格8.5折优惠"}]}}})  # fmt: skip

        if action == "DescribeInstances":
            ids = json.loads(q.get("InstanceIds", "[]"))
            found = [{"InstanceId": i, "RegionId": q["RegionId"], **spec} for i, spec in ECS_INSTANCES.items()
                     if i in ids]  # fmt: skip
            return web.json_response({"RequestId": "req-1", "TotalCount": len(found), "PageNumber": 1,
                                      "PageSize": 10, "Instances": {"Instance": found}})  # fmt: skip
        if action == "DescribeDisks":
            disks = []
            if q.get("InstanceId") in ECS_DISKS and q.get("DiskType") in ("system", "all", None):
                category, size, level = ECS_DISKS[q["InstanceId"]]
                disks.append({"DiskId": "d-bp1system", "InstanceId": q["InstanceId"], "Type": "system",
                              "Category": category, "Size": size, "PerformanceLevel": level,
                              "DiskChargeType": ECS_INSTANCES[q["InstanceId"]]["InstanceChargeType"]})  # fmt: skip
            return web.json_response({"RequestId": "req-1", "TotalCount": len(disks), "Disks": {"Disk": disks}})
        if action == "DescribeRenewalPrice":
            if q.get("ResourceId") not in ECS_RENEWAL:
                return self._error(400, "InvalidInstanceChargeType.ValueNotSupported", "The instance is not "
                                                                                       "subscription.")  # fmt: skip
            if (q.get("PriceUnit"), q.get("Period")) != ("Month", "1"):
                return self._error(400, "InvalidPeriod", "The specified period is not valid.")
            return price(ECS_RENEWAL[q["ResourceId"]])
        # DescribePrice, for an hour of pay-as-you-go
        required = ("InstanceType", "ImageId", "ZoneId", "SystemDisk.Category", "SystemDisk.Size", "InternetChargeType")
        missing = [k for k in required if not q.get(k)]
        if missing or (q.get("ResourceType"), q.get("PriceUnit"), q.get("Period")) != ("instance", "Hour", "1"):
            return self._error(400, "MissingParameter", f"missing or unexpected: {missing or 'PriceUnit/Period'}")
        if q["InstanceType"] not in ECS_HOURLY_PRICE:
            why = "The specified InstanceType does not exist or beyond the permitted range."
            return self._error(400, "InvalidInstanceType.ValueNotSupported", why)
        category, level = q["SystemDisk.Category"], q.get("SystemDisk.PerformanceLevel")
        if category not in ECS_DISK_HOURLY or (level and category != "cloud_essd"):
            why = "The specified parameter SystemDisk.Category is not valid."
            return self._error(400, "InvalidSystemDiskCategory.ValueNotSupported", why)
        if q.get("IoOptimized") not in ("optimized", "none") or q["InternetChargeType"] not in (
                "PayByTraffic", "PayByBandwidth") or not q.get("InternetMaxBandwidthOut", "").isdigit():  # fmt: skip
            return self._error(400, "InvalidParameter", "IoOptimized, InternetChargeType or InternetMaxBandwidthOut")
        bandwidth = 0.063 * int(q["InternetMaxBandwidthOut"]) if q["InternetChargeType"] == "PayByBandwidth" else 0
        hourly = ECS_HOURLY_PRICE[q["InstanceType"]] + ECS_DISK_HOURLY[category] * int(q["SystemDisk.Size"])
        return price(round(hourly + bandwidth, 4))

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/", self.api)
        return app
