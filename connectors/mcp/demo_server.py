"""A small MCP server for the demo and the tests: Northwind's inventory.

Built with the SDK's `MCPServer` (v1's FastMCP), so it speaks real MCP: three tools,
`lookup_sku` and `search_products` (read-only, and they say so with `readOnlyHint`)
and `reserve_stock` (a write). An unknown SKU or too little stock is a tool error
(`isError: true`), the way MCP servers report failures the model should read.

`create_app()` is the simulator: a FastAPI app answering MCP streamable HTTP at its
root and at `/mcp`, behind the shared fault/auth layer (`connectors.simulator_base`)
with `/_faults` and `/_state`, mountable under /sim/mcp/ like every simulator.
`python -m connectors.mcp.demo_server [--http --port N]` serves it on its own
(stdio by default), e.g. as the `command` of a stdio MCP connection.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import threading
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import Field
from typing_extensions import TypedDict

if TYPE_CHECKING:  # the HTTP side is imported when it is used: a stdio server starts faster without it
    from fastapi import FastAPI

    from connectors.simulator_base import Faults, SimulatorAuth

MCP_METHODS = ["GET", "POST", "DELETE"]


@dataclass
class Product:
    sku: str
    name: str
    price: float
    on_hand: int
    warehouse: str
    restock_date: str | None = None
    reserved: int = 0

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved


@dataclass
class Reservation:
    reservation_id: str
    sku: str
    quantity: int
    order_id: str
    note: str = ""


# Orders and products from the help-desk seed (connectors/helpdesk/seed.py), so a
# ticket about order NW-48102's broken blender can be checked against stock.
SEED_PRODUCTS = [
    Product("NW-BLND-129", "Vitamix-style blender, 2 L", 129.00, 14, "Columbus, OH"),
    Product("NW-CURT-LIN", "Linen curtains, pair, 84 in", 89.00, 40, "Columbus, OH"),
    Product("NW-DESK-STD", "Standing desk, walnut top", 499.00, 3, "Reno, NV"),
    Product("NW-KTL-STL", "Stainless steel kettle, 1.7 L", 49.00, 0, "Columbus, OH", "2025-07-14"),
    Product("NW-LAMP-BRS", "Brass floor lamp", 159.00, 7, "Reno, NV"),
]


@dataclass
class InventoryState:
    """Thread-safe: the demo's HTTP thread and in-process tests both touch it."""

    products: dict[str, Product] = field(default_factory=dict)
    reservations: list[Reservation] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1001), repr=False)

    def seed(self) -> None:
        with self.lock:
            for p in SEED_PRODUCTS:
                self.products[p.sku] = Product(**asdict(p))

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                "products": [asdict(p) | {"available": p.available} for p in self.products.values()],
                "reservations": [asdict(r) for r in self.reservations],
            }


class StockLevel(TypedDict):
    sku: str
    name: str
    price: float
    currency: str
    on_hand: int
    reserved: int
    available: int
    warehouse: str
    restock_date: str | None


class ProductHits(TypedDict):
    products: list[StockLevel]


class ReservationResult(TypedDict):
    reservation_id: str
    sku: str
    quantity: int
    order_id: str
    available_after: int


def _level(p: Product) -> StockLevel:
    return StockLevel(
        sku=p.sku,
        name=p.name,
        price=p.price,
        currency="USD",
        on_hand=p.on_hand,
        reserved=p.reserved,
        available=p.available,
        warehouse=p.warehouse,
        restock_date=p.restock_date,
    )


