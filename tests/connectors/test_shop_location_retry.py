"""A retried fulfill_order for one location, whose first attempt landed with its answer lost,
finds its own fulfillment in the shop simulator and ships nothing twice.

On a retry without a tracking number, `fulfill_order` takes an earlier fulfillment as its own
when its `location_id` is the one asked for. Shopify's REST Fulfillment carries `location_id`
(shopify.dev, REST Admin `Fulfillment`), and so do the simulator's fulfillments (the fulfillment
orders' `assigned_location_id`): the retry answers `deduplicated: True` with the first attempt's.
"""

from __future__ import annotations

import httpx

from connectors.base import first_attempt
from connectors.shop.client import ShopConnector
from connectors.shop.simulator import create_app

TOKEN = "shpat_0123456789abcdef0123456789abcdef"


async def test_a_retried_fulfilment_at_one_location_finds_its_own_in_the_simulator() -> None:
    app = create_app(access_token=TOKEN)
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://shop.test",
        headers={"X-Shopify-Access-Token": TOKEN},
    )
    shop = ShopConnector(client)
    try:
        order = (await shop.list_orders(financial_status="paid", fulfillment_status="unfulfilled"))[0]
        [fo] = [f for f in await shop.list_fulfillment_orders(order["id"]) if f["status"] == "open"]
        location = fo["assigned_location_id"]
        args = {"order_id": order["id"], "location_id": location, "idempotency_key": "act_loc"}
        with first_attempt():
            first = await shop.fulfill_order(**args)  # shipped; say its answer was lost
        assert first["deduplicated"] is False
        again = await shop.fulfill_order(**args)  # the run resumes the action with the same key
    finally:
        await shop.aclose()
    assert again["deduplicated"] is True and again["fulfillment"]["id"] == first["fulfillment"]["id"], again
