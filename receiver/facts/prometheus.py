"""A small Prometheus HTTP API client (instant and range queries), with a timeout on every call."""

from __future__ import annotations

import base64
import json
from typing import Literal

import aiohttp
import numpy as np
import numpy.typing as npt

from receiver import settings

Unanswered = Literal["timeout", "unreachable", "refused"]
"""Why Prometheus gave no answer."""


class PrometheusError(Exception):
    """Prometheus could not answer (down, slow, or refused the query); the message says which, in English (logs, the
    model), and `kind` (timeout, unreachable, refused) with `url` let a message say it in its reader's language."""

    def __init__(self, message: str, kind: Unanswered = "refused", url: str = "") -> None:
        super().__init__(message)
        self.kind, self.url = kind, url


def matchers(labels: dict[str, str]) -> str:
    """`{k="v",...}` with values escaped as PromQL strings (a label value is data, never query syntax)."""
    return "{" + ",".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in sorted(labels.items())) + "}"


class Prometheus:
    def __init__(self, session: aiohttp.ClientSession, cfg: settings.Prometheus) -> None:
        self._session = session
        self._url = settings.without_userinfo(cfg.url).rstrip("/")  # what errors (and so messages) may show
        user, password = cfg.credentials or ("", "")
        self._headers = {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()} \
            if cfg.credentials else {}  # fmt: skip
        self._timeout = aiohttp.ClientTimeout(total=cfg.timeout_seconds)

    async def _get(self, path: str, params: dict[str, str]) -> list[dict[str, object]]:
        try:
            async with self._session.get(f"{self._url}{path}", params=params, timeout=self._timeout,
                                         headers=self._headers) as resp:  # fmt: skip
                body = await resp.json(content_type=None)
        except TimeoutError as exc:
            said = f"Prometheus at {self._url} did not answer within {self._timeout.total:g} s"
            raise PrometheusError(said, "timeout", self._url) from exc
        except (aiohttp.ClientError, ValueError) as exc:
            raise PrometheusError(f"Prometheus at {self._url} is unreachable: {exc}", "unreachable", self._url) from exc
        if not isinstance(body, dict) or body.get("status") != "success":
            error = body.get("error", "unexpected answer") if isinstance(body, dict) else "unexpected answer"
            raise PrometheusError(f"Prometheus refused {params.get('query', '')!r}: {error}", "refused", self._url)
        result = body["data"]["result"]
        return result if isinstance(result, list) else []

    async def instant(self, query: str, at: float) -> dict[tuple[tuple[str, str], ...], float]:
        """Vector result as {sorted label items: value}."""
        result = await self._get("/api/v1/query", {"query": query, "time": f"{at:.3f}"})
        out = {}
        for series in result:
            metric, value = series.get("metric"), series.get("value")
            if isinstance(metric, dict) and isinstance(value, list) and len(value) == 2:
                out[tuple(sorted(metric.items()))] = float(value[1])
        return out

    async def by(self, label: str, query: str, at: float) -> dict[str, float]:
        """Instant vector keyed by one label's value (the query aggregates `by (label)`)."""
        return {dict(key).get(label, ""): value for key, value in (await self.instant(query, at)).items()}

    async def scalar(self, query: str, at: float) -> float | None:
        """The first value of an instant vector, None when it is empty."""
        values = list((await self.instant(query, at)).values())
        return values[0] if values else None

    async def matrix(
        self, query: str, start: float, end: float, step: float
    ) -> list[tuple[dict[str, str], npt.NDArray[np.float64], npt.NDArray[np.float64]]]:
        """Every series of a range query as (labels, times, values)."""
        params = {"query": query, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:g}"}
        out = []
        for series in await self._get("/api/v1/query_range", params):
            metric, values = series.get("metric"), series.get("values")
            if not isinstance(metric, dict) or not isinstance(values, list):
                continue
            points = np.array([(float(t), float(v)) for t, v in values], dtype=np.float64).reshape(-1, 2)
            out.append(({str(k): str(v) for k, v in metric.items()}, points[:, 0], points[:, 1]))
        return out

    async def series(
        self, query: str, start: float, end: float, step: float
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """(times, values) of the first series of a range query; empty arrays when there is none."""
        found = await self.matrix(query, start, end, step)
        if not found:
            return np.empty(0), np.empty(0)
        return found[0][1], found[0][2]
