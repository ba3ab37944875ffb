"""Shopify: one fulfillment covers fulfillment orders assigned to ONE location only.

Vendor: shopify.dev, GraphQL Admin `fulfillmentCreate` (the same operation as REST
`POST /admin/api/{version}/fulfillments.json`, whose body `line_items_by_fulfillment_order`
is GraphQL's `FulfillmentInput.lineItemsByFulfillmentOrder`):
  "Creates a fulfillment for one or many fulfillment orders. The fulfillment orders are
   associated with the same order and are assigned to the same location."
  (https://shopify.dev/docs/api/admin-graphql/2025-10/mutations/fulfillmentCreate, and the
  `FulfillmentCreatePayload` page of every version since 2022-10.)
A request mixing locations is refused with "All fulfillment orders must be assigned to a
single location" (quoted in microsoft/BCApps PR #7421, "Shopify Fulfillment Order -
Fulfillment line - Order line connection", which had to split its requests per location).

Shopify splits an order into one fulfillment order per location that stocks its items.
`fulfill_order` refuses, in words and before sending anything, to ship such an order in one
request; with `location_id` it ships one location's fulfillment orders with their own tracking
number. The simulator refuses a fulfillment across locations, as Shopify does.
"""

from __future__ import annotations

import contextlib
from typing import Any

import httpx
import pytest

from connectors.base import first_attempt
from connectors.shop.client import ShopConnector
from tests.connectors.contracts.recorder import Recorder, body, reply

BASE = "https://northwind-home.myshopify.com"
V = "/admin/api/2024-10"
COLUMBUS, RENO = 7_651_000_001, 7_651_000_002


class SplitOrderShopify:
    """Order 1007: a kettle stocked in Columbus and a blender in Reno, so two fulfillment
    orders, one per assigned location. POST /fulfillments.json answers as Shopify does."""

    def __init__(self) -> None:
        self.fos: dict[int, dict[str, Any]] = {
            7101: self._fo(7101, COLUMBUS, 9101),
            7102: self._fo(7102, RENO, 9102),
        }
        self.fulfillments: list[dict[str, Any]] = []

    @staticmethod
    def _fo(fo_id: int, location: int, line_item_id: int) -> dict[str, Any]:
        return {
            "id": fo_id,
            "order_id": 1007,
            "status": "open",
            "request_status": "unsubmitted",
            "assigned_location_id": location,
            "supported_actions": ["create_fulfillment", "hold", "move"],
            "line_items": [
                {"id": fo_id + 1000, "line_item_id": line_item_id, "quantity": 1, "fulfillable_quantity": 1}
            ],
        }

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if request.method == "GET" and path == f"{V}/orders/1007/fulfillment_orders.json":
            return reply(200, {"fulfillment_orders": list(self.fos.values())})
        if request.method == "GET" and path == f"{V}/orders/1007/fulfillments.json":
            return reply(200, {"fulfillments": self.fulfillments})
        if request.method == "POST" and path == f"{V}/fulfillments.json":
            sent = body(request)["fulfillment"]
            ids = [g["fulfillment_order_id"] for g in sent["line_items_by_fulfillment_order"]]
            if len({self.fos[i]["assigned_location_id"] for i in ids}) > 1:
                return reply(
                    422,
                    {"errors": {"base": ["All fulfillment orders must be assigned to a single location"]}},
                )
            for i in ids:
                self.fos[i]["status"] = "closed"
                self.fos[i]["supported_actions"] = []
            created = {
                "id": 600 + len(self.fulfillments),
                "order_id": 1007,
                "status": "success",
                "location_id": self.fos[ids[0]]["assigned_location_id"],
                "tracking_number": (sent.get("tracking_info") or {}).get("number"),
            }
            self.fulfillments.append(created)
            return reply(201, {"fulfillment": created})
        return reply(404, {"errors": "Not Found"})


async def test_fulfill_order_never_mixes_locations_in_one_fulfillment() -> None:
    shopify = SplitOrderShopify()
    rec = Recorder(shopify)
    shop = ShopConnector(rec.client(BASE))
    try:
        # A fix may refuse a split order in words; it must never send it as one request.
        with first_attempt(), contextlib.suppress(Exception):
            await shop.fulfill_order(1007, tracking_number="1ZSPLIT", idempotency_key="act-split")
        for post in rec.calls("POST", f"{V}/fulfillments.json"):
            ids = [
                g["fulfillment_order_id"]
                for g in body(post)["fulfillment"]["line_items_by_fulfillment_order"]
            ]
            locations = {shopify.fos[i]["assigned_location_id"] for i in ids}
            assert len(locations) == 1, (
                f"one POST /fulfillments.json named fulfillment orders {ids} assigned to locations "
                f"{sorted(locations)}; Shopify fulfils fulfillment orders of one location per request "
                "and refuses this one (422)"
            )
    finally:
        await shop.aclose()


def test_shop_simulator_refuses_a_fulfillment_across_locations() -> None:
    from connectors.shop import seed as seed_data
    from connectors.shop.simulator import ShopifyError, ShopState

    state = ShopState()
    seed_data.seed(state)
    fo = next(fo for fo in state.fulfillment_orders.values() if fo["status"] == "open")
    # The same order split across two locations, as Shopify does when no one location stocks it all.
    other = {
        **fo,
        "id": state.new_id(),
        "assigned_location_id": fo["assigned_location_id"] + 1,
        "line_items": [],
    }
    state.fulfillment_orders[other["id"]] = other
    with pytest.raises(ShopifyError) as refused:
        state.fulfill([fo["id"], other["id"]], {"number": "1ZSPLIT"}, notify_customer=False)
    assert refused.value.status == 422


async def test_a_split_order_ships_once_per_location() -> None:
    shopify = SplitOrderShopify()
    rec = Recorder(shopify)
    shop = ShopConnector(rec.client(BASE))
    try:
        with first_attempt():
            with pytest.raises(Exception, match="2 locations"):
                await shop.fulfill_order(1007, tracking_number="1ZBOTH", idempotency_key="act-0")
            assert rec.calls("POST", f"{V}/fulfillments.json") == []
            east = await shop.fulfill_order(
                1007, tracking_number="1ZEAST", location_id=COLUMBUS, idempotency_key="act-1"
            )
            west = await shop.fulfill_order(
                1007, tracking_number="1ZWEST", location_id=RENO, idempotency_key="act-2"
            )
    finally:
        await shop.aclose()
    assert (
        east["fulfillment"]["location_id"] == COLUMBUS and east["fulfillment"]["tracking_number"] == "1ZEAST"
    )
    assert west["fulfillment"]["location_id"] == RENO and west["fulfillment"]["tracking_number"] == "1ZWEST"
    assert [fo["status"] for fo in shopify.fos.values()] == ["closed", "closed"]
