"""docs/openapi.yml describes the app as it is: every route and method, and the payload model's fields."""

from __future__ import annotations

import io
from collections.abc import Awaitable, Callable
from pathlib import Path

import yaml
from aiohttp.test_utils import TestClient
from pydantic import BaseModel

from receiver.app import create_app
from receiver.intake import Alert, Webhook
from receiver.settings import Settings

Client = Callable[..., Awaitable[TestClient]]  # type: ignore[type-arg]
SPEC = yaml.safe_load((Path(__file__).parents[2] / "docs" / "openapi.yml").read_text())


def test_every_route_is_documented_and_nothing_else() -> None:
    app = create_app(Settings())
    routes = {(r.resource.canonical, r.method.lower()) for r in app.router.routes() if r.method != "HEAD"}
    documented = {(path, method) for path, ops in SPEC["paths"].items() for method in ops}
    assert routes == documented


async def test_documented_statuses_and_errors_are_what_the_app_answers(aiohttp_client: Client, tmp_path: Path) -> None:
    settings = Settings.model_validate(
        {"data_dir": str(tmp_path), "intake": {"max_body_bytes": 2**20}, "auth": {"bearer_token": "t"},
         "ollama": {"enabled": False}, "channels": [{"type": "file", "path": str(tmp_path / "sent.jsonl")}],
         "digest": {"daily": {"enabled": False}}}
    )  # fmt: skip
    client = await aiohttp_client(create_app(settings))
    responses = SPEC["paths"]["/alerts"]["post"]["responses"]
    errors = set(SPEC["components"]["schemas"]["Error"]["properties"]["error"]["enum"])
    auth = {"Authorization": "Bearer t"}
    for body, headers in ((b"{", auth), (b"{}", auth), (b"{}", {})):
        resp = await client.post("/alerts", data=body, headers=headers)
        assert str(resp.status) in responses
        assert (await resp.json())["error"] in errors
    resp = await client.post("/alerts", data=io.BytesIO(b"x" * (2**20 + 1)), headers=auth)
    assert resp.status == 413 and "413" in responses


def test_payload_schemas_match_the_models() -> None:
    for name, model in (("Webhook", Webhook), ("Alert", Alert)):
        schema = SPEC["components"]["schemas"][name]
        assert set(schema["properties"]) == set(model.model_fields), name
        assert set(schema["required"]) == {n for n, f in model.model_fields.items() if f.is_required()}, name
        assert issubclass(model, BaseModel)
