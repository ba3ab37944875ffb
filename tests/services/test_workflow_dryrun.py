"""A dry run writes nothing, not even to find its sample event."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from app.config import Settings
from app.main import Container
from app.services import workflow_dryrun, workflows
from app.services.auth import Principal
from app.services.connections import add_connection

# An imported spec whose operation named like a sampling read (`list_orders`) is a POST.
SPEC: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "ERP export", "version": "1"},
    "servers": [{"url": "http://erp-export.sim"}],
    "paths": {
        "/orders/export": {
            "post": {
                "operationId": "list_orders",
                "summary": "Export the paid orders to the ERP and mark them exported",
                "parameters": [
                    {"name": "financial_status", "in": "query", "schema": {"type": "string"}},
                    {"name": "limit", "in": "query", "schema": {"type": "integer"}},
                ],
                "responses": {"200": {"description": "ok"}},
            }
        }
    },
}


async def test_a_dry_run_never_samples_its_event_from_a_write(db_url: str, tmp_path: Path) -> None:
    calls: list[tuple[str, str]] = []

    async def export(request: Request) -> JSONResponse:
        calls.append((request.method, request.url.path))
        return JSONResponse([{"id": 1, "status": "exported"}])

    vendor = Starlette(routes=[Route("/orders/export", export, methods=["POST"])])
    settings = Settings.model_validate(
        {
            "DATABASE_URL": db_url,
            "SWITCHBOARD_DATA_DIR": str(tmp_path),
            "SWITCHBOARD_SECRET_KEY": "dry-run-test-key",
            "SWITCHBOARD_ALLOW_PRIVATE_NETWORK": "1",
        }
    )
    c = Container(settings, transport=httpx.ASGITransport(app=vendor))
    c.db.upgrade()
    add_connection(
        c.db, c.box, name="exporter", kind="openapi", base_url="http://erp-export.sim", config={"spec": SPEC}
    )
    catalogue = await c.pool.load()
    assert catalogue.get("exporter__list_orders").is_write
    spec = {"name": "export", "trigger": {"connection": "exporter", "event": "orders/paid"}, "steps": []}
    saved = workflows.save_draft(c.db, "when an order is paid", Principal("olga", "operator"), {"spec": spec})

    out = await workflow_dryrun.dry_run(c.db, saved["id"], catalogue, c.policy(), actor="olivia")

    assert calls == []  # the write was never called
    assert "exporter__list_orders is a write" in out["event_source"]
    await c.pool.aclose()
