"""Serve an MCP server over streamable HTTP as an ASGI app that also works when mounted.

The SDK's streamable-HTTP handler needs its session manager running (a task group
entered by `StreamableHTTPSessionManager.run()`), which the SDK ties to the Starlette
app's lifespan. A mounted sub-app never receives lifespan events (the demo mounts
simulators under /sim/<name>/, tests serve apps with lifespan off), so
`McpHttpApp` starts the manager itself: on the lifespan startup event when it is
served alone, otherwise on the first request, in a background task of the serving
event loop that owns the task group from start to end.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import anyio
from mcp.server.lowlevel import Server
from mcp.server.streamable_http_manager import StreamableHTTPASGIApp, StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from starlette.types import Receive, Scope, Send


def loopback_security(extra_hosts: list[str] | None = None) -> TransportSecuritySettings:
    """DNS-rebinding protection allowing loopback (plus `extra_hosts`, e.g. "mcp.example.com:*")."""
    hosts = ["127.0.0.1:*", "localhost:*", "[::1]:*", *(extra_hosts or [])]
    origins = ["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"]
    origins += [f"{scheme}://{h}" for h in extra_hosts or [] for scheme in ("http", "https")]
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True, allowed_hosts=hosts, allowed_origins=origins
    )


class McpHttpApp:
    """ASGI app answering MCP streamable HTTP at any path it is routed to.

    With `for_server(stateless=True)` (the default) no per-client session is kept
    between requests, so any number of API processes can serve it.
    """

    def __init__(self, manager: StreamableHTTPSessionManager) -> None:
        self.manager = manager
        self._handler = StreamableHTTPASGIApp(self.manager)
        self._started: anyio.Event | None = None
        self._stop: anyio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._error: BaseException | None = None

    @classmethod
    def for_server(
        cls,
        server: Server[Any],
        *,
        stateless: bool = True,
        json_response: bool = False,
        security: TransportSecuritySettings | None = None,
    ) -> McpHttpApp:
        """Serve a low-level `Server` (for an `MCPServer`, pass `mcp_server.session_manager`
        to the constructor after calling its `streamable_http_app(...)`)."""
        return cls(
            StreamableHTTPSessionManager(
                app=server,
                stateless=stateless,
                json_response=json_response,
                security_settings=security if security is not None else loopback_security(),
            )
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        await self.start()
        await self._handler(scope, receive, send)

    async def start(self) -> None:
        """Run the session manager in a task of the current loop (once); wait until it is up."""
        if self._started is None:
            self._started, self._stop = anyio.Event(), anyio.Event()
            self._task = asyncio.get_running_loop().create_task(self._run(self._started, self._stop))
        await self._started.wait()
        if self._error is not None:
            raise RuntimeError("the MCP session manager failed to start") from self._error

    async def stop(self) -> None:
        if self._stop is not None and self._task is not None:
            self._stop.set()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self, started: anyio.Event, stop: anyio.Event) -> None:
        try:
            async with self.manager.run():
                started.set()
                await stop.wait()
        except Exception as exc:  # surfaced to every request by start()
            self._error = exc
        finally:
            started.set()

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.start()
                except RuntimeError as exc:
                    await send({"type": "lifespan.startup.failed", "message": str(exc.__cause__ or exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return
