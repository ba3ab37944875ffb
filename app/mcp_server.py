"""`switchboard mcp`: Switchboard's tool catalogue served to MCP clients.

Any MCP client (Claude Desktop, an IDE, another agent) can list Switchboard's tools
and call them, and the approval gate still holds (promise 1):

- reads run at once: arguments are validated against the tool's JSON Schema, then
  `tool.invoke(arguments, None)`; the result comes back as JSON text (and as
  structured content when it is an object);
- writes NEVER run here: after validation they go to `propose_write(tool, arguments, who)`,
  which files a pending action in the approval queue, and the MCP result tells the
  client the write is waiting for a person (with the action id to look it up);
- every write has a requester, the person the caller is (`Principal`): over HTTP the
  owner of the bearer token the request carried, over stdio whoever `caller()` names
  (`switchboard mcp` resolves an API token as the CLI does). Four eyes holds against that
  person, and proposing a write needs the operator role, as submitting work through the API
  does; a viewer, or a caller nobody can name, gets reads only. There is no shared
  "MCP client" identity that anyone could approve for;
- bad arguments, unknown tools' failures and connector errors are `isError` results
  the calling model can read and fix.

The catalogue is asked for on every list and call (`catalogue_provider`), so
connections added while the server runs show up without a restart.

Entry points: `build_server(...)` (the SDK's low-level `Server`), `serve_stdio(...)`,
`http_app(...)` (an ASGI app for streamable HTTP, mountable), and `run(...)` for the
CLI command `switchboard mcp [--transport stdio|http] [--host] [--port]`.
"""

from __future__ import annotations

import inspect
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Literal

import mcp.types as mtypes
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server
from mcp.shared.exceptions import MCPError
from starlette.types import ASGIApp, Receive, Scope, Send

from app.services.auth import Principal
from app.services.mcp_calls import PROPOSER_ROLE
from connectors.base import ConnectorError
from connectors.mcp.asgi import McpHttpApp, loopback_security
from connectors.ratelimit import KeyedBuckets
from tools.base import Catalogue, Tool, UnknownTool

log = logging.getLogger("switchboard.mcp")

CatalogueProvider = Callable[[], Catalogue | Awaitable[Catalogue]]
# (tool, validated arguments, who asks) -> e.g. {"status": "pending_approval", "action_id": "..."}
ProposeWrite = Callable[[Tool, dict[str, Any], Principal], dict[str, Any] | Awaitable[dict[str, Any]]]
# One record per call: {"tool", "effect", "arguments", "outcome", "detail", "caller"}; for the audit log.
Audit = Callable[[dict[str, Any]], Awaitable[None] | None]
# token -> the person it belongs to, or None (unknown, revoked, expired).
TokenCheck = Callable[[str], Principal | Awaitable[Principal | None] | None]
# Who is asking when no HTTP request says so (stdio, in-process): None means nobody known.
Caller = Callable[[], Principal | Awaitable[Principal | None] | None]

# Where BearerGate leaves the authenticated caller in the ASGI scope for the handlers.
CALLER_KEY = "switchboard.caller"

INSTRUCTIONS = (
    "Switchboard's tools across the company's connected systems. Read tools answer at once. "
    "Write tools never act directly: calling one proposes the action, a person approves or "
    "rejects it in Switchboard's approval queue, and the result says which action is waiting."
)
WRITE_NOTE = (
    " [Needs a person's approval: calling this proposes the write to Switchboard's approval "
    "queue; it does not perform it.]"
)


async def _maybe_await(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str, indent=2)


def _error(text: str) -> mtypes.CallToolResult:
    return mtypes.CallToolResult(content=[mtypes.TextContent(type="text", text=text)], is_error=True)


def mcp_tool(tool: Tool) -> mtypes.Tool:
    """How a catalogue tool looks to an MCP client. The read-only hint is true only for reads."""
    return mtypes.Tool(
        name=tool.name,
        description=tool.description + (WRITE_NOTE if tool.is_write else ""),
        input_schema=tool.input_schema,
        annotations=mtypes.ToolAnnotations(
            read_only_hint=not tool.is_write,
            idempotent_hint=True if not tool.is_write else None,
            open_world_hint=True,
        ),
    )


def pending_text(tool: Tool, proposal: dict[str, Any]) -> str:
    status = proposal.get("status", "pending_approval")
    action = proposal.get("action_id")
    if status == "pending_approval":
        return (
            f"Not done yet: {tool.name} is waiting for a person's approval"
            + (f" (action {action})" if action else "")
            + ". It runs only if someone approves it in Switchboard; do not call it again for the same change."
        )
    return f"{tool.name}: {status}" + (f" (action {action})" if action else "")


