"""Any MCP server as a connection (kind "mcp"): its tools become operations.

Unlike other connectors the operations are not known in advance: they are the
server's tools, listed with `tools/list`. So the owner of a connector instance must
`await connector.refresh()` (alias `connect()`) before `connector.operations()`,
and again whenever the server's tools may have changed; `operations()` raises
until the first refresh.

Transports:
- streamable HTTP (default): the connection's `base_url` is the MCP endpoint
  (e.g. `https://mcp.example.com/mcp`; a trailing slash is dropped, and a server
  that wants it back answers 307, which the SDK follows). The SDK speaks httpx2,
  so its requests are sent through the `httpx.AsyncClient` this connector is given
  (`HttpxBridge`): auth, retries, rate limits and test transports all apply.
  Config `{"url": ...}` overrides the endpoint exactly as written; `{"timeout": s}`
  bounds each MCP request (default 30).
- stdio: config `{"command": ["npx", "-y", "some-mcp-server"], "env": {...}, "cwd": "..."}`.
  The process is started for each refresh and call and ends with it.

Each refresh or call opens its own short MCP session. A session is a set of anyio
task groups bound to the task that opened it, while a connector is shared by runs
on any task (and any worker), so no session outlives the call that opened it. The
version the server negotiated is remembered, so later sessions skip the probe.

Trust: tool annotations are the server's claims. Every tool is a write (it goes
through the approval gate) unless the server says `readOnlyHint: true` AND the
connection's owner confirmed it in config: `{"confirmed_read_only": ["lookup_sku"]}`.
MCP has no idempotency keys, so writes have idempotency "none": the executor never
retries one after a crash. A server may change its tools at any time, so every call lists
them first, in its session: a tool runs only while listed exactly as its operation was built
from it (its `version`, which a proposed write keeps: what was approved is what runs).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections import Counter
from contextlib import AsyncExitStack
from typing import Any, ClassVar

import httpx
import httpx2
import mcp.types as mtypes
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError, best_match
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from connectors.base import Connector, ConnectorError, Effect, OperationSpec

log = logging.getLogger(__name__)

CLIENT_INFO = mtypes.Implementation(name="switchboard", version="0.1.0")
MAX_DESCRIPTION = 1000
MAX_OPERATION_NAME = 48  # leaves room for "<connection>__" within the 64 characters tool names allow
_HOP_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection", "user-agent"})


# --- names ---------------------------------------------------------------------------


def sanitize_name(name: str) -> str:
    """An MCP tool name as an operation name: [a-z0-9_], snake_case, at most 48 characters."""
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name)  # getOrderStatus -> get_Order_Status
    clean = re.sub(r"[^a-z0-9]+", "_", snake.lower()).strip("_")
    clean = clean[:MAX_OPERATION_NAME].rstrip("_")
    return clean or "tool"


def unique_names(names: list[str]) -> dict[str, str]:
    """real name -> operation name, unique, and never one that another real name had before.

    An approved action names its operation; it must call the same server tool whenever it
    runs, even if the server's list changed since. So names that collide after sanitizing
    (`getOrder`, `get-order`) all take a suffix from a hash of their own real name, not a
    number from their order in the list: a tool added later can never take over a name an
    approved write points at. It can only make a formerly unique name collide, and then that
    name disappears (the write fails as unknown, for a person to see) rather than move."""
    groups: dict[str, list[str]] = {}
    for real in sorted(set(names)):
        groups.setdefault(sanitize_name(real), []).append(real)
    out: dict[str, str] = {}
    for base, members in groups.items():
        if len(members) == 1:
            out[members[0]] = base
            continue
        for real in members:
            digest = hashlib.sha256(real.encode()).hexdigest()
            width = 6
            while True:  # a longer digest in the (unlikely) case two of them agree this far
                suffix = "_" + digest[:width]
                candidate = base[: MAX_OPERATION_NAME - len(suffix)] + suffix
                if candidate not in out.values() and candidate not in groups:
                    break
                width += 2
            out[real] = candidate
    return out


# --- httpx -> httpx2 ---------------------------------------------------------------------


class _BridgedStream(httpx2.AsyncByteStream):
    def __init__(self, response: httpx.Response):
        self._response = response

    async def __aiter__(self):  # type: ignore[no-untyped-def]
        try:
            async for chunk in self._response.aiter_raw():
                yield chunk
        except httpx.TransportError as exc:
            raise _as_httpx2(exc) from exc

    async def aclose(self) -> None:
        await self._response.aclose()


def _as_httpx2(exc: httpx.TransportError) -> httpx2.TransportError:
    """The same failure in httpx2's terms (the SDK reasons about httpx2 exceptions)."""
    kind = getattr(httpx2, type(exc).__name__, None)
    if not (isinstance(kind, type) and issubclass(kind, httpx2.TransportError)):
        kind = httpx2.TransportError
    return kind(str(exc) or type(exc).__name__)


