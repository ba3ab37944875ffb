"""Any MCP server as a connection: McpConnector against the demo inventory server, built
with the real `mcp` SDK and served over loopback streamable HTTP."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from connectors.base import ConnectorError, OperationSpec
from connectors.http import BearerAuth, build_client
from connectors.mcp.client import McpConnector, sanitize_name, unique_names
from connectors.mcp.demo_server import InventoryState, build_server, create_app
from connectors.registry import CONNECTOR_TYPES
from connectors.simulator_base import SimulatorAuth
from connectors.simulators import SIMULATORS
from tests.connectors.conftest import FakeSleep, retry_policy
from tools.from_connector import tools_for

TOKEN = "mcp-demo-token"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def sim_app() -> FastAPI:
    return create_app(auth=SimulatorAuth(bearer=frozenset({TOKEN})))


@pytest.fixture
def sim_url(sim_app: FastAPI, serve_asgi: Callable[[Any], str]) -> str:
    return serve_asgi(sim_app)


@pytest.fixture
async def make_connector(sim_url: str, fake_sleep: FakeSleep) -> AsyncIterator[Callable[..., McpConnector]]:
    """`make(config=None, token=TOKEN, path="/mcp")`: a connector on the simulator, closed after the test."""
    made: list[McpConnector] = []

    def make(config: dict[str, Any] | None = None, *, token: str = TOKEN, path: str = "/mcp") -> McpConnector:
        client = build_client(
            sim_url + path, auth=BearerAuth(token), retry=retry_policy(fake_sleep), timeout=5
        )
        connector = McpConnector(client, config)
        made.append(connector)
        return connector

    yield make
    for connector in made:
        await connector.aclose()


def by_name(specs: list[OperationSpec]) -> dict[str, OperationSpec]:
    return {s.name: s for s in specs}


async def test_tools_are_listed_with_their_schemas(make_connector: Callable[..., McpConnector]) -> None:
    connector = make_connector()
    with pytest.raises(RuntimeError, match="refresh"):
        connector.operations()
    specs = by_name(await connector.refresh())
    assert set(specs) == {"lookup_sku", "search_products", "reserve_stock"}
    assert connector.server_name == "northwind-inventory"
    reserve = specs["reserve_stock"].input_schema
    assert reserve["type"] == "object"
    assert reserve["required"] == ["sku", "quantity", "order_id"]
    assert reserve["properties"]["quantity"]["minimum"] == 1
    assert specs["lookup_sku"].input_schema["properties"]["sku"]["type"] == "string"
    assert all(s.idempotency == "none" for s in specs.values())
    assert "Stock level" in specs["lookup_sku"].description

    tools = {t.name: t for t in tools_for("inventory", connector)}
    assert set(tools) == {"inventory__lookup_sku", "inventory__search_products", "inventory__reserve_stock"}
    assert tools["inventory__reserve_stock"].validate({"sku": "NW-DESK-STD", "quantity": 0, "order_id": "x"})


async def test_read_only_hint_without_confirmation_stays_a_write(
    make_connector: Callable[..., McpConnector],
) -> None:
    specs = by_name(await make_connector().refresh())
    assert {n: s.effect for n, s in specs.items()} == {
        "lookup_sku": "write",
        "search_products": "write",
        "reserve_stock": "write",
    }
    assert "server claims read-only; not confirmed" in specs["lookup_sku"].description
    assert "claims read-only" not in specs["reserve_stock"].description
    assert "claims_read_only" in specs["lookup_sku"].tags


async def test_confirmed_read_only_becomes_a_read_only_where_the_server_claims_it(
    make_connector: Callable[..., McpConnector],
) -> None:
    connector = make_connector({"confirmed_read_only": ["lookup_sku", "reserve_stock"]})
    specs = by_name(await connector.refresh())
    assert specs["lookup_sku"].effect == "read"
    assert "not confirmed" not in specs["lookup_sku"].description
    assert specs["search_products"].effect == "write"  # claimed, not confirmed
    assert specs["reserve_stock"].effect == "write"  # confirmed, but the server never claimed it
    assert "does not claim" in specs["reserve_stock"].description
    tools = {t.operation: t for t in tools_for("inventory", connector)}
    assert not tools["lookup_sku"].is_write and tools["reserve_stock"].is_write


async def test_call_round_trip_returns_structured_content_and_writes_land(
    make_connector: Callable[..., McpConnector], sim_app: FastAPI
) -> None:
    connector = make_connector({"confirmed_read_only": ["lookup_sku"]})
    tools = {t.operation: t for t in tools_for("inventory", await _refreshed(connector))}
    level = await tools["lookup_sku"].invoke({"sku": "NW-BLND-129"}, None)
    assert level["name"] == "Vitamix-style blender, 2 L"
    assert (level["on_hand"], level["available"], level["currency"]) == (14, 14, "USD")

    held = await tools["reserve_stock"].invoke(
        {"sku": "nw-desk-std", "quantity": 2, "order_id": "NW-45530"}, "a1"
    )
    assert held == {
        "reservation_id": "RSV-1001",
        "sku": "NW-DESK-STD",
        "quantity": 2,
        "order_id": "NW-45530",
        "available_after": 1,
    }
    state: InventoryState = sim_app.state.inventory
    assert [(r.sku, r.quantity, r.order_id) for r in state.reservations] == [("NW-DESK-STD", 2, "NW-45530")]
    assert (await tools["lookup_sku"].invoke({"sku": "NW-DESK-STD"}, None))["available"] == 1


async def test_an_is_error_result_raises_connector_error(
    make_connector: Callable[..., McpConnector], sim_app: FastAPI
) -> None:
    connector = await _refreshed(make_connector())
    specs = by_name(connector.operations())
    with pytest.raises(ConnectorError, match="unknown SKU 'NW-NOPE'") as info:
        await connector.call(specs["lookup_sku"], {"sku": "NW-NOPE"}, None)
    assert info.value.retryable is False
    with pytest.raises(ConnectorError, match="only 3 of NW-DESK-STD available, asked for 5"):
        await connector.call(
            specs["reserve_stock"], {"sku": "NW-DESK-STD", "quantity": 5, "order_id": "x"}, "a2"
        )
    assert sim_app.state.inventory.reservations == []


async def test_auth_comes_from_the_connectors_http_client(
    make_connector: Callable[..., McpConnector],
) -> None:
    with pytest.raises(ConnectorError, match="HTTP 401") as info:
        await make_connector(token="wrong").refresh()
    assert info.value.status == 401
    assert info.value.retryable is False
    assert len(await make_connector().refresh()) == 3


async def test_retries_of_the_http_client_apply_and_a_failed_write_is_not_retried(
    make_connector: Callable[..., McpConnector],
    sim_app: FastAPI,
    fake_sleep: FakeSleep,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    connector = await _refreshed(make_connector())
    reserve = by_name(connector.operations())["reserve_stock"]
    sim_app.state.faults.update({"rate_limit_next": 1, "retry_after": 2})
    held = await connector.call(reserve, {"sku": "NW-LAMP-BRS", "quantity": 1, "order_id": "NW-1"}, "a3")
    assert held["reservation_id"] == "RSV-1001"
    assert fake_sleep.delays == [2.0]  # the 429 was retried by RetryTransport, honouring Retry-After

    # A write lists its tool first (it must be the one proposed): a 502 there sent nothing.
    sim_app.state.faults.update({"fail_next": 1, "status": 502, "methods": ["POST"]})
    with pytest.raises(ConnectorError, match="HTTP 502") as info:
        await connector.call(reserve, {"sku": "NW-LAMP-BRS", "quantity": 1, "order_id": "NW-2"}, "a4")
    assert info.value.retryable is True and "failed on reserve_stock" in str(info.value)

    listed = connector._as_built

    async def then_fail(client: Any, spec: OperationSpec) -> Any:
        tool = await listed(client, spec)
        sim_app.state.faults.update({"fail_next": 1, "status": 502, "methods": ["POST"]})
        return tool  # the next POST is tools/call

    monkeypatch.setattr(connector, "_as_built", then_fail)
    with pytest.raises(ConnectorError, match="HTTP 502") as info:
        await connector.call(reserve, {"sku": "NW-LAMP-BRS", "quantity": 1, "order_id": "NW-2"}, "a4")
    assert info.value.retryable is False  # tools/call was sent: a write may have landed
    assert "may have run reserve_stock" in str(info.value)
    assert len(sim_app.state.inventory.reservations) == 1


async def test_tool_names_are_sanitized_and_mapped_back(serve_asgi: Callable[[Any], str]) -> None:
    state = InventoryState()
    state.seed()
    server = build_server(state)

    @server.tool(name="getWarehouse.Hours", structured_output=False)  # text content only
    def hours(warehouse: str) -> str:
        """Opening hours of a warehouse."""
        return f"{warehouse}: Mon-Fri 8:00-18:00"

    url = serve_asgi(create_app(state, server=server))
    # The demo mounts the app at /sim/mcp/: the endpoint answers at the app's root too.
    connector = McpConnector(httpx.AsyncClient(base_url=url + "/"))
    specs = by_name(await connector.refresh())
    spec = specs["get_warehouse_hours"]
    assert connector.real_name("get_warehouse_hours") == "getWarehouse.Hours"
    assert "'getWarehouse.Hours'" in spec.description
    assert await connector.call(spec, {"warehouse": "Reno, NV"}, None) == "Reno, NV: Mon-Fri 8:00-18:00"
    await connector.aclose()


def test_sanitize_and_unique_names() -> None:
    assert sanitize_name("getOrderStatus") == "get_order_status"
    assert sanitize_name("files/read-text") == "files_read_text"
    assert sanitize_name("__") == "tool"
    assert len(sanitize_name("x" * 200)) == 48
    names = unique_names(["a-b", "a_b", "A.B", "getOrder"])
    assert names["getOrder"] == "get_order"  # unique: its sanitized name
    colliding = [names[n] for n in ("a-b", "a_b", "A.B")]
    assert len(set(colliding)) == 3 and all(n.startswith("a_b_") for n in colliding)


def test_a_tool_added_later_never_takes_over_a_name_an_approved_write_points_at() -> None:
    """An approved action names its operation; whatever the server lists next, that name
    means the same tool or no tool at all."""
    before = unique_names(["getOrder", "get_order.v2", "cancelOrder"])
    for added in (["get-order"], ["Get.Order", "get order"], ["cancel-order", "cancel_order"]):
        after = unique_names([*before, *added])
        meant = {op: real for real, op in before.items()}
        now = {op: real for real, op in after.items()}
        for op, real in meant.items():
            assert now.get(op, real) == real, f"{op} moved from {real} to {now.get(op)} when {added} came"


async def test_a_server_that_cannot_be_reached_is_a_retryable_connector_error() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    connector = McpConnector(
        httpx.AsyncClient(base_url="http://mcp.test/mcp", transport=httpx.MockTransport(refuse))
    )
    with pytest.raises(ConnectorError, match="connection refused") as info:
        await connector.refresh()
    assert info.value.retryable is True
    await connector.aclose()


async def test_stdio_server_from_a_command() -> None:
    connector = McpConnector(
        httpx.AsyncClient(),
        {
            "command": [sys.executable, "-m", "connectors.mcp.demo_server"],
            "cwd": str(ROOT),
            "confirmed_read_only": ["lookup_sku"],
        },
    )
    specs = by_name(await connector.refresh())
    assert specs["lookup_sku"].effect == "read" and specs["reserve_stock"].effect == "write"
    level = await connector.call(specs["lookup_sku"], {"sku": "NW-KTL-STL"}, None)
    assert (level["available"], level["restock_date"]) == (0, "2025-07-14")
    await connector.aclose()


def test_registered_as_kind_mcp_with_a_mountable_simulator() -> None:
    assert CONNECTOR_TYPES["mcp"] is McpConnector
    assert isinstance(SIMULATORS["mcp"](seed=False), FastAPI)


async def _refreshed(connector: McpConnector) -> McpConnector:
    await connector.refresh()
    return connector


async def test_served_alone_the_mcp_endpoint_answers_lifespan_events() -> None:
    endpoint = create_app().state.mcp_endpoint
    inbox = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return inbox.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await endpoint({"type": "lifespan"}, receive, send)
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
