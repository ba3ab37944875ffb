"""Believable Shopify data for Northwind's online store.

Customers share emails with the payments, CRM and help-desk seeds; products carry the
SKUs the inventory MCP server knows (connectors/mcp/demo_server.py), so an order's line
items can be checked against stock. Orders #1001-#1006: older ones paid and fulfilled,
#1005 paid and waiting for the warehouse, #1006 only authorized (payment not captured).
Each order's transaction names the Stripe charge in `authorization`, the way a store
using Stripe as its payment gateway records it; the demo gives each its charge in the
payments simulator (app/demo.py, link_shop_payments).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from connectors.shop.simulator import ShopState

DAY = 86400


@dataclass(frozen=True)
class SeedCustomer:
    first_name: str
    last_name: str
    email: str
    city: str
    province: str
    zip: str
    province_code: str
    country: str = "United States"
    country_code: str = "US"
    address1: str = ""


@dataclass(frozen=True)
class SeedProduct:
    title: str
    sku: str
    price: str
    product_type: str
    grams: int


@dataclass(frozen=True)
class SeedOrder:
    email: str
    items: tuple[tuple[str, int], ...]  # (sku, quantity)
    days_ago: float
    financial_status: str  # paid | authorized
    fulfilled: bool
    charge: str  # the Stripe charge id recorded on the transaction


CUSTOMERS = [
    SeedCustomer(
        "Dana",
        "Whitfield",
        "dana.whitfield@example.com",
        "Chicago",
        "Illinois",
        "60614",
        "IL",
        address1="2217 N Clark St",
    ),
    SeedCustomer(
        "Kevin",
        "Doyle",
        "kevin.doyle@example.net",
        "Denver",
        "Colorado",
        "80205",
        "CO",
        address1="3100 Blake St",
    ),
    SeedCustomer(
        "Ann",
        "Lee",
        "ann.lee@example.com",
        "Seattle",
        "Washington",
        "98103",
        "WA",
        address1="4012 Fremont Ave N",
    ),
    SeedCustomer(
        "Raj",
        "Patel",
        "raj.patel@example.org",
        "San Jose",
        "California",
        "95112",
        "CA",
        address1="88 E Santa Clara St",
    ),
    SeedCustomer(
        "Maria",
        "Gonzalez",
        "maria.gonzalez@example.com",
        "Austin",
        "Texas",
        "78704",
        "TX",
        address1="1500 S Lamar Blvd",
    ),
]

PRODUCTS = [
    SeedProduct("Vitamix-style blender, 2 L", "NW-BLND-129", "129.00", "Kitchen", 4100),
    SeedProduct("Linen curtains, pair, 84 in", "NW-CURT-LIN", "89.00", "Home textiles", 1800),
    SeedProduct("Standing desk, walnut top", "NW-DESK-STD", "499.00", "Furniture", 31000),
    SeedProduct("Stainless steel kettle, 1.7 L", "NW-KTL-STL", "49.00", "Kitchen", 1200),
    SeedProduct("Brass floor lamp", "NW-LAMP-BRS", "159.00", "Lighting", 5200),
]

ORDERS = [
    SeedOrder("dana.whitfield@example.com", (("NW-BLND-129", 1),), 4, "paid", True, "ch_3Nw48102BlenderDana"),
    SeedOrder("kevin.doyle@example.net", (("NW-DESK-STD", 1),), 40, "paid", True, "ch_3Nw45530DeskKevin"),
    SeedOrder("ann.lee@example.com", (("NW-CURT-LIN", 2),), 12, "paid", True, "ch_3Nw46101CurtainsAnn"),
    SeedOrder("maria.gonzalez@example.com", (("NW-LAMP-BRS", 1),), 6, "paid", True, "ch_3Nw47420LampMaria"),
    SeedOrder(
        "raj.patel@example.org",
        (("NW-BLND-129", 1), ("NW-CURT-LIN", 1)),
        0.2,
        "paid",
        False,
        "ch_3Nw49001RajBlend",
    ),
    SeedOrder("ann.lee@example.com", (("NW-LAMP-BRS", 1),), 0.05, "authorized", False, "ch_3Nw49002AnnLamp"),
]


def seed(state: ShopState, *, now: float | None = None) -> None:
    """Fill an empty state with the customers, products and orders above."""
    t = now if now is not None else state.now()
    for i, c in enumerate(CUSTOMERS):
        state.add_customer(c, created=t - (300 - 30 * i) * DAY)
    for i, p in enumerate(PRODUCTS):
        state.add_product(p, created=t - (500 - 10 * i) * DAY)
    for o in ORDERS:
        order = state.place_order(
            o.email,
            [{"sku": sku, "quantity": q} for sku, q in o.items],
            payment_reference=o.charge,
            financial_status=o.financial_status,
            created=t - o.days_ago * DAY,
            notify=False,
        )
        if o.fulfilled:
            [fo] = state.fulfillment_orders_for(order["id"])
            state.fulfill(
                [fo["id"]],
                {"number": f"1Z999AA1{order['order_number']:08d}", "company": "UPS"},
                notify_customer=False,
                created=t - (o.days_ago - 1) * DAY,
            )
