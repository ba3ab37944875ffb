"""A partly shipped order's fulfillment order (`in_progress`) still has items to ship.

Vendor: Shopify FulfillmentOrder status values open, in_progress, cancelled, incomplete,
on_hold, scheduled, closed (shopify.dev/docs/api/admin-graphql/2024-04/enums/FulfillmentOrderStatus;
the REST resource's `supported_actions` lists `create_fulfillment` while the order can still be
fulfilled). A fulfillment order partly fulfilled moves from OPEN to IN_PROGRESS and its remaining
line items are fulfilled with the same POST /fulfillments.json.

`fulfill_order` ships what such an order has left, and only a retry of its own action may take
an earlier fulfillment (with its tracking number) for its own. The shop simulator fulfils
in_progress fulfillment orders and lists their supported actions, as Shopify does.
"""

from __future__ import annotations

from typing import Any

import httpx

from connectors.base import first_attempt
from connectors.shop.client import ShopConnector
from tests.connectors.contracts.recorder import Recorder, body, reply

BASE = "https://northwind-home.myshopify.com"
V = "/admin/api/2024-10"


class DocumentedShopify:
    """Order 1005: two blenders, one shipped by hand earlier (fulfillment 501), one left.
    Its fulfillment order is IN_PROGRESS and still supports create_fulfillment."""

    def __init__(self) -> None:
        self.fulfillments: list[dict[str, Any]] = [
            {
                "id": 501,
                "order_id": 1005,
                "status": "success",
                "tracking_number": "1ZSTAFF",
                "line_items": [{"id": 9001, "sku": "NW-BLND-129", "quantity": 1}],
            },
        ]
        self.fo = {
            "id": 7001,
            "order_id": 1005,
            "status": "in_progress",
            "request_status": "unsubmitted",
            "supported_actions": ["create_fulfillment", "hold", "move"],
            "line_items": [
                {"id": 8001, "line_item_id": 9001, "quantity": 2, "fulfillable_quantity": 1},
            ],
        }

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if request.method == "GET" and path == f"{V}/orders/1005/fulfillment_orders.json":
            return reply(200, {"fulfillment_orders": [self.fo]})
        if request.method == "GET" and path == f"{V}/orders/1005/fulfillments.json":
            return reply(200, {"fulfillments": self.fulfillments})
        if request.method == "POST" and path == f"{V}/fulfillments.json":
            sent = body(request)["fulfillment"]
            ids = [x["fulfillment_order_id"] for x in sent["line_items_by_fulfillment_order"]]
            if ids != [7001] or self.fo["status"] not in ("open", "in_progress"):
                return reply(422, {"errors": {"base": ["Fulfillment order is not fulfillable"]}})
            created = {
                "id": 502,
                "order_id": 1005,
                "status": "success",
                "tracking_number": (sent.get("tracking_info") or {}).get("number"),
            }
            self.fulfillments.append(created)
            self.fo["status"] = "closed"
            return reply(201, {"fulfillment": created})
        return reply(404, {"errors": "Not Found"})


async def test_fulfill_order_ships_what_an_in_progress_fulfillment_order_has_left() -> None:
    """A first attempt (nothing was ever written for this action) must fulfil the remaining
    item, not report someone else's earlier partial fulfillment as its own."""
    shopify = DocumentedShopify()
    rec = Recorder(shopify)
    shop = ShopConnector(rec.client(BASE))
    with first_attempt():
        result = await shop.fulfill_order(1005, tracking_number="1ZREST", idempotency_key="act-7")
    posts = rec.calls("POST", f"{V}/fulfillments.json")
    assert len(posts) == 1, (
        f"no fulfillment was created; the connector answered {result!r} for an order whose "
        "fulfillment order is in_progress with one item still fulfillable"
    )
    assert result["deduplicated"] is False
    assert result["fulfillment"]["tracking_number"] == "1ZREST"
    await shop.aclose()


async def test_shop_simulator_fulfils_an_in_progress_fulfillment_order() -> None:
    """Vendor as above: IN_PROGRESS fulfillment orders can be fulfilled. The simulator refuses
    anything but "open" (422 "has an unfulfillable status"), stricter than Shopify."""
    from connectors.shop import seed as seed_data
    from connectors.shop.simulator import ShopState

    state = ShopState()
    seed_data.seed(state)
    fo = next(fo for fo in state.fulfillment_orders.values() if fo["status"] == "open")
    fo["status"] = "in_progress"  # as after a partial fulfilment in the admin
    created = state.fulfill([fo["id"]], {"number": "1ZREST"}, notify_customer=False)
    assert created["status"] == "success"