class HttpxBridge(httpx2.AsyncBaseTransport):
    """An httpx2 transport that sends every request through a connector's httpx client.

    The MCP SDK talks httpx2; Switchboard hands connectors an `httpx.AsyncClient` with
    auth, retries (RetryTransport) and rate limits attached. Bodies stream both ways,
    so the SDK's server-sent events arrive as they are sent. The statuses of failed
    answers are kept (`last_error_status`): the SDK turns them into generic
    JSON-RPC errors, and a person checking a connection wants to know it was a 401.
    Only POSTs count: they carry the JSON-RPC messages whose failure the SDK raises. Its GET
    (an SSE stream) and closing DELETE may be refused with 405, as the transport allows, and
    their failures never fail a request: a 503 outage must not be reported as that 405.
    """

    def __init__(self, client: httpx.AsyncClient):
        self.client = client
        self.last_error_status: int | None = None

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        body = await request.aread()
        headers = [(k, v) for k, v in request.headers.multi_items() if k.lower() not in _HOP_HEADERS]
        outgoing = self.client.build_request(request.method, str(request.url), headers=headers, content=body)
        try:
            response = await self.client.send(outgoing, stream=True)
        except httpx.TransportError as exc:
            raise _as_httpx2(exc) from exc
        if response.status_code >= 400 and request.method == "POST":
            self.last_error_status = response.status_code
        return httpx2.Response(
            response.status_code,
            headers=response.headers.multi_items(),
            stream=_BridgedStream(response),
            request=request,
        )


# --- results ------------------------------------------------------------------------------


def _content_text(blocks: list[Any]) -> str:
    return "\n".join(b.text for b in blocks if isinstance(b, mtypes.TextContent)).strip()


def result_value(result: mtypes.CallToolResult) -> Any:
    """What a tool call returns to the run: structured content if any, else its text.

    Non-text blocks (images, audio, resources) are described, never passed on as
    base64: a model cannot read it and it would eat the token budget."""
    if result.structured_content is not None:
        return result.structured_content
    blocks = result.content
    if all(isinstance(b, mtypes.TextContent) for b in blocks):
        return _content_text(blocks)
    out: list[dict[str, Any]] = []
    for b in blocks:
        if isinstance(b, mtypes.TextContent):
            out.append({"type": "text", "text": b.text})
        elif isinstance(b, mtypes.ImageContent | mtypes.AudioContent):
            out.append({"type": b.type, "mime_type": b.mime_type, "omitted": "binary content"})
        elif isinstance(b, mtypes.ResourceLink):
            out.append({"type": "resource_link", "uri": str(b.uri), "name": b.name})
        elif isinstance(b, mtypes.EmbeddedResource):
            res = b.resource
            text = getattr(res, "text", None)
            out.append({"type": "resource", "uri": str(res.uri), "text": text or "(binary content omitted)"})
        else:
            out.append({"type": getattr(b, "type", "unknown")})
    return out


def _leaf(exc: BaseException) -> BaseException:
    """The first real error inside (nested) exception groups from anyio task groups."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def _definition(tool: mtypes.Tool) -> str:
    """A tool's definition as the effect of it was decided from: its description, input schema
    and annotations, canonically written (a changed word, argument or hint changes it)."""
    annotations = tool.annotations.model_dump(mode="json", exclude_none=True) if tool.annotations else {}
    about = {
        "description": tool.description,
        "title": tool.title,
        "input_schema": tool.input_schema,
        "annotations": annotations,
    }
    return hashlib.sha256(json.dumps(about, sort_keys=True, default=str).encode()).hexdigest()


def _version(tool: mtypes.Tool) -> str:
    """Which tool an operation was built from: its real name and its definition (an operation
    name may move to another real name, or keep it for another definition)."""
    return hashlib.sha256(json.dumps([tool.name, _definition(tool)]).encode()).hexdigest()


def _off_schema(tool: mtypes.Tool, result: mtypes.CallToolResult) -> str | None:
    """How a result breaks its tool's declared output schema, if it does (None if it has none)."""
    if not tool.output_schema or result.is_error:
        return None
    try:
        Draft202012Validator.check_schema(tool.output_schema)
        error = best_match(Draft202012Validator(tool.output_schema).iter_errors(result.structured_content))
    except Exception as exc:
        # The server's schema, not its answer: whatever goes wrong applying it (a $ref that leads
        # back to itself) is said, never raised after a write that was done.
        return f"its output schema cannot be used: {type(exc).__name__}: {str(exc)[:200]}"
    return error.message if error is not None else None


