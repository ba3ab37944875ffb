"""An order's transactions include refunds (and voids): the payment is the money taken.

Vendor: shopify.dev/docs/api/admin-rest/latest/resources/transaction ("There are five types
of transactions: authorization, sale, capture, void, refund ... A refund can happen only after
a capture is processed"); GET /admin/api/{v}/orders/{id}/transactions.json lists them oldest
first, each with `kind`, `status`, `gateway`, `amount` and `authorization` (the processor's
reference).

`get_order_payment` reads the sale or capture as the payment (a paid order partly refunded is
still paid, with the charge as its reference, and says what was refunded), so the payment
check of a workflow asks the payments system about the charge, never about a refund's id.
"""

from __future__ import annotations

import httpx

from connectors.shop.client import ShopConnector
from tests.connectors.contracts.recorder import Recorder, reply

BASE = "https://northwind-home.myshopify.com"
V = "/admin/api/2024-10"


def shopify(request: httpx.Request) -> httpx.Response:
    if request.method == "GET" and request.url.path == f"{V}/orders/1003/transactions.json":
        return reply(
            200,
            {
                "transactions": [
                    {
                        "id": 1,
                        "order_id": 1003,
                        "kind": "sale",
                        "status": "success",
                        "gateway": "stripe",
                        "amount": "129.00",
                        "currency": "USD",
                        "authorization": "ch_3PaidCharge",
                        "parent_id": None,
                    },
                    {
                        "id": 2,
                        "order_id": 1003,
                        "kind": "refund",
                        "status": "success",
                        "gateway": "stripe",
                        "amount": "20.00",
                        "currency": "USD",
                        "authorization": "re_3PartRefund",
                        "parent_id": 1,
                    },
                ]
            },
        )
    return reply(404, {"errors": "Not Found"})


async def test_order_paid_then_partly_refunded_is_reported_paid_with_its_charge() -> None:
    rec = Recorder(shopify)
    shop = ShopConnector(rec.client(BASE))
    payment = await shop.get_order_payment(1003)
    assert payment["paid"] is True, f"a captured sale followed by a partial refund read as {payment!r}"
    assert payment["kind"] == "sale"
    assert payment["payment_reference"] == "ch_3PaidCharge"
    await shop.aclose()