def build_server(state: InventoryState) -> MCPServer:
    """The MCP server over `state`. Tests may add tools to it before serving."""
    server = MCPServer(
        "northwind-inventory",
        version="1.0.0",
        instructions="Northwind's stock levels by SKU, and stock reservations for orders.",
        log_level="WARNING",
    )
    read_only = ToolAnnotations(read_only_hint=True, open_world_hint=False)

    @server.tool(annotations=read_only)
    def lookup_sku(sku: str) -> StockLevel:
        """Stock level, price and warehouse of one product, by SKU (for example NW-BLND-129)."""
        with state.lock:
            product = state.products.get(sku.strip().upper())
            if product is None:
                raise ToolError(f"unknown SKU {sku!r}")
            return _level(product)

    @server.tool(annotations=read_only)
    def search_products(
        query: str, limit: int = Field(default=5, ge=1, le=20), in_stock_only: bool = False
    ) -> ProductHits:
        """Products whose name or SKU contains the words of `query`."""
        words = query.lower().split()
        with state.lock:
            hits = [
                _level(p)
                for p in state.products.values()
                if all(w in f"{p.sku} {p.name}".lower() for w in words)
                and (p.available > 0 or not in_stock_only)
            ]
        return ProductHits(products=hits[:limit])

    @server.tool(annotations=ToolAnnotations(read_only_hint=False, destructive_hint=False))
    def reserve_stock(
        sku: str, quantity: int = Field(ge=1, le=100), order_id: str = Field(min_length=1), note: str = ""
    ) -> ReservationResult:
        """Hold `quantity` units of a product for an order, so they are not sold twice."""
        with state.lock:
            product = state.products.get(sku.strip().upper())
            if product is None:
                raise ToolError(f"unknown SKU {sku!r}")
            if quantity > product.available:
                raise ToolError(f"only {product.available} of {product.sku} available, asked for {quantity}")
            product.reserved += quantity
            reservation = Reservation(f"RSV-{next(state._ids)}", product.sku, quantity, order_id, note)
            state.reservations.append(reservation)
            return ReservationResult(
                reservation_id=reservation.reservation_id,
                sku=product.sku,
                quantity=quantity,
                order_id=order_id,
                available_after=product.available,
            )

    return server


def jsonrpc_error_body(status: int) -> dict[str, Any]:
    """What the SDK's own transport answers for an HTTP-level refusal: a JSON-RPC error, id null."""
    messages = {401: "Unauthorized", 429: "Too many requests", 503: "Service unavailable"}
    return {"jsonrpc": "2.0", "id": None, "error": {"code": -32000, "message": messages.get(status, "Error")}}


def create_app(
    state: InventoryState | None = None,
    *,
    seed: bool = True,
    auth: SimulatorAuth | None = None,
    faults: Faults | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    server: MCPServer | None = None,
    extra_hosts: list[str] | None = None,
) -> FastAPI:
    """The inventory MCP server as a simulator app; state, faults, auth and the MCPServer
    are on `app.state` for in-process tests. `extra_hosts` are Host values to accept
    besides loopback (DNS-rebinding protection), e.g. ["demo.example.com:*"]."""
    from starlette.routing import Route

    from connectors.mcp.asgi import McpHttpApp, loopback_security
    from connectors.simulator_base import Faults, SimulatorAuth, simulator_app

    state = state if state is not None else InventoryState()
    if seed and not state.products:
        state.seed()
    server = server or build_server(state)
    faults = faults or Faults()
    auth = auth or SimulatorAuth()
    app = simulator_app(
        "MCP simulator (Northwind inventory)",
        state_name="inventory",
        state=state,
        faults=faults,
        auth=auth,
        error_body=jsonrpc_error_body,
        sleep=sleep,
    )
    app.state.mcp = server
    # streamable_http_app() builds the SDK's session manager; McpHttpApp runs it even when mounted.
    server.streamable_http_app(stateless_http=True, transport_security=loopback_security(extra_hosts))
    endpoint = McpHttpApp(server.session_manager)
    app.state.mcp_endpoint = endpoint
    # At the root too, so a connection's base_url may be /sim/mcp/ or /sim/mcp/mcp.
    app.router.routes.append(Route("/", endpoint=endpoint, methods=MCP_METHODS))
    app.router.routes.append(Route("/mcp", endpoint=endpoint, methods=MCP_METHODS))
    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--http", action="store_true", help="serve streamable HTTP instead of stdio")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args(argv)
    if args.http:
        import uvicorn

        uvicorn.run(create_app(), host=args.host, port=args.port, log_level="warning")
    else:
        state = InventoryState()
        state.seed()
        build_server(state).run("stdio")


if __name__ == "__main__":
    main()
