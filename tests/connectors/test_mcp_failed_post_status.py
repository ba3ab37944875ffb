"""An MCP request that fails is reported with its own HTTP status, not an allowed 405.

MCP specification 2025-06-18, Basic > Transports > Streamable HTTP: a server without an SSE stream
answers the client's GET with 405, and one that does not let clients end sessions may answer the
closing DELETE with 405. Neither fails a request, so only the status of the POST carrying the
JSON-RPC message is reported: here tools/list met a 503 outage, which is retryable.
"""

from __future__ import annotations

import json

import httpx
import pytest

from connectors.base import ConnectorError
from connectors.mcp.client import McpConnector
from tests.support.mcp_wire import answer as _answer

VERSION = "2025-06-18"


def busy_server(request: httpx.Request) -> httpx.Response:
    if request.method != "POST":  # no SSE stream, no session termination: both allowed
        return _answer(405)
    message = json.loads(request.content)
    method, mid = message.get("method"), message.get("id")
    if method == "initialize":
        result = {
            "protocolVersion": VERSION,
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "busy", "version": "1"},
        }
        return _answer(200, {"jsonrpc": "2.0", "id": mid, "result": result}, **{"Mcp-Session-Id": "s1"})
    if mid is None:
        return _answer(202)
    if method == "tools/list":
        return _answer(503, {"jsonrpc": "2.0", "id": mid, "error": {"code": -32603, "message": "busy"}})
    return _answer(200, {"jsonrpc": "2.0", "id": mid, "error": {"code": -32601, "message": "no"}})


async def test_an_outage_is_reported_as_the_outage_not_as_the_allowed_405() -> None:
    mcp = McpConnector(
        httpx.AsyncClient(
            base_url="https://busy.example.test/mcp", transport=httpx.MockTransport(busy_server)
        )
    )
    with pytest.raises(ConnectorError) as caught:
        await mcp.refresh()
    assert caught.value.status == 503, str(caught.value)
    assert "HTTP 503" in str(caught.value) and "405" not in str(caught.value)
    assert caught.value.retryable
