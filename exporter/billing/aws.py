"""AWS Cost Explorer (`GetCostAndUsage`, month to date by service), through boto3 — an optional extra
(`pip install 'costwarden[aws]'`), imported only when `provider_api.api` is aws.

Cost Explorer charges USD 0.01 per request, so it is polled every 6 h unless `interval_seconds` says otherwise.
Credentials come from boto3's usual chain (environment, ~/.aws, the instance role); the role needs `ce:GetCostAndUsage`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from exporter.billing import Reading
from exporter.billing.client import ApiError
from exporter.config import ProviderApi

PAGE_LIMIT = 50
CODES = {
    "AccessDeniedException": "forbidden",
    "UnrecognizedClientException": "unauthorized",
    "InvalidSignatureException": "unauthorized",
    "ExpiredTokenException": "unauthorized",
    "LimitExceededException": "rate_limited",
    "ThrottlingException": "rate_limited",
    "RequestLimitExceeded": "rate_limited",
}


def client(cfg: ProviderApi) -> Any:
    """A Cost Explorer client (its API lives in us-east-1), retrying nothing itself: the poller's schedule does."""
    try:
        import boto3
        from botocore.config import Config
    except ImportError as exc:
        raise RuntimeError("boto3 is not installed") from exc
    config = Config(retries={"total_max_attempts": 1, "mode": "standard"}, connect_timeout=cfg.timeout_seconds,
                    read_timeout=cfg.timeout_seconds)  # fmt: skip
    session = boto3.session.Session()  # its own credential chain, not a process-wide default session's cache
    return session.client("ce", region_name="us-east-1", endpoint_url=cfg.url or None, config=config)


def period(now: datetime) -> dict[str, str]:
    """This calendar month so far, as Cost Explorer wants it: [first day, tomorrow), dates in UTC."""
    today = now.astimezone(UTC).date()
    return {"Start": today.replace(day=1).isoformat(), "End": (today + timedelta(days=1)).isoformat()}


def read(ce: Any, now: datetime) -> Reading:
    from botocore.exceptions import BotoCoreError, ClientError, ConnectTimeoutError, ReadTimeoutError

    by_service: dict[str, float] = {}
    request: dict[str, Any] = {"TimePeriod": period(now), "Granularity": "MONTHLY", "Metrics": ["UnblendedCost"],
                               "GroupBy": [{"Type": "DIMENSION", "Key": "SERVICE"}]}  # fmt: skip
    try:
        for _ in range(PAGE_LIMIT):
            answer = ce.get_cost_and_usage(**request)
            for result in answer.get("ResultsByTime", []):
                for group in result.get("Groups", []):
                    service = str(group["Keys"][0])
                    amount = float(group["Metrics"]["UnblendedCost"]["Amount"])
                    by_service[service] = by_service.get(service, 0.0) + amount
            token = answer.get("NextPageToken")
            if not token:
                break
            request["NextPageToken"] = token
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 400))
        reason = CODES.get(code, "server_error" if status >= 500 else "client_error")
        raise ApiError(reason, f"aws: Cost Explorer refused: {code}: {exc}") from exc
    except (ConnectTimeoutError, ReadTimeoutError) as exc:
        raise ApiError("timeout", f"aws: Cost Explorer did not answer in time: {exc}") from exc
    except BotoCoreError as exc:
        reason = "unauthorized" if type(exc).__name__ == "NoCredentialsError" else "unreachable"
        raise ApiError(reason, f"aws: {exc}") from exc
    except (KeyError, ValueError, IndexError, TypeError) as exc:
        raise ApiError("bad_response", f"aws: unexpected GetCostAndUsage answer: {exc!r}") from exc
    return Reading(month_to_date=sum(by_service.values()), by_service=by_service)
