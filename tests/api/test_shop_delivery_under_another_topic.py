"""A shop delivery resent under another (unsigned) topic starts no second run.

Shopify signs the body only, not `X-Shopify-Topic`. An event is known by what it says happened,
its topic and its order's id (an order is created once and paid once), so the signed
`orders/paid` body of an order placed unpaid (a different body from its `orders/create`) resent
by anyone as `orders/create` is the order's creation again: the "new order" workflow, which ran
on the real one, does not run a second time. A real redelivery is still one event.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.api.app import create_app
from tests.api.test_workflow_sentences import draft_and_activate, webhook
from tests.support.systems import Systems, systems

NEW_ORDERS = "When a new order comes in, post in #orders"


@pytest.fixture
async def world(db_url: str, tmp_path: Path) -> AsyncIterator[tuple[Systems, httpx.AsyncClient, Any]]:
    with systems(db_url, tmp_path) as sy:
        people = sy.tokens(("olivia", "operator"), ("adam", "approver"), ("root", "admin"))
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(sy.c)), base_url="http://sb"
        ) as api:
            yield sy, api, people
        await sy.c.pool.aclose()


async def test_an_orders_paid_body_resent_as_orders_create_starts_no_second_run(world: Any) -> None:
    sy, api, people = world
    draft = await draft_and_activate(api, people, NEW_ORDERS)
    assert draft["spec"]["trigger"]["event"] == "orders/create"
    charge = sy.charge("raj.patel@example.org", 12900, captured=False)
    order = sy.shop.place_order(
        "raj.patel@example.org",
        [{"sku": "NW-BLND-129", "quantity": 1}],
        payment_reference=charge,
        financial_status="authorized",
    )
    [(topic, created_body, created_headers)] = sy.shop.take_outbox()
    assert topic == "orders/create"
    [first] = await webhook(api, "shop", created_body, created_headers)
    # Later the payment is captured and the shop sends orders/paid (the order as it is now).
    with sy.shop.lock:
        sy.shop.orders[order["id"]]["financial_status"] = "paid"
        paid_order = dict(sy.shop.orders[order["id"]])
    paid_body, paid_headers = sy.shop.queue_webhook("orders/paid", paid_order)
    sy.shop.take_outbox()
    assert await webhook(api, "shop", paid_body, paid_headers) == []  # no workflow on orders/paid
    # Someone who saw that signed delivery resends it, calling it orders/create.
    forged = {**paid_headers, "X-Shopify-Topic": "orders/create"}
    again = await webhook(api, "shop", paid_body, forged)
    assert again == [first]  # the run of the order's creation, not a second one
    assert await webhook(api, "shop", created_body, created_headers) == [first]  # a redelivery
