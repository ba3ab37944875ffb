"""The MCP client's requests against the MCP specification's streamable HTTP transport
(see connectors/mcp/CONTRACT.md), answered by a few lines on an `httpx.MockTransport`
that follow the specification rather than the SDK's own server."""

from __future__ import annotations

import json

import httpx

from connectors.http import NO_RETRY, build_client
from connectors.mcp.client import McpConnector
from tests.connectors.contracts.recorder import Recorder
from tests.support.mcp_wire import answer

SESSION = "sess-7f3a"
VERSION = "2025-06-18"


def documented_server(request: httpx.Request) -> httpx.Response:
    """A server that speaks protocol 2025-06-18 only, as the specification describes it."""
    if request.method != "POST":
        return answer(405)
    message = json.loads(request.content)
    method, mid = message.get("method"), message.get("id")
    if method == "initialize":
        result = {
            "protocolVersion": VERSION,
            "capabilities": {"tools": {"listChanged": False}},
            "serverInfo": {"name": "documented", "version": "1"},
        }
        return answer(200, {"jsonrpc": "2.0", "id": mid, "result": result}, **{"Mcp-Session-Id": SESSION})
    if method not in ("notifications/initialized", "tools/list"):  # e.g. a newer client's probe
        return answer(
            200, {"jsonrpc": "2.0", "id": mid, "error": {"code": -32601, "message": "Method not found"}}
        )
    if request.headers.get("mcp-session-id") != SESSION:
        return answer(
            400, {"jsonrpc": "2.0", "id": None, "error": {"code": -32000, "message": "No valid session"}}
        )
    if mid is None:  # a notification
        return answer(202)
    tool = {
        "name": "lookup_sku",
        "description": "Stock for one SKU.",
        "inputSchema": {"type": "object", "properties": {"sku": {"type": "string"}}, "required": ["sku"]},
        "annotations": {"readOnlyHint": True},
    }
    return answer(200, {"jsonrpc": "2.0", "id": mid, "result": {"tools": [tool]}})


async def test_lifecycle_headers_and_session_follow_the_specification() -> None:
    rec = Recorder(documented_server)
    client = build_client("https://mcp.example.test/mcp", transport=httpx.MockTransport(rec), retry=NO_RETRY)
    mcp = McpConnector(client, {})
    specs = await mcp.refresh()
    assert [s.name for s in specs] == ["lookup_sku"]
    assert specs[0].effect == "write"  # a readOnlyHint alone is the server's claim, not trusted
    posts = [r for r in rec.requests if r.method == "POST"]
    messages = [json.loads(r.content) for r in posts]
    methods = [m.get("method") for m in messages]
    start = methods.index("initialize")
    assert methods[start : start + 3] == ["initialize", "notifications/initialized", "tools/list"]
    assert {"protocolVersion", "capabilities", "clientInfo"} <= set(messages[start]["params"])
    for request in posts:
        assert request.url.path == "/mcp"
        assert request.headers["content-type"].startswith("application/json")
        accept = {a.strip() for a in request.headers["accept"].split(",")}
        assert {"application/json", "text/event-stream"} <= accept
    for request in posts[start + 1 :]:
        assert request.headers["mcp-session-id"] == SESSION
        assert request.headers["mcp-protocol-version"] == VERSION
    await mcp.aclose()
