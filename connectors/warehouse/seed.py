"""Believable ShipStation data for Northwind: two warehouses (the inventory server's
Columbus and Reno) and shipments for the store's orders already sent (#1001-#1004,
connectors/shop/seed.py), with labels and tracking."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from connectors.warehouse.simulator import WarehouseState

DAY = 86400

WAREHOUSES = [
    ("Columbus DC", "4400 Fisher Rd", "Columbus", "OH", "43228"),
    ("Reno DC", "1 Electric Ave", "Reno", "NV", "89506"),
]

# (order number, name, street, city, state, zip, warehouse index, [(sku, name, qty)], days ago, delivered)
SHIPMENTS = [
    (
        "1001",
        "Dana Whitfield",
        "2217 N Clark St",
        "Chicago",
        "IL",
        "60614",
        0,
        [("NW-BLND-129", "Vitamix-style blender, 2 L", 1)],
        3,
        True,
    ),
    (
        "1002",
        "Kevin Doyle",
        "3100 Blake St",
        "Denver",
        "CO",
        "80205",
        1,
        [("NW-DESK-STD", "Standing desk, walnut top", 1)],
        39,
        True,
    ),
    (
        "1003",
        "Ann Lee",
        "4012 Fremont Ave N",
        "Seattle",
        "WA",
        "98103",
        0,
        [("NW-CURT-LIN", "Linen curtains, pair, 84 in", 2)],
        11,
        True,
    ),
    (
        "1004",
        "Maria Gonzalez",
        "1500 S Lamar Blvd",
        "Austin",
        "TX",
        "78704",
        1,
        [("NW-LAMP-BRS", "Brass floor lamp", 1)],
        5,
        False,
    ),
]


def seed(state: WarehouseState, *, now: float | None = None) -> None:
    t = now if now is not None else state.now()
    ids = [state.add_warehouse(*w) for w in WAREHOUSES]
    for number, name, street, city, st, zip_, wh, items, days, delivered in SHIPMENTS:
        shipment = state.create_shipment(
            {
                "external_shipment_id": f"shopify-order-{number}",
                "warehouse_id": ids[wh],
                "service_code": "ups_ground",
                "ship_to": {
                    "name": name,
                    "address_line1": street,
                    "city_locality": city,
                    "state_province": st,
                    "postal_code": zip_,
                    "country_code": "US",
                },
                "items": [{"sku": s, "name": n, "quantity": q} for s, n, q in items],
                "packages": [{"weight": {"value": 5.0, "unit": "pound"}}],
            },
            created=t - days * DAY,
        )
        label = state.create_label(shipment["shipment_id"], created=t - days * DAY + 3600)
        state.advance_tracking(label["label_id"], "DE" if delivered else "IT", notify=False)
