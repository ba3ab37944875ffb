"""Model Context Protocol, both ways.

- `client.McpConnector` (kind "mcp"): any MCP server's tools as a connection's
  operations, over streamable HTTP or stdio. Await `refresh()` before `operations()`.
- `demo_server`: Northwind's inventory as a real MCP server (the "mcp" simulator).
- `asgi.McpHttpApp`: the SDK's streamable-HTTP handler as an ASGI app that also runs
  when mounted (used by the simulator and by `app/mcp_server.py`).
"""
