"""An MCP client asks for a write: it waits in the approval queue, then runs once.

The write is the request of the person the client authenticated as, never of a shared "MCP
client": that person cannot approve it, the audit log names them, and a viewer cannot queue one."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from sqlalchemy import select

from app.agent.orchestrator import worker_id
from app.main import Container
from app.mcp_server import build_server, http_app
from app.services import approvals
from app.services.auth import Principal, create_token, identify
from app.services.errors import Forbidden
from app.services.mcp_calls import authenticator, proposer, record_tool_call
from app.services.views import run_view
from app.store.tables import AuditEntry, Run
from connectors.helpdesk.simulator import create_app
from tests.support.app import container
from tests.support.loopback import LoopbackServer

OLGA = Principal("olga", "operator")


async def test_write_from_an_mcp_client_goes_through_the_queue(db_url: str, tmp_path: Path) -> None:
    sim = create_app()
    c = container(db_url, tmp_path, sim=sim)
    before = len(sim.state.helpdesk.ticket_comments(2))
    server = build_server(
        c.pool.load,
        proposer(c.db, lambda r: c.orchestrator.advance_now(r, worker_id())),
        caller=lambda: OLGA,  # stdio: whoever `switchboard mcp` was started as
    )
    async with Client(server) as client:
        read = await client.call_tool("helpdesk__get_ticket", {"ticket_id": 2})
        write = await client.call_tool(
            "helpdesk__add_comment", {"ticket_id": 2, "body": "From an MCP client", "public": False}
        )
    assert read.structured_content is not None and "2" in str(read.structured_content)
    assert len(sim.state.helpdesk.ticket_comments(2)) == before  # nothing written yet
    [pending] = approvals.list_actions(c.db)
    assert pending["tool"] == "helpdesk__add_comment" and pending["id"] in str(write.content)
    with pytest.raises(Forbidden, match="four eyes"):  # the person who asked cannot approve
        approvals.approve(c.db, pending["id"], Principal("olga", "approver"), c.pool.catalogue)
    approvals.approve(c.db, pending["id"], Principal("pat", "approver"), c.pool.catalogue)
    await c.orchestrator.drain("w")
    assert run_view(c.db, pending["run_id"])["status"] == "succeeded"
    bodies = [x["body"] for x in sim.state.helpdesk.ticket_comments(2)]
    assert bodies.count("From an MCP client") == 1
    await c.pool.aclose()


@pytest.fixture
def served(db_url: str, tmp_path: Path) -> Iterator[tuple[Container, Any, str]]:
    """`switchboard mcp --transport http`, wired as the command wires it, on real loopback HTTP."""
    sim = create_app()
    c = container(db_url, tmp_path, sim=sim)
    app = http_app(
        c.pool.load,
        proposer(c.db, lambda run_id: c.orchestrator.advance_now(run_id, worker_id())),
        token_check=authenticator(c.db),
        audit=lambda event: record_tool_call(c.db, event),
    )
    with LoopbackServer(app) as server:
        yield c, sim, server.url + "/mcp"


async def call(url: str, token: str, tool: str, arguments: dict[str, Any]) -> Any:
    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as http,
        Client(streamable_http_client(url, http_client=http)) as client,
    ):
        return await client.call_tool(tool, arguments)


async def test_over_http_the_tokens_owner_asks_and_cannot_approve(
    served: tuple[Container, Any, str],
) -> None:
    c, sim, url = served
    _, pat_token = create_token(c.db, "pat", "approver")
    pat, _ = identify(c.db, pat_token)
    assert pat is not None
    before = len(sim.state.helpdesk.ticket_comments(2))

    asked = await call(
        url, pat_token, "helpdesk__add_comment", {"ticket_id": 2, "body": "Pat asks", "public": True}
    )
    assert asked.is_error is False, asked.content
    proposal = asked.structured_content
    action = approvals.get_action(c.db, proposal["action_id"])
    assert action["requested_by"] == "pat"
    with c.db.read() as s:
        assert s.get(Run, proposal["run_id"]).created_by == "pat"  # type: ignore[union-attr]
        actors = {
            (e.event, e.actor)
            for e in s.scalars(select(AuditEntry).where(AuditEntry.event.like("mcp.%"))).all()
        }
    assert actors == {("mcp.write_requested", "pat"), ("mcp.tool_call", "pat")}  # who asked is kept

    with pytest.raises(Forbidden, match="four eyes"):  # pat's token asked: pat cannot approve it
        approvals.approve(c.db, proposal["action_id"], pat, c.pool.catalogue)
    assert approvals.get_action(c.db, proposal["action_id"])["status"] == "pending"
    approvals.approve(c.db, proposal["action_id"], Principal("lee", "approver"), c.pool.catalogue)
    await c.orchestrator.drain("w")
    assert run_view(c.db, proposal["run_id"])["status"] == "succeeded"
    assert [x["body"] for x in sim.state.helpdesk.ticket_comments(2)][before:] == ["Pat asks"]
    await c.pool.aclose()


async def test_over_http_a_viewer_reads_but_cannot_queue_a_write(
    served: tuple[Container, Any, str],
) -> None:
    c, _, url = served
    _, viewer_token = create_token(c.db, "val", "viewer")

    read = await call(url, viewer_token, "helpdesk__get_ticket", {"ticket_id": 2})
    assert read.is_error is False  # reads stay open to any valid token
    write = await call(
        url, viewer_token, "helpdesk__add_comment", {"ticket_id": 2, "body": "Val asks", "public": True}
    )
    assert write.is_error is True
    assert "needs the operator role; val has viewer" in write.content[0].text  # type: ignore[union-attr]
    assert approvals.list_actions(c.db, None) == []
    with c.db.read() as s:
        assert s.scalars(select(Run).where(Run.kind == "mcp_call")).all() == []
        refused = s.scalars(select(AuditEntry).where(AuditEntry.event == "mcp.tool_call")).all()
    assert {(e.actor, e.data["outcome"]) for e in refused} == {("val", "ok"), ("val", "refused")}
    await c.pool.aclose()


async def test_the_proposer_itself_refuses_a_viewer(db_url: str, tmp_path: Path) -> None:
    """Whatever transport calls it, a viewer's write is never queued."""
    c = container(db_url, tmp_path, sim=create_app())
    propose = proposer(c.db, lambda r: c.orchestrator.advance_now(r, worker_id()))
    tool = c.pool.catalogue().get("helpdesk__add_comment")
    with pytest.raises(Forbidden, match="operator role"):
        await propose(tool, {"ticket_id": 2, "body": "x"}, Principal("val", "viewer"))
    assert approvals.list_actions(c.db, None) == []
    await c.pool.aclose()
