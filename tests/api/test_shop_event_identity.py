"""A shop event is what it says happened, to which order: a delivery resent otherwise starts nothing new.

Shopify signs the body only, not `X-Shopify-Topic`. An event is known by its topic and its
order's id (an order is created once and paid once), so the signed `orders/paid` body of an order
placed unpaid (a different body from its `orders/create`) resent by anyone as `orders/create` is
the order's creation again: the "new order" workflow, which ran on the real one, does not run a
second time, and a real redelivery is still one event. Shop events were known by the hash of
their signed body before, and a workflow's run for one is keyed `FAMILY:sha256:...`: a
redelivery of such a delivery (a late Shopify retry, or anyone holding the signed body) finds
the run it started.
"""

from __future__ import annotations

import json
from typing import Any

from app.services import workflows
from connectors.webhooks import body_id
from tests.api.test_workflow_sentences import draft_and_activate, webhook

NEW_ORDERS = "When a new order comes in, post in #orders"


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


async def test_a_delivery_run_before_the_upgrade_redelivered_after_it_starts_no_second_run(
    world: Any,
) -> None:
    sy, api, people = world
    draft = await draft_and_activate(api, people, NEW_ORDERS)
    assert draft["spec"]["trigger"]["event"] == "orders/create"
    sy.shop.place_order("raj.patel@example.org", [{"sku": "NW-BLND-129", "quantity": 1}])
    [(body, headers)] = [(b, h) for topic, b, h in sy.shop.take_outbox() if topic == "orders/create"]
    # As the receiver before the upgrade started it: keyed by the body's hash.
    [before] = workflows.dispatch(sy.c.db, "shop", "orders/create", json.loads(body), body_id(body))
    # Shopify's retry of that same delivery (same body, same headers) arrives after the upgrade.
    again = await webhook(api, "shop", body, headers)
    assert again == [before], "the order's creation ran twice: the pre-upgrade run was not found"
