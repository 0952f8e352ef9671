"""GET JSON from a provider's API with the standard library: a timeout on every call, the token in a header and never
in a message, and every failure turned into an `ApiError` with a bounded reason (the errors metric's label)."""

from __future__ import annotations

import email.utils
import http.client
import json
import math
import re
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

from exporter.billing import Plan
from exporter.config import ProviderApi

REASONS = ("unauthorized", "forbidden", "rate_limited", "timeout", "unreachable", "server_error", "client_error",
           "bad_response", "not_found")  # fmt: skip


class ApiError(Exception):
    """One failed call: `reason` is one of REASONS; `retry_after` is the server's wish in seconds, if it said."""

    def __init__(self, reason: str, detail: str, retry_after: float | None = None) -> None:
        super().__init__(detail)
        self.reason = reason
        self.retry_after = retry_after


def retry_after(headers: Any, now: float) -> float | None:
    """Seconds to wait from `Retry-After` (seconds or an HTTP date) or a rate-limit reset time (epoch seconds:
    DigitalOcean's `RateLimit-Reset`, Hetzner's `RateLimit-Reset`)."""
    value = headers.get("Retry-After")
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            when = email.utils.parsedate_to_datetime(value) if value else None
            return None if when is None else max(0.0, when.timestamp() - now)
    reset = headers.get("RateLimit-Reset")
    if reset:
        try:
            return max(0.0, float(reset) - now)
        except ValueError:
            return None
    return None


class Client:
    def __init__(self, base_url: str, headers: dict[str, str], timeout: float, name: str) -> None:
        self._base = base_url.rstrip("/")
        self._headers = {"Accept": "application/json", "User-Agent": "costwarden-exporter", **headers}
        self._timeout = timeout
        self.name = name

    def get(self, path_or_url: str, params: dict[str, str | int] | None = None) -> dict[str, Any]:
        url = path_or_url if path_or_url.startswith("http") else self._base + path_or_url
        if params:
            url += ("&" if "?" in url else "?") + urllib.parse.urlencode(params)
        shown = url.split("?")[0]
        request = urllib.request.Request(url, headers=self._headers)  # noqa: S310 - http(s) only, checked in config
        return json_object(fetch(request, self._timeout, f"{self.name}: {shown}"), f"{self.name}: {shown}")


BEIJING = ZoneInfo("Asia/Shanghai")
"""Tencent Cloud and Alibaba Cloud close bills at midnight Beijing time (UTC+8): their month is that calendar's."""


class KeyPairApi:
    """A provider whose requests are signed with a key pair instead of carrying a token; `url` (a proxy or a test
    server) replaces every one of its public addresses."""

    def __init__(self, key_id: str, secret: str, cfg: ProviderApi, clock: Callable[[], float] = time.time) -> None:
        self._id = key_id
        self._secret = secret
        self._url = cfg.url.rstrip("/")
        self._timeout = cfg.timeout_seconds
        self._clock = clock


def json_object(raw: bytes, shown: str) -> dict[str, Any]:
    try:
        document = json.loads(raw)
    except ValueError as exc:
        raise ApiError("bad_response", f"{shown}: did not answer JSON") from exc
    if not isinstance(document, dict):
        raise ApiError("bad_response", f"{shown}: answered {type(document).__name__}, not an object")
    return document


def fetch(request: urllib.request.Request, timeout: float, shown: str,
          refused: Callable[[urllib.error.HTTPError, str], ApiError] | None = None) -> bytes:  # fmt: skip
    """The body of a successful answer; every failure an ApiError whose message starts with `shown` (the API and
    the call). `refused` reads an HTTP error answer the provider's way (default: by its status)."""
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310 - http(s) only, checked in config
            return bytes(answer.read())
    except urllib.error.HTTPError as exc:
        raise (refused or http_error)(exc, shown) from None
    except http.client.HTTPException as exc:  # a truncated or malformed answer (IncompleteRead, LineTooLong, …)
        raise ApiError("bad_response", f"{shown}: a broken answer: {type(exc).__name__}") from exc
    except TimeoutError as exc:
        raise ApiError("timeout", f"{shown}: no answer within {timeout:g} s") from exc
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, TimeoutError | socket.timeout):
            raise ApiError("timeout", f"{shown}: no answer within {timeout:g} s") from exc
        raise ApiError("unreachable", f"{shown}: cannot reach it: {exc.reason}") from exc
    except OSError as exc:
        raise ApiError("unreachable", f"{shown}: cannot reach it: {exc}") from exc


def http_error(exc: urllib.error.HTTPError, shown: str) -> ApiError:
    """An HTTP error answer as the poller's reason (`shown` names the API and the call)."""
    status = exc.code
    try:
        body = exc.read()[:300].decode("utf-8", "replace")
    except OSError:
        body = ""
    detail = f"{shown} answered HTTP {status}: {body.strip()}"
    if status == 401:
        return ApiError("unauthorized", detail + " (check the token)")
    if status == 403:
        return ApiError("forbidden", detail + " (the token lacks the read scope this needs)")
    if status == 404:
        return ApiError("not_found", detail)
    if status == 429:
        return ApiError("rate_limited", detail, retry_after(exc.headers, time.time()))
    if status >= 500:
        return ApiError("server_error", detail, retry_after(exc.headers, time.time()))
    return ApiError("client_error", detail)


def number(document: dict[str, Any], *path: str) -> float:
    """A number at `path` (providers send money as strings: "12.34"); ApiError("bad_response") if it is not one."""
    value: Any = document
    for key in path:
        if not isinstance(value, dict) or key not in value:
            raise ApiError("bad_response", f"missing field {'.'.join(path)}")
        value = value[key]
    try:
        if isinstance(value, bool):
            raise TypeError
        return float(value)
    except (TypeError, ValueError, OverflowError) as exc:  # OverflowError: a 400-digit integer in the JSON
        raise ApiError("bad_response", f"field {'.'.join(path)} is not a number: {str(value)[:40]}") from exc


def offer(name: str, monthly: float, currency: str, vcpus: float, memory_gib: float, disk_gib: float,
          included_gib: float | None, shown: str, overage_per_gib: float | None = None) -> Plan:  # fmt: skip
    """A plan as a provider's API described it, checked before init writes it into a table: a name and currency that
    are plain words, a price and a size that are finite and positive; ApiError("bad_response") otherwise, so the
    caller falls back to asking."""
    sizes = {"price": monthly, "vCPUs": vcpus, "memory": memory_gib, "disk": disk_gib}
    wrong = [f"{what} {value!r}" for what, value in sizes.items() if not (0 < value < math.inf)]
    if included_gib is not None and not 0 <= included_gib < math.inf:
        wrong.append(f"traffic {included_gib!r}")
    if overage_per_gib is not None and (included_gib is None or not 0 <= overage_per_gib < math.inf):
        wrong.append(f"price per GB {overage_per_gib!r}")  # unlimited traffic has none; a price is a number
    if not re.fullmatch(r"[\w.\-]{1,80}", name):
        wrong.append(f"plan {name[:80]!r}")
    if not re.fullmatch(r"[A-Z]{3}", currency):
        wrong.append(f"currency {currency[:20]!r}")
    if wrong or vcpus != int(vcpus):
        raise ApiError("bad_response", f"{shown}: not a plan one can price: {', '.join(wrong) or f'vCPUs {vcpus!r}'}")
    return Plan(name, monthly, currency, int(vcpus), memory_gib, disk_gib, included_gib, overage_per_gib)