def build_server(
    catalogue_provider: CatalogueProvider,
    propose_write: ProposeWrite,
    *,
    name: str = "switchboard",
    version: str = "0.1.0",
    audit: Audit | None = None,
    caller: Caller | None = None,
) -> Server[Any]:
    """An MCP server over the catalogue; writes go to `propose_write`, never to `invoke`.

    Who asks is the principal BearerGate put on the HTTP request, else `caller()` (stdio and
    in-process clients); without either, the server answers reads and refuses writes."""

    async def asker(ctx: Any) -> Principal | None:
        request = getattr(ctx, "request", None)
        scope = getattr(request, "scope", None)
        if isinstance(scope, dict) and isinstance(scope.get(CALLER_KEY), Principal):
            return scope[CALLER_KEY]  # type: ignore[no-any-return]
        who = await _maybe_await(caller()) if caller is not None else None
        return who if isinstance(who, Principal) else None

    async def record(
        tool: Tool, arguments: Any, outcome: str, detail: Any = None, who: Principal | None = None
    ) -> None:
        if audit is not None:
            event = {
                "tool": tool.name,
                "effect": tool.effect,
                "arguments": arguments,
                "outcome": outcome,
                "detail": detail,
                "caller": who.name if who is not None else None,
            }
            await _maybe_await(audit(event))

    async def list_tools(ctx: Any, params: mtypes.PaginatedRequestParams | None) -> mtypes.ListToolsResult:
        catalogue: Catalogue = await _maybe_await(catalogue_provider())
        return mtypes.ListToolsResult(tools=[mcp_tool(t) for t in catalogue])

    async def call_tool(ctx: Any, params: mtypes.CallToolRequestParams) -> mtypes.CallToolResult:
        catalogue: Catalogue = await _maybe_await(catalogue_provider())
        try:
            tool = catalogue.get(params.name)
        except UnknownTool:
            raise MCPError(mtypes.INVALID_PARAMS, f"unknown tool {params.name!r}") from None
        arguments = params.arguments if params.arguments is not None else {}
        who = await asker(ctx)
        problems = tool.validate(arguments)
        if problems:
            await record(tool, arguments, "invalid", problems, who)
            return _error(f"invalid arguments for {tool.name}:\n" + "\n".join(problems))
        if tool.is_write:
            refusal = _may_not_propose(tool, who)
            if refusal is not None:
                await record(tool, arguments, "refused", refusal, who)
                return _error(refusal)
            assert who is not None
            try:
                proposal = await _maybe_await(propose_write(tool, arguments, who))
            except Exception as exc:
                log.exception("could not propose %s", tool.name)
                await record(tool, arguments, "proposal_failed", str(exc), who)
                return _error(f"could not propose {tool.name}: {exc}")
            await record(tool, arguments, "proposed", proposal, who)
            return mtypes.CallToolResult(
                content=[
                    mtypes.TextContent(type="text", text=pending_text(tool, proposal)),
                    mtypes.TextContent(type="text", text=_json(proposal)),
                ],
                structured_content=proposal,
            )
        try:
            result = await tool.invoke(arguments, None)
        except ConnectorError as exc:
            await record(tool, arguments, "failed", str(exc), who)
            return _error(str(exc))
        except Exception as exc:
            log.exception("read tool %s failed", tool.name)
            await record(tool, arguments, "failed", type(exc).__name__, who)
            return _error(f"{tool.name} failed ({type(exc).__name__}); see Switchboard's log")
        await record(tool, arguments, "ok", None, who)
        return mtypes.CallToolResult(
            content=[mtypes.TextContent(type="text", text=_json(result))],
            structured_content=result if isinstance(result, dict) else None,
        )

    return Server(
        name,
        version=version,
        instructions=INSTRUCTIONS,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
    )


def _may_not_propose(tool: Tool, who: Principal | None) -> str | None:
    """Why `who` may not put `tool`'s write into the approval queue, or None if they may."""
    if who is None:
        return (
            f"{tool.name} is a write, and this server does not know who is asking, so it proposes "
            "no writes: start `switchboard mcp` with an operator's API token (--token or "
            "SWITCHBOARD_TOKEN)"
        )
    if not who.can(PROPOSER_ROLE):
        return (
            f"{tool.name} is a write: proposing writes needs the {PROPOSER_ROLE} role; "
            f"{who.name} has {who.role}"
        )
    return None


async def serve_stdio(
    catalogue_provider: CatalogueProvider,
    propose_write: ProposeWrite,
    *,
    audit: Audit | None = None,
    caller: Caller | None = None,
) -> None:
    """Serve over stdin/stdout until the client closes them. Log to stderr only: stdout is the wire.

    `caller()` names who asks for each write (the process has no request to say so)."""
    server = build_server(catalogue_provider, propose_write, audit=audit, caller=caller)
    async with stdio_server() as (read_stream, write_stream):
        await server.run(read_stream, write_stream, server.create_initialization_options())


