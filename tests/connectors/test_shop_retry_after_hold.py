"""A retried fulfill_order whose first attempt landed does not ship what was released from hold
meanwhile.

Vendor (shopify.dev, FulfillmentOrder): status on_hold while a fulfillment hold is on (its
supported_actions then hold `release_hold`, not `create_fulfillment`); released, it is open and
takes POST /fulfillments.json. REST fulfillments take no idempotency key. So a retry looks for
its own earlier fulfillment, by tracking number, before anything else: order 1005's 7001 shipped
on the first attempt (answer lost), 7002's hold was released since, and the retry ships nothing.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from connectors.base import ConnectorError, first_attempt
from connectors.shop.client import ShopConnector
from tests.connectors.contracts.recorder import Recorder, body, reply

BASE = "https://northwind-home.myshopify.com"
V = "/admin/api/2024-10"


class Shopify:
    def __init__(self) -> None:
        self.fulfillments: list[dict[str, Any]] = []
        self.fos = {
            7001: {
                "id": 7001,
                "order_id": 1005,
                "status": "open",
                "assigned_location_id": 1,
                "supported_actions": ["create_fulfillment", "hold", "move"],
            },
            7002: {
                "id": 7002,
                "order_id": 1005,
                "status": "on_hold",
                "assigned_location_id": 1,
                "supported_actions": ["release_hold"],
            },
        }
        self.lose_next = False

    def release(self, fo_id: int) -> None:
        self.fos[fo_id].update(status="open", supported_actions=["create_fulfillment", "hold", "move"])

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if request.method == "GET" and path == f"{V}/orders/1005/fulfillment_orders.json":
            return reply(200, {"fulfillment_orders": list(self.fos.values())})
        if request.method == "GET" and path == f"{V}/orders/1005/fulfillments.json":
            return reply(200, {"fulfillments": self.fulfillments})
        if request.method == "POST" and path == f"{V}/fulfillments.json":
            sent = body(request)["fulfillment"]
            ids = [x["fulfillment_order_id"] for x in sent["line_items_by_fulfillment_order"]]
            if any(self.fos[i]["status"] not in ("open", "in_progress") for i in ids):
                return reply(422, {"errors": {"base": ["Fulfillment order is not fulfillable"]}})
            created = {
                "id": 500 + len(self.fulfillments),
                "order_id": 1005,
                "status": "success",
                "tracking_number": (sent.get("tracking_info") or {}).get("number"),
            }
            self.fulfillments.append(created)
            for i in ids:
                self.fos[i].update(status="closed", supported_actions=[])
            if self.lose_next:
                self.lose_next = False
                return reply(503, {"errors": "Service Unavailable"})
            return reply(201, {"fulfillment": created})
        return reply(404, {"errors": "Not Found"})


async def test_a_retried_fulfilment_does_not_ship_a_fulfillment_order_released_meanwhile() -> None:
    shopify = Shopify()
    rec = Recorder(shopify)
    shop = ShopConnector(rec.client(BASE))
    args = {"order_id": 1005, "tracking_number": "1ZREST", "idempotency_key": "act-7"}
    shopify.lose_next = True
    with first_attempt(), pytest.raises(ConnectorError):
        await shop.fulfill_order(**args)  # shipped 7001; the answer was lost
    shopify.release(7002)  # the fraud hold on the rest is lifted meanwhile
    try:
        again = await shop.fulfill_order(**args)  # the run resumes the action, same key
    finally:
        await shop.aclose()
    posts = rec.calls("POST", f"{V}/fulfillments.json")
    assert len(posts) == 1 and again["deduplicated"] is True, (
        f"one approved action made {len(shopify.fulfillments)} fulfillments: {shopify.fulfillments}"
    )
