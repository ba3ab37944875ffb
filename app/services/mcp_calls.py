"""Writes that MCP clients ask for: each becomes a one-call run that waits at the gate.

An MCP client never executes a write. Its request is a run of kind `mcp_call`
holding the one tool call; the run parks with a pending action in the same
approval queue as everything else, and after a person approves it a worker
executes it exactly once, like any other action.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from app.agent.run import RunContext, Suspend
from app.llm.base import ToolCall
from app.services.views import run_view
from app.store.db import Database
from app.store.runs import audit
from app.store.tables import Run
from tools.base import Tool

ProposeWrite = Callable[[Tool, dict[str, Any]], Awaitable[dict[str, Any]]]


async def mcp_call_pipeline(ctx: RunContext) -> dict[str, Any]:
    request = ctx.run.input["mcp_call"]
    tool = ctx.catalogue.get(request["tool"])
    outcome = await ctx.tool_call(
        "mcp", ToolCall(id="mcp", name=tool.name, arguments=request["arguments"]), {tool.name: tool}
    )
    if outcome is None:
        raise Suspend()
    return {"result": outcome.content, "is_error": outcome.is_error}


def proposer(
    db: Database, advance_now: Callable[[str], Awaitable[Any]], client: str = "mcp-client"
) -> ProposeWrite:
    """`propose_write(tool, arguments)` for app.mcp_server: queue the write, advance it to the gate
    at once (`advance_now(run_id)`), and answer with its action."""

    async def propose_write(tool: Tool, arguments: dict[str, Any]) -> dict[str, Any]:
        with db.session() as s:
            run = Run(
                kind="mcp_call",
                input={"mcp_call": {"tool": tool.name, "arguments": arguments}},
                created_by=client,
            )
            s.add(run)
            s.flush()
            audit(s, client, "mcp.write_requested", "run", run.id, {"tool": tool.name})
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


def record_tool_call(db: Database, event: dict[str, Any], client: str = "mcp-client") -> None:
    """Audit one tool call an MCP client made (its values cut to 500 characters)."""
    with db.session() as s:
        audit(
            s,
            client,
            "mcp.tool_call",
            "tool",
            str(event.get("tool")),
            {k: str(v)[:500] for k, v in event.items()},
        )
