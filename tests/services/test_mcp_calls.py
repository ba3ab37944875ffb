"""An MCP client asks for a write: it waits in the approval queue, then runs once."""

from __future__ import annotations

from pathlib import Path

import pytest
from mcp import Client

from app.agent.orchestrator import worker_id
from app.mcp_server import build_server
from app.services import approvals
from app.services.auth import Principal
from app.services.errors import Forbidden
from app.services.mcp_calls import proposer
from app.services.views import run_view
from connectors.helpdesk.simulator import create_app
from tests.support.app import container


async def test_write_from_an_mcp_client_goes_through_the_queue(db_url: str, tmp_path: Path) -> None:
    sim = create_app()
    c = container(db_url, tmp_path, sim=sim)
    before = len(sim.state.helpdesk.ticket_comments(2))
    server = build_server(c.pool.load, proposer(c.db, lambda r: c.orchestrator.advance_now(r, worker_id())))
    async with Client(server) as client:
        read = await client.call_tool("helpdesk__get_ticket", {"ticket_id": 2})
        write = await client.call_tool(
            "helpdesk__add_comment", {"ticket_id": 2, "body": "From an MCP client", "public": False}
        )
    assert read.structured_content is not None and "2" in str(read.structured_content)
    assert len(sim.state.helpdesk.ticket_comments(2)) == before  # nothing written yet
    [pending] = approvals.list_actions(c.db)
    assert pending["tool"] == "helpdesk__add_comment" and pending["id"] in str(write.content)
    with pytest.raises(Forbidden, match="four eyes"):  # the client that asked cannot approve
        approvals.approve(c.db, pending["id"], Principal("mcp-client", "approver"), c.pool.catalogue)
    approvals.approve(c.db, pending["id"], Principal("pat", "approver"), c.pool.catalogue)
    await c.orchestrator.drain("w")
    assert run_view(c.db, pending["run_id"])["status"] == "succeeded"
    bodies = [x["body"] for x in sim.state.helpdesk.ticket_comments(2)]
    assert bodies.count("From an MCP client") == 1
    await c.pool.aclose()
