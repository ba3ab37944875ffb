"""Shopify: an authorization may be captured several times; the money taken is every capture.

Vendor: shopify.dev, GraphQL Admin `orderCapture` (REST: POST orders/{id}/transactions.json
with kind=capture): "orderCapture can be used to capture multiple times as long as the
OrderTransaction is multi-capturable. To capture a partial payment, the included amount value
should be less than the total order amount."
(https://shopify.dev/docs/api/admin-graphql/2024-01/mutations/orderCapture; `OrderCaptureInput`
`finalCapture`: "If false, the authorization will remain open for future captures",
https://shopify.dev/docs/api/admin-graphql/2025-10/input-objects/ordercaptureinput.)
The REST Transaction list then shows one `capture` transaction per capture, each with its own
`amount`, all children of the one `authorization`.

`get_order_payment` reports the money taken as every capture together (the captures listed
beside it), so a refund or dispute is weighed against what the customer paid.
"""

from __future__ import annotations

from decimal import Decimal

import httpx

from connectors.shop.client import ShopConnector
from tests.connectors.contracts.recorder import Recorder, reply

BASE = "https://northwind-home.myshopify.com"
V = "/admin/api/2024-10"


def documented_shopify(request: httpx.Request) -> httpx.Response:
    if request.method == "GET" and request.url.path == f"{V}/orders/1008/transactions.json":
        common = {"order_id": 1008, "gateway": "shopify_payments", "currency": "USD", "status": "success"}
        return reply(
            200,
            {
                "transactions": [
                    {
                        **common,
                        "id": 1,
                        "kind": "authorization",
                        "amount": "100.00",
                        "authorization": "ch_3Nmulti",
                    },
                    {
                        **common,
                        "id": 2,
                        "kind": "capture",
                        "amount": "60.00",
                        "parent_id": 1,
                        "authorization": "ch_3Nmulti",
                    },
                    {
                        **common,
                        "id": 3,
                        "kind": "capture",
                        "amount": "40.00",
                        "parent_id": 1,
                        "authorization": "ch_3Nmulti",
                    },
                ]
            },
        )
    return reply(404, {"errors": "Not Found"})


async def test_order_payment_counts_every_capture() -> None:
    shop = ShopConnector(Recorder(documented_shopify).client(BASE))
    try:
        payment = await shop.get_order_payment(1008)
    finally:
        await shop.aclose()
    assert payment["paid"] is True
    assert Decimal(str(payment["amount"])) == Decimal("100.00"), (
        f"two captures of one authorization took 60.00 + 40.00 = 100.00, but the payment is reported "
        f"as {payment['amount']} (only the last capture)"
    )
