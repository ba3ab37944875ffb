"""`switchboard mcp`: the catalogue served to MCP clients, driven by the real `mcp` SDK client.

Reads run; writes are only proposed (the write's invoke is never called), as the request of
the person the caller is, and only for an operator or above; bad arguments come back as
isError results the calling model can read."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from app.mcp_server import build_server, http_app
from app.services.auth import Principal
from connectors.base import ConnectorError
from tests.support.loopback import LoopbackServer
from tools.base import Catalogue, Tool

ORDER_SCHEMA = {
    "type": "object",
    "properties": {"order_id": {"type": "integer"}},
    "required": ["order_id"],
    "additionalProperties": False,
}
MESSAGE_SCHEMA = {
    "type": "object",
    "properties": {"to": {"type": "string"}, "body": {"type": "string", "minLength": 1}},
    "required": ["to", "body"],
    "additionalProperties": False,
}


class Shop:
    """A read tool and a write tool that record every time they actually run."""

    def __init__(self) -> None:
        self.reads: list[dict[str, Any]] = []
        self.writes: list[dict[str, Any]] = []
        self.proposals: list[tuple[str, dict[str, Any]]] = []
        self.askers: list[str] = []
        self.fail_reads = False
        self.extra: list[Tool] = []

    async def lookup(self, args: dict[str, Any], key: str | None) -> Any:
        if self.fail_reads:
            raise ConnectorError("shop answered 503: maintenance", status=503, retryable=True)
        self.reads.append(args)
        return {"order": args["order_id"], "status": "shipped", "email": "ann.lee@example.com"}

    async def send(self, args: dict[str, Any], key: str | None) -> Any:
        self.writes.append(args)
        return {"sent": True}

    def propose(self, tool: Tool, arguments: dict[str, Any], who: Principal) -> dict[str, Any]:
        self.proposals.append((tool.name, arguments))
        self.askers.append(who.name)
        return {"status": "pending_approval", "action_id": f"act-{len(self.proposals)}"}

    def catalogue(self) -> Catalogue:
        return Catalogue(
            [
                Tool(
                    "shop__lookup",
                    "shop",
                    "lookup",
                    "[shop, read] look up an order",
                    ORDER_SCHEMA,
                    "read",
                    "none",
                    self.lookup,
                ),
                Tool(
                    "shop__send_message",
                    "shop",
                    "send_message",
                    "[shop, write] send the customer a message",
                    MESSAGE_SCHEMA,
                    "write",
                    "check",
                    self.send,
                ),
                *self.extra,
            ]
        )


@pytest.fixture
def shop() -> Shop:
    return Shop()


ANN = Principal("ann", "operator")


def client_for(shop: Shop, audit: list[dict[str, Any]] | None = None, who: Principal | None = ANN) -> Client:
    server = build_server(
        shop.catalogue, shop.propose, audit=audit.append if audit is not None else None, caller=lambda: who
    )
    return Client(server)  # the SDK's in-process transport: the same handlers a stdio/HTTP client reaches


async def test_list_tools_shows_both_with_their_schemas(shop: Shop) -> None:
    async with client_for(shop) as client:
        listed = {t.name: t for t in (await client.list_tools()).tools}
    assert set(listed) == {"shop__lookup", "shop__send_message"}
    assert listed["shop__lookup"].input_schema == ORDER_SCHEMA
    assert listed["shop__send_message"].input_schema == MESSAGE_SCHEMA
    assert (
        listed["shop__lookup"].annotations is not None and listed["shop__lookup"].annotations.read_only_hint
    )
    write = listed["shop__send_message"]
    assert write.annotations is not None and write.annotations.read_only_hint is False
    assert write.description is not None and "approval" in write.description


async def test_a_read_runs_and_returns_its_data(shop: Shop) -> None:
    audit: list[dict[str, Any]] = []
    async with client_for(shop, audit) as client:
        result = await client.call_tool("shop__lookup", {"order_id": 48102})
    assert result.is_error is False
    assert result.structured_content == {"order": 48102, "status": "shipped", "email": "ann.lee@example.com"}
    assert '"status": "shipped"' in result.content[0].text  # type: ignore[union-attr]
    assert shop.reads == [{"order_id": 48102}]
    assert [(e["tool"], e["outcome"]) for e in audit] == [("shop__lookup", "ok")]


async def test_a_write_is_proposed_and_never_executed(shop: Shop) -> None:
    audit: list[dict[str, Any]] = []
    args = {"to": "ann.lee@example.com", "body": "Your refund is on its way."}
    async with client_for(shop, audit) as client:
        result = await client.call_tool("shop__send_message", args)
    assert result.is_error is False
    assert result.structured_content == {"status": "pending_approval", "action_id": "act-1"}
    text = result.content[0].text  # type: ignore[union-attr]
    assert "waiting for a person's approval" in text and "act-1" in text
    assert shop.writes == []  # the write's invoke was NOT called
    assert shop.proposals == [("shop__send_message", args)] and shop.askers == ["ann"]
    assert [(e["tool"], e["outcome"], e["caller"]) for e in audit] == [
        ("shop__send_message", "proposed", "ann")
    ]


@pytest.mark.parametrize(
    ("who", "why"),
    [
        (None, "does not know who is asking"),
        (Principal("val", "viewer"), "needs the operator role; val has viewer"),
    ],
)
async def test_a_write_needs_a_known_operator(shop: Shop, who: Principal | None, why: str) -> None:
    """No caller is never a shared identity anyone may approve for: it gets reads only, as a viewer does."""
    audit: list[dict[str, Any]] = []
    async with client_for(shop, audit, who) as client:
        read = await client.call_tool("shop__lookup", {"order_id": 1})
        write = await client.call_tool("shop__send_message", {"to": "ann.lee@example.com", "body": "hi"})
    assert read.is_error is False
    assert write.is_error is True and why in write.content[0].text  # type: ignore[union-attr]
    assert shop.proposals == [] and shop.writes == []
    assert [e["outcome"] for e in audit] == ["ok", "refused"]


async def test_invalid_arguments_are_an_error_result_and_nothing_runs(shop: Shop) -> None:
    async with client_for(shop) as client:
        bad_read = await client.call_tool("shop__lookup", {"order_id": "48102"})
        bad_write = await client.call_tool("shop__send_message", {"to": "ann.lee@example.com", "body": ""})
        extra = await client.call_tool("shop__send_message", {"to": "a", "body": "b", "approved": True})
    assert bad_read.is_error and "order_id: '48102' is not of type 'integer'" in bad_read.content[0].text  # type: ignore[union-attr]
    assert bad_write.is_error and "body:" in bad_write.content[0].text  # type: ignore[union-attr]
    assert extra.is_error and "approved" in extra.content[0].text  # type: ignore[union-attr]
    assert shop.reads == [] and shop.writes == [] and shop.proposals == []


async def test_unknown_tool_and_failing_read(shop: Shop) -> None:
    shop.fail_reads = True
    async with client_for(shop) as client:
        with pytest.raises(MCPError, match="unknown tool 'shop__refund'"):
            await client.call_tool("shop__refund", {})
        failed = await client.call_tool("shop__lookup", {"order_id": 1})
    assert failed.is_error and "maintenance" in failed.content[0].text  # type: ignore[union-attr]


async def test_the_catalogue_is_read_on_every_request(shop: Shop) -> None:
    async with client_for(shop) as client:
        assert len((await client.list_tools()).tools) == 2
        shop.extra.append(
            Tool(
                "crm__find",
                "crm",
                "find",
                "[crm, read] find a contact",
                ORDER_SCHEMA,
                "read",
                "none",
                shop.lookup,
            )
        )
        assert len((await client.list_tools(cache_mode="refresh")).tools) == 3
        assert (await client.call_tool("crm__find", {"order_id": 7})).structured_content["order"] == 7  # type: ignore[index]


def leaves(group: BaseExceptionGroup[MCPError]) -> list[MCPError]:
    return [
        e for sub in group.exceptions for e in (leaves(sub) if isinstance(sub, BaseExceptionGroup) else [sub])
    ]


@pytest.fixture
def served(shop: Shop) -> Iterator[str]:
    people = {"secret": Principal("ann", "operator"), "look": Principal("val", "viewer")}
    app = http_app(shop.catalogue, shop.propose, token_check=people.get)
    with LoopbackServer(app) as server:
        yield server.url + "/mcp"


async def test_over_streamable_http_with_a_bearer_token(shop: Shop, served: str) -> None:
    async with (
        httpx2.AsyncClient(headers={"Authorization": "Bearer secret"}) as http,
        Client(streamable_http_client(served, http_client=http)) as client,
    ):
        names = {t.name for t in (await client.list_tools()).tools}
        read = await client.call_tool("shop__lookup", {"order_id": 5})
        write = await client.call_tool("shop__send_message", {"to": "ann.lee@example.com", "body": "hi"})
    assert names == {"shop__lookup", "shop__send_message"}
    assert read.structured_content["order"] == 5  # type: ignore[index]
    assert write.structured_content == {"status": "pending_approval", "action_id": "act-1"}
    assert shop.writes == [] and shop.askers == ["ann"]  # the token's owner asked

    async with (
        httpx2.AsyncClient(headers={"Authorization": "Bearer look"}) as http,
        Client(streamable_http_client(served, http_client=http)) as client,
    ):
        assert (await client.call_tool("shop__lookup", {"order_id": 5})).is_error is False
        viewer = await client.call_tool("shop__send_message", {"to": "ann.lee@example.com", "body": "hi"})
    assert viewer.is_error and "val has viewer" in viewer.content[0].text  # type: ignore[union-attr]
    assert shop.askers == ["ann"]

    refused: list[MCPError] = []
    async with httpx2.AsyncClient(headers={"Authorization": "Bearer wrong"}) as http:
        try:  # the SDK raises from inside its task groups, so the error may come grouped
            async with Client(streamable_http_client(served, http_client=http)) as client:
                await client.list_tools()
        except* MCPError as group:
            refused = leaves(group)
    assert [e.message for e in refused] == ["Unauthorized"]
