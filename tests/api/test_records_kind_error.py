"""A record of an unknown kind is refused with every kind named, `reconciliation` (month-end)
among them."""

from __future__ import annotations

from pathlib import Path

import httpx

from app.api.app import create_app
from app.services.auth import create_token
from tests.support.app import container


async def test_an_unknown_record_kind_lists_reconciliation_too(tmp_path: Path) -> None:
    c = container(f"sqlite:///{tmp_path / 'sb.db'}", tmp_path)
    token = create_token(c.db, "ops", "admin")[1]
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(c)), base_url="http://sb"
        ) as client:
            r = await client.post(
                "/api/v1/records", headers={"Authorization": f"Bearer {token}"}, json={"kind": "payroll"}
            )
    finally:
        await c.pool.aclose()
    assert r.status_code == 422, r.text
    assert "reconciliation" in r.json()["error"], r.json()


def test_every_kind_of_run_can_be_listed_and_the_writes_of_an_mcp_call_filtered() -> None:
    """Runs are listed by any kind there is (drafting a workflow and an MCP client's write among
    them), and approvals by any kind that proposes writes."""
    from app.services.approvals import ActionFilters
    from app.services.errors import Invalid
    from app.services.views import RunFilters

    for kind in ("triage", "record", "chat", "workflow", "workflow_draft", "mcp_call"):
        assert RunFilters(kind=kind).check().kind == kind
    assert ActionFilters(kind="mcp_call").check().kind == "mcp_call"
    try:
        RunFilters(kind="payroll").check()
    except Invalid as exc:
        assert "mcp_call" in str(exc) and "workflow_draft" in str(exc)
    else:
        raise AssertionError("an unknown kind was accepted")
