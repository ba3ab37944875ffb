"""A path parameter is one path segment: a read never reaches another endpoint (a write).

The connection's owner declared `GET /jobs/{name}/build` a write (`write_operations`: it
triggers a deployment, the "GET /logout" case the config exists for). The read
`GET /jobs/{name}` takes a path parameter; a `/` in its value is percent-encoded as %2F,
and the server (here FastAPI under uvicorn, as Flask, Django and most Python stacks do)
decodes %2F before routing. So the read `get_job(name="deploy-prod/build")` triggers the
build, at once, without an approval."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from connectors.base import ConnectorError
from connectors.openapi import OpenAPIConnector
from connectors.warehouse.client import WarehouseConnector
from tools.from_connector import tools_for


def _param() -> dict[str, Any]:
    return {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}


SPEC = {
    "openapi": "3.0.3",
    "info": {"title": "CI", "version": "1"},
    "paths": {
        "/jobs/{name}": {
            "get": {
                "operationId": "getJob",
                "parameters": [_param()],
                "responses": {"200": {"description": "ok"}},
            }
        },
        "/jobs/{name}/build": {
            "get": {
                "operationId": "triggerBuild",
                "summary": "Start a build and deployment of the job",
                "parameters": [_param()],
                "responses": {"200": {"description": "ok"}},
            }
        },
    },
}


def ci_app(builds: list[str]) -> FastAPI:
    app = FastAPI()

    @app.get("/jobs/{name}")
    def job(name: str) -> dict[str, Any]:
        return {"job": name, "last_build": 41}

    @app.get("/jobs/{name}/build")
    def build(name: str) -> dict[str, Any]:
        builds.append(name)  # a deployment starts
        return {"job": name, "build": 42, "started": True}

    return app


async def test_a_slash_in_a_reads_path_parameter_never_reaches_a_declared_get_write(
    serve_asgi: Callable[[Any], str],
) -> None:
    builds: list[str] = []
    url = serve_asgi(ci_app(builds))
    connector = OpenAPIConnector(
        httpx.AsyncClient(base_url=url), {"spec": SPEC, "write_operations": ["triggerBuild"]}
    )
    tools = {t.operation: t for t in tools_for("ci", connector)}
    assert tools["trigger_build"].is_write  # the owner's declaration holds for the write itself
    read = tools["get_job"]
    assert read.effect == "read" and not read.validate({"name": "deploy-prod/build"})

    for smuggled in ("deploy-prod/build", "x\\..\\deploy-prod", "..", "."):
        with pytest.raises(ConnectorError, match=r"would change the path|is not a"):
            await read.invoke({"name": smuggled}, None)
    assert (await read.invoke({"name": "deploy prod:1"}, None))["job"] == "deploy prod:1"
    await connector.aclose()
    assert builds == []


@pytest.mark.parametrize("tool", ["get_shipment", "get_tracking"])
async def test_a_warehouse_id_is_one_path_segment(tool: str) -> None:
    sent: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request.url.path)
        return httpx.Response(200, json={})

    client = httpx.AsyncClient(base_url="https://ship.test", transport=httpx.MockTransport(handler))
    connector = WarehouseConnector(client, {})
    with pytest.raises(ConnectorError, match="would change the path"):
        await getattr(connector, tool)("se-1/cancel")
    await connector.aclose()
    assert sent == []
