"""What every HTTP channel does the same way: post, and sort the answer into sent / retry later / permanent."""

from __future__ import annotations

import email.utils
import json
import time
from typing import Any

import aiohttp
import yarl

from receiver.delivery.channels import Permanent, RetryLater


def retry_after(value: str | None) -> float | None:
    """Retry-After as seconds or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        when = email.utils.parsedate_to_datetime(value)
        return None if when is None else max(0.0, when.timestamp() - time.time())


async def post(
    session: aiohttp.ClientSession, url: str | yarl.URL, timeout: float, *, redact: str = "", **kwargs: Any
) -> tuple[int, dict[str, str], bytes]:
    """POST; connection trouble and timeouts become RetryLater. `redact` is a secret never to appear in a reason."""
    try:
        async with session.post(url, timeout=aiohttp.ClientTimeout(total=timeout), **kwargs) as resp:
            return resp.status, dict(resp.headers), await resp.read()
    except TimeoutError as exc:
        raise RetryLater(f"no answer within {timeout:g} s") from exc
    except aiohttp.ClientError as exc:
        reason = str(exc).replace(redact, "<secret>") if redact else str(exc)
        raise RetryLater(f"unreachable: {reason}") from exc


def json_answer(raw: bytes) -> dict[str, Any]:
    """A service's JSON answer as a mapping; {} for an empty body, text that is not JSON, or JSON that is no object."""
    try:
        answer = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    return answer if isinstance(answer, dict) else {}


def quoted(raw: bytes, limit: int = 200) -> str:
    """The start of an answer as text, for a reason a person reads (bytes that are not UTF-8 replaced, never b'…')."""
    return raw[:limit].decode("utf-8", "replace")


def classify(status: int, reason: str, after: float | None = None) -> None:
    """Raise for anything that is not success: 429, 408 and 5xx are worth retrying, any other 4xx is not."""
    if 200 <= status < 300:
        return
    if status in (408, 425, 429) or status >= 500:
        raise RetryLater(f"HTTP {status}: {reason}", after)
    raise Permanent(f"HTTP {status}: {reason}")
