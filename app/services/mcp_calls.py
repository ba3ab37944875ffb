"""Writes that MCP clients ask for: each becomes a one-call run that waits at the gate.

An MCP client never executes a write. Its request is a run of kind `mcp_call`
holding the one tool call; the run parks with a pending action in the same
approval queue as everything else, and after a person approves it a worker
executes it exactly once, like any other action.

The run is created by the person the MCP client authenticated as (the owner of the API
token the request carried, or the token `switchboard mcp` was started with over stdio), so
the gate's four eyes keeps that person from approving it, and the audit log names them.
Queueing a write needs the operator role, as submitting work through the API does; a viewer
reads only.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import anyio

from app.agent.run import RunContext, Suspend
from app.llm.base import ToolCall
from app.services.auth import Principal, authenticate
from app.services.errors import Forbidden
from app.services.views import run_view
from app.store.db import Database
from app.store.runs import audit
from app.store.tables import Run
from tools.base import Tool

ProposeWrite = Callable[[Tool, dict[str, Any], Principal], Awaitable[dict[str, Any]]]
# The least role that may queue a write: the role that may submit tickets and records.
PROPOSER_ROLE = "operator"
# The audit log's actor for a tool call whose caller nobody could name (stdio without a token).
UNKNOWN_CALLER = "mcp-client"


async def mcp_call_pipeline(ctx: RunContext) -> dict[str, Any]:
    request = ctx.run.input["mcp_call"]
    tool = ctx.catalogue.get(request["tool"])
    outcome = await ctx.tool_call(
        "mcp", ToolCall(id="mcp", name=tool.name, arguments=request["arguments"]), {tool.name: tool}
    )
    if outcome is None:
        raise Suspend()
    return {"result": outcome.content, "is_error": outcome.is_error}


def proposer(db: Database, advance_now: Callable[[str], Awaitable[Any]]) -> ProposeWrite:
    """`propose_write(tool, arguments, who)` for app.mcp_server: queue the write as `who`'s request,
    advance it to the gate at once (`advance_now(run_id)`), and answer with its action."""

    async def propose_write(tool: Tool, arguments: dict[str, Any], who: Principal) -> dict[str, Any]:
        if not who.can(PROPOSER_ROLE):
            raise Forbidden(f"proposing a write needs the {PROPOSER_ROLE} role; {who.name} has {who.role}")
        with db.session() as s:
            run = Run(
                kind="mcp_call",
                input={"mcp_call": {"tool": tool.name, "arguments": arguments}},
                created_by=who.name,
            )
            s.add(run)
            s.flush()
            audit(s, who.name, "mcp.write_requested", "run", run.id, {"tool": tool.name, "role": who.role})
            run_id = run.id
        await advance_now(run_id)
        view = run_view(db, run_id)
        action = next((a for a in view["actions"]), None)
        if action is None:
            return {"status": view["status"], "run_id": run_id, "error": view["error"]}
        return {
            "status": "pending_approval" if action["status"] == "pending" else action["status"],
            "action_id": action["id"],
            "run_id": run_id,
            "risk": action["risk"],
            "reasons": action["reasons"],
        }

    return propose_write


def authenticator(db: Database) -> Callable[[str], Awaitable[Principal | None]]:
    """`token_check(token)` for app.mcp_server's HTTP transport: the token's owner, or None. The
    lookup reads the store, so it runs on a worker thread, off the server's event loop."""

    async def token_check(token: str) -> Principal | None:
        return await anyio.to_thread.run_sync(authenticate, db, token)

    return token_check


def record_tool_call(db: Database, event: dict[str, Any]) -> None:
    """Audit one tool call an MCP client made, as its caller (its values cut to 500 characters)."""
    with db.session() as s:
        audit(
            s,
            str(event.get("caller") or UNKNOWN_CALLER),
            "mcp.tool_call",
            "tool",
            str(event.get("tool")),
            {k: str(v)[:500] for k, v in event.items()},
        )