# --- the connector ----------------------------------------------------------------------


class McpConnector(Connector):
    """Tools of any MCP server (streamable HTTP or stdio) as operations."""

    kind: ClassVar[str] = "mcp"
    description: ClassVar[str] = "Any Model Context Protocol server: its tools, listed when connecting."

    def __init__(self, client: httpx.AsyncClient, config: dict[str, Any] | None = None):
        super().__init__(client, config)
        self.confirmed_read_only = frozenset(self.config.get("confirmed_read_only") or ())
        # The definition each confirmed read had when it was first listed after its confirmation
        # (kept in the connection's config by the pool): a changed one is a write again until
        # its owner confirms it anew, by taking its entry out of this map.
        self.confirmed_definitions: dict[str, str] = dict(self.config.get("confirmed_definitions") or {})
        self.timeout = float(self.config.get("timeout", 30.0))
        self.server_name: str | None = None
        self.skipped: dict[str, str] = {}  # real tool name -> why it is not offered
        self._specs: list[OperationSpec] | None = None
        self._real_names: dict[str, str] = {}  # operation name -> the server's tool name
        # The server's tool name -> its definition as listed when the operations were built (the
        # reads among them are pinned at their first listing: see `unpinned_reads`).
        self._definitions: dict[str, str] = {}
        self._mode: str = "auto"
        self._prior_discover: mtypes.DiscoverResult | None = None

    # -- where the server is ---------------------------------------------------------

    @property
    def endpoint(self) -> str:
        if self.config.get("command"):
            return " ".join(str(c) for c in self.config["command"])
        return str(self.config.get("url") or self.client.base_url).rstrip("/")

    async def _transport(self, stack: AsyncExitStack, bridge: HttpxBridge) -> Any:
        command = self.config.get("command")
        if command:
            if isinstance(command, str):
                command = command.split()
            return StdioServerParameters(
                command=str(command[0]),
                args=[str(a) for a in command[1:]],
                env=self.config.get("env"),
                cwd=self.config.get("cwd"),
            )
        # follow_redirects is off: the SDK follows same-origin redirects itself.
        http = await stack.enter_async_context(httpx2.AsyncClient(transport=bridge, follow_redirects=False))
        return streamable_http_client(self.endpoint, http_client=http)

    async def _open(self, stack: AsyncExitStack, bridge: HttpxBridge) -> Client:
        """A new MCP session, closed with `stack`; `bridge` (one per session) sees its HTTP answers."""
        client = Client(
            await self._transport(stack, bridge),
            mode=self._mode,
            prior_discover=self._prior_discover,
            client_info=CLIENT_INFO,
            read_timeout_seconds=self.timeout,
            cache=None,
        )
        await stack.enter_async_context(client)
        if self._mode == "auto":  # remember what the server speaks; later sessions skip the probe
            session = client.session
            if session.discover_result is not None:
                self._mode, self._prior_discover = client.protocol_version, session.discover_result
            elif session.initialize_result is not None:
                self._mode = "legacy"
        bridge.last_error_status = None  # a probe the server refused is not this call's failure
        return client

    def _error(
        self, what: str, exc: BaseException, bridge: HttpxBridge, *, retryable: bool
    ) -> ConnectorError:
        exc = _leaf(exc)
        status = bridge.last_error_status
        detail = exc.message if isinstance(exc, MCPError) else (str(exc) or type(exc).__name__)
        if status is not None:
            detail = f"HTTP {status}: {detail}"
        if status is not None and 400 <= status < 500 and status not in (408, 429):
            retryable = False  # bad credentials or a bad request: trying again will not help
        return ConnectorError(
            f"MCP server {self.server_name or self.endpoint} {what}: {detail}",
            status=status,
            retryable=retryable or status == 429,  # a 429 was refused, not acted on
        )

    # -- operations ------------------------------------------------------------------

    async def refresh(self) -> list[OperationSpec]:
        """List the server's tools (all pages) and rebuild the operations from them."""
        bridge = HttpxBridge(self.client)
        tools: list[mtypes.Tool] = []
        try:
            async with AsyncExitStack() as stack:
                client = await self._open(stack, bridge)
                info = client.server_info
                self.server_name = info.name if info is not None else None
                cursor: str | None = None
                for _ in range(100):  # a server whose cursor never ends cannot hang a refresh
                    page = await client.list_tools(cursor=cursor)
                    tools.extend(page.tools)
                    cursor = page.next_cursor
                    if not cursor:
                        break
        except Exception as exc:  # listing is a read: always safe to try again
            raise self._error("could not list its tools", exc, bridge, retryable=True) from _leaf(exc)
        self._build(tools)
        assert self._specs is not None
        return self._specs

    connect = refresh

    def _build(self, tools: list[mtypes.Tool]) -> None:
        names = unique_names([t.name for t in tools])
        specs: list[OperationSpec] = []
        real: dict[str, str] = {}
        definitions: dict[str, str] = {}
        self.skipped = {}
        counts = Counter(t.name for t in tools)
        for tool in tools:
            if counts[tool.name] > 1:
                # A name identifies one tool; listed twice (say a write, then a read) it names
                # neither for sure, so neither is offered. Its name still counts in `names`, so
                # no other tool takes it over.
                self.skipped[tool.name] = f"the server lists it {counts[tool.name]} times"
                log.warning("MCP tool %r skipped: %s", tool.name, self.skipped[tool.name])
                continue
            schema = dict(tool.input_schema or {})
            schema.setdefault("type", "object")
            schema.pop("title", None)  # e.g. "lookup_skuArguments": noise to a model
            try:
                Draft202012Validator.check_schema(schema)
            except SchemaError as exc:
                self.skipped[tool.name] = f"its input schema is not valid JSON Schema: {exc.message}"
                log.warning("MCP tool %r skipped: %s", tool.name, self.skipped[tool.name])
                continue
            if schema.get("type") != "object":
                self.skipped[tool.name] = "its input schema does not describe an object"
                continue
            op = names[tool.name]
            effect, note = self._effect(tool, op)
            # The server's words (untrusted, like any outside text): kept short; they cannot widen the gate.
            text = " ".join((tool.description or tool.title or tool.name).split())[:MAX_DESCRIPTION]
            if op != tool.name:
                text += f" (MCP tool {tool.name!r})"
            claims = tool.annotations is not None and tool.annotations.read_only_hint is True
            specs.append(
                OperationSpec(
                    name=op,
                    description=f"{text} {note}".strip(),
                    effect=effect,
                    idempotency="none",
                    input_schema=schema,
                    method_name=tool.name,
                    tags=("mcp", "claims_read_only") if claims else ("mcp",),
                    version=_version(tool),
                )
            )
            real[op] = tool.name
            definitions[tool.name] = _definition(tool)
        self._specs = sorted(specs, key=lambda s: s.name)
        self._real_names = real
        self._definitions = definitions

    def _effect(self, tool: mtypes.Tool, op: str) -> tuple[Effect, str]:
        """(effect, note for the description): read only when claimed AND confirmed."""
        claims = tool.annotations is not None and tool.annotations.read_only_hint is True
        confirmed = tool.name in self.confirmed_read_only or op in self.confirmed_read_only
        pinned = self.confirmed_definitions.get(tool.name)
        if claims and confirmed and pinned is not None and pinned != _definition(tool):
            return "write", "(changed since its owner confirmed it as read-only: confirm it again)"
        if claims and confirmed and pinned is None and self._pinned_as_another(tool.name, op):
            # Confirmed by its operation's name, which another real tool held when it was pinned:
            # a server that renames a confirmed tool ("lookup_sku" to "lookup-sku") gets no read.
            return "write", "(not the tool its owner confirmed under this name: confirm it again)"
        if claims and confirmed:
            return "read", ""
        if claims:
            return "write", "(server claims read-only; not confirmed)"
        if confirmed:
            return "write", "(listed as read-only by the owner, but the server does not claim it)"
        return "write", ""

    def _pinned_as_another(self, name: str, op: str) -> bool:
        """Whether a definition was pinned for another real tool whose name gives operation `op`."""
        return any(real != name and sanitize_name(real) == op for real in self.confirmed_definitions)

    def unpinned_reads(self) -> dict[str, str]:
        """Confirmed reads listed for the first time since their confirmation: tool name ->
        definition, for the pool to keep as `confirmed_definitions`."""
        reads = {s.method_name for s in self._specs or [] if s.effect == "read"}
        return {
            name: definition
            for name, definition in self._definitions.items()
            if name in reads and name not in self.confirmed_definitions
        }

    def operations(self) -> list[OperationSpec]:  # type: ignore[override]
        """The server's tools as of the last `refresh()` (instance-level, unlike other connectors)."""
        if self._specs is None:
            raise RuntimeError("McpConnector.operations(): await connector.refresh() first")
        return list(self._specs)

    def real_name(self, operation: str) -> str:
        """The server's own name for an operation."""
        return self._real_names[operation]

    async def call(self, spec: OperationSpec, arguments: dict[str, Any], idempotency_key: str | None) -> Any:
        """`tools/call`: structured content or text; an `isError` result raises ConnectorError.

        Only the tool `spec` was built from is called: listed now as it was then (see `_as_built`).
        An answer without `isError` is the server saying the tool ran: for a write, that is done,
        whatever follows. So the request is sent without the SDK's check of the result against
        the tool's output schema (which lists the tools again and raises after the tool ran), and
        a session that fails to close after the answer came does not fail the call."""
        # The tool the effect was decided for: never a name a later listing moved to another tool.
        name = spec.method_name or spec.name
        bridge = HttpxBridge(self.client)
        sent = False
        result: mtypes.CallToolResult | None = None
        try:
            async with AsyncExitStack() as stack:
                client = await self._open(stack, bridge)
                tool = await self._as_built(client, spec)
                sent = True
                request = mtypes.CallToolRequest(
                    params=mtypes.CallToolRequestParams(name=name, arguments=arguments)
                )
                result = await client.session.send_request(request, mtypes.CallToolResult)
        except Exception as exc:
            if isinstance(_leaf(exc), ConnectorError):  # our own refusal, wrapped by the session's tasks
                raise _leaf(exc) from None
            if result is None:
                raise self._failed(name, exc, bridge, sent=sent, write=spec.effect != "read") from _leaf(exc)
            log.warning("MCP session on %s failed after %s answered: %s", self.endpoint, name, _leaf(exc))
        assert result is not None
        if result.is_error:
            text = _content_text(result.content) or json.dumps(result.structured_content, default=str)
            raise ConnectorError(f"MCP tool {name} reported an error: {text[:1000]}", retryable=False)
        if (off := _off_schema(tool, result)) is not None:  # a bad answer, not a call that failed
            log.warning("MCP tool %s on %s answered outside its output schema: %s", name, self.endpoint, off)
        return result_value(result)

    def _failed(
        self, name: str, exc: BaseException, bridge: HttpxBridge, *, sent: bool, write: bool
    ) -> ConnectorError:
        """Before tools/call went out nothing happened; after, a write may have landed, and only a
        person can find out: never retried, and never said to have not happened."""
        if sent and write:
            return self._error(
                f"may have run {name} (its answer was lost: check before retrying)",
                exc,
                bridge,
                retryable=False,
            )
        return self._error(f"failed on {name}", exc, bridge, retryable=True)

    async def _as_built(self, client: Client, spec: OperationSpec) -> mtypes.Tool:
        """The tool `spec` calls, listed now exactly as when `spec` was built from it, or raises
        before anything is sent. A server may change its tools at any time: a read runs without a
        person, and a write as its approver saw it, only while the tool is what it was."""
        name, where = spec.method_name, self.server_name or self.endpoint
        found: list[mtypes.Tool] = []
        cursor: str | None = None
        for _ in range(100):
            page = await client.list_tools(cursor=cursor)
            found += [t for t in page.tools if t.name == name]
            cursor = page.next_cursor
            if not cursor:
                break
        if not found:
            raise ConnectorError(f"MCP server {where} no longer lists {name}: not run", retryable=False)
        if len(found) > 1:
            raise ConnectorError(
                f"MCP server {where} lists {name} {len(found)} times: not run", retryable=False
            )
        tool = found[0]
        if spec.effect != "read":
            if _version(tool) != spec.version:
                raise ConnectorError(
                    f"MCP tool {name} changed on {where} (its description, input schema or annotations) "
                    "since this write was proposed: not sent; dismiss it and propose it again",
                    retryable=False,
                )
            return tool
        if not (tool.annotations is not None and tool.annotations.read_only_hint is True):
            raise ConnectorError(
                f"MCP tool {name} is no longer read-only on {where}: "
                "not run as a read; test the connection to offer it as a write",
                retryable=False,
            )
        if _version(tool) != spec.version:
            raise ConnectorError(
                f"MCP tool {name} changed on {where} (its description, input schema or annotations) "
                "since it was listed as a read: not run; test the connection to list it again",
                retryable=False,
            )
        return tool

    async def check(self) -> dict[str, Any]:
        specs = await self.refresh()
        return {
            "ok": True,
            "server": self.server_name,
            "tools": len(specs),
            "reads": sum(1 for s in specs if s.effect == "read"),
            "skipped": sorted(self.skipped),
        }