async def _answer(send: Send, status: int, error: dict[str, Any], headers: list[tuple[bytes, bytes]]) -> None:
    body = json.dumps({"jsonrpc": "2.0", "id": None, "error": error}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), *headers],
        }
    )
    await send({"type": "http.response.body", "body": body})


class BearerGate:
    """Let a request through only with `Authorization: Bearer <token>` that `check` knows, and
    hand the person it belongs to on to the handlers (under `CALLER_KEY` in the scope)."""

    def __init__(self, app: ASGIApp, check: TokenCheck, limiter: KeyedBuckets | None = None):
        self.app = app
        self.check = check
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = dict(scope.get("headers") or [])
            scheme, _, token = headers.get(b"authorization", b"").decode("latin-1").partition(" ")
            who = (
                await _maybe_await(self.check(token.strip()))
                if scheme.lower() == "bearer" and token.strip()
                else None
            )
            # As the API's edge: a bucket per token once it is known, else per address, so
            # guessing tokens (a store lookup each) and flooding the tools are both slowed down.
            client = (scope.get("client") or ("?",))[0]
            key = f"token:{who.token_id or who.name}" if isinstance(who, Principal) else f"addr:{client}"
            if self.limiter is not None and not self.limiter.allow(key):
                await _answer(
                    send,
                    429,
                    {"code": -32000, "message": "too many requests; slow down"},
                    [(b"retry-after", b"1")],
                )
                return
            if isinstance(who, Principal):
                scope = {**scope, CALLER_KEY: who}
            else:
                challenge = [(b"www-authenticate", b'Bearer realm="switchboard"')]
                await _answer(send, 401, {"code": -32001, "message": "Unauthorized"}, challenge)
                return
        await self.app(scope, receive, send)


def http_app(
    catalogue_provider: CatalogueProvider,
    propose_write: ProposeWrite,
    *,
    token_check: TokenCheck | None = None,
    extra_hosts: list[str] | None = None,
    audit: Audit | None = None,
    limiter: KeyedBuckets | None = None,
) -> ASGIApp:
    """Streamable HTTP at whatever path the app is served or mounted at (e.g. /mcp).

    `token_check(token) -> Principal | None` guards it with bearer tokens (wire it to
    Switchboard's API tokens): each request acts as the token's owner, who is the requester
    of the writes it proposes. Without it anyone who can reach the port can read through the
    tools, and nobody can propose a write. Requests are rate limited per token (per address
    before one is known) as the API's are (`limiter`, else SWITCHBOARD_RATE_* settings).
    Hosts other than loopback must be listed in `extra_hosts` ("mcp.example.com:*")."""
    server = build_server(catalogue_provider, propose_write, audit=audit)
    app: ASGIApp = McpHttpApp.for_server(server, stateless=True, security=loopback_security(extra_hosts))
    if limiter is None:
        from app.config import Settings

        settings = Settings()
        limiter = KeyedBuckets(rate=settings.rate_limit_per_second, burst=settings.rate_limit_burst)
    return BearerGate(app, token_check, limiter) if token_check is not None else app


def run(
    catalogue_provider: CatalogueProvider,
    propose_write: ProposeWrite,
    *,
    transport: Literal["stdio", "http"] = "stdio",
    host: str = "127.0.0.1",
    port: int = 8001,
    token_check: TokenCheck | None = None,
    extra_hosts: list[str] | None = None,
    audit: Audit | None = None,
    caller: Caller | None = None,
    close: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Blocking entry for `switchboard mcp`: stdio, or streamable HTTP at http://host:port/mcp.
    `close` runs when a stdio client leaves (the connections' HTTP sessions, before the loop ends).

    Over stdio `caller()` names who asks; over HTTP each request's bearer token does.
    Clients must reach it by a loopback name, by `host`, or by one of `extra_hosts`
    ("mcp.example.com:*"); other Host headers are refused (DNS-rebinding protection)."""
    if transport == "stdio":
        import anyio

        async def serve() -> None:
            try:
                await serve_stdio(catalogue_provider, propose_write, audit=audit, caller=caller)
            finally:
                if close is not None:
                    await close()

        anyio.run(serve)
        return
    import uvicorn
    from starlette.applications import Starlette
    from starlette.routing import Route

    extra = list(extra_hosts or [])
    if host not in ("127.0.0.1", "localhost", "::1", "0.0.0.0", "::"):
        extra.append(f"{host}:*")
    endpoint = http_app(
        catalogue_provider, propose_write, token_check=token_check, extra_hosts=extra, audit=audit
    )
    app = Starlette(routes=[Route("/mcp", endpoint=endpoint, methods=["GET", "POST", "DELETE"])])
    uvicorn.run(app, host=host, port=port, log_level="warning")
