"""An MCP write the server answered without `isError` is done, whatever follows the answer.

MCP specification 2025-06-18, Server > Tools > Error Handling: tool execution errors are "reported
in tool results with `isError: true`"; a result without it is the server saying the tool ran.
"Clients SHOULD validate structured results against" an output schema, but a result that does not
validate is a bad answer about a write that happened, not a write that failed: MCP cannot
deduplicate, so a write recorded as failed would be sent again by a person's retry. So `tools/call`
goes out without the SDK's after-the-fact check (a second `tools/list` that may fail, and a schema
check that raises), and a failure after the request may have gone out says the write may have run.
"""

from __future__ import annotations

import json
import logging
from contextlib import AsyncExitStack
from typing import Any

import httpx
import httpx2
import pytest
from mcp import Client

from connectors.base import ConnectorError
from connectors.mcp.client import HttpxBridge, McpConnector
from tests.support.mcp_wire import answer as _answer
from tools.from_connector import tools_for

VERSION = "2025-06-18"


TOOL: dict[str, Any] = {
    "name": "archiveTicket",
    "description": "Archive a ticket.",
    "inputSchema": {"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"]},
    "outputSchema": {
        "type": "object",
        "properties": {"archived": {"type": "boolean"}},
        "required": ["archived"],
    },
    "annotations": {"readOnlyHint": False},
}


class Server:
    def __init__(self, *, list_fails_after_call: bool, structured: dict[str, Any], call_status: int = 200):
        self.list_fails_after_call = list_fails_after_call
        self.structured = structured
        self.call_status = call_status  # not 200: the write lands, its answer is lost on the way
        self.done: list[str] = []  # tickets archived

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.method != "POST":
            return _answer(405)
        message = json.loads(request.content)
        method, mid = message.get("method"), message.get("id")
        if method == "initialize":
            result = {
                "protocolVersion": VERSION,
                "capabilities": {"tools": {"listChanged": False}},
                "serverInfo": {"name": "helpdesk", "version": "1"},
            }
            return _answer(200, {"jsonrpc": "2.0", "id": mid, "result": result}, **{"Mcp-Session-Id": "s1"})
        if mid is None:
            return _answer(202)
        if method == "tools/list":
            if self.done and self.list_fails_after_call:
                return _answer(
                    503, {"jsonrpc": "2.0", "id": mid, "error": {"code": -32603, "message": "busy"}}
                )
            return _answer(200, {"jsonrpc": "2.0", "id": mid, "result": {"tools": [TOOL]}})
        if method == "tools/call":
            self.done.append(message["params"]["arguments"]["id"])
            if self.call_status != 200:
                return _answer(self.call_status)
            answered = {
                "content": [{"type": "text", "text": json.dumps(self.structured)}],
                "structuredContent": self.structured,
                "isError": False,
            }
            return _answer(200, {"jsonrpc": "2.0", "id": mid, "result": answered})
        return _answer(200, {"jsonrpc": "2.0", "id": mid, "error": {"code": -32601, "message": "no"}})


async def _write(server: Server) -> tuple[Any, ConnectorError | None]:
    mcp = McpConnector(
        httpx.AsyncClient(base_url="https://helpdesk.example.test/mcp", transport=httpx.MockTransport(server))
    )
    await mcp.refresh()
    tool = {t.name: t for t in tools_for("helpdesk", mcp)}["helpdesk__archive_ticket"]
    assert tool.is_write and tool.idempotency == "none"
    try:
        return await tool.invoke({"id": "7"}, "action-1"), None
    except ConnectorError as exc:
        return None, exc


async def test_a_write_the_server_did_is_not_failed_by_a_listing_after_it() -> None:
    server = Server(list_fails_after_call=True, structured={"archived": True})
    result, error = await _write(server)
    assert server.done == ["7"]  # the ticket was archived
    assert error is None, f"recorded as failed (a retry would send it again): {error}"
    assert result == {"archived": True}


async def test_a_write_with_an_off_schema_result_is_done_with_the_result_as_given(
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = Server(list_fails_after_call=False, structured={"archived": "yes"})
    with caplog.at_level(logging.WARNING, logger="connectors.mcp.client"):
        result, error = await _write(server)
    assert server.done == ["7"]
    assert error is None, f"recorded as failed (a retry would send it again): {error}"
    assert result == {"archived": "yes"}
    assert (
        "archiveTicket on https://helpdesk.example.test/mcp answered outside its output schema" in caplog.text
    )


async def test_a_write_whose_answer_is_lost_may_have_run_and_is_not_retried() -> None:
    server = Server(list_fails_after_call=False, structured={"archived": True}, call_status=502)
    _, error = await _write(server)
    assert server.done == ["7"]
    assert error is not None and not error.retryable
    assert "may have run archiveTicket" in str(error) and "HTTP 502" in str(error)


class _ClosesBadly(McpConnector):
    """Its sessions fail while closing, once `breaking` is set."""

    breaking = False

    async def _open(self, stack: AsyncExitStack, bridge: HttpxBridge) -> Client:
        async def close() -> None:
            if self.breaking:
                raise httpx2.ReadError("connection reset while closing")

        stack.push_async_callback(close)
        return await super()._open(stack, bridge)


async def test_a_session_that_fails_to_close_after_the_answer_leaves_the_write_done() -> None:
    server = Server(list_fails_after_call=False, structured={"archived": True})
    mcp = _ClosesBadly(
        httpx.AsyncClient(base_url="https://helpdesk.example.test/mcp", transport=httpx.MockTransport(server))
    )
    await mcp.refresh()
    mcp.breaking = True
    tool = {t.name: t for t in tools_for("helpdesk", mcp)}["helpdesk__archive_ticket"]
    assert await tool.invoke({"id": "7"}, "action-1") == {"archived": True}
    assert server.done == ["7"]
